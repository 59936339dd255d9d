// Standard normal draws at the machine's vector width, for DP-SGD's noise.
//
// Eight xoshiro256** streams run side by side (the lanes; their state is structure-of-arrays, so
// one step of all eight is a handful of vector shifts and xors). Entry i of a call takes its
// 64-bit word from lane i mod 8, and a 256-layer ziggurat (Marsaglia and Tsang 2000) turns it
// into a draw:
//
//   bits 0–7: the layer l;  bit 8: the sign;  bits 12–63: m ∈ [0, 1), 52 bits (exact, by
//   placing them in the mantissa of a double in [1, 2) and subtracting 1).
//   m < ratio[l]  →  ±m·x_l                (98.7 % of draws: a compare and a multiply)
//   otherwise     →  the wedge test (one exp) or the exact tail beyond r, in scalar code that
//                    draws the extra words it needs from the same lane.
//
// The layers have equal areas v under f(x) = e^{−x²/2}: x₀ = v/f(r), x₁ = r,
// x_{i+1} = f⁻¹(v/x_i + f(x_i)), x₂₅₆ = 0, built once in double on first use. (Single draws,
// `GaussianNoise.nextStandardNormal()`, use the 128-layer Swift ziggurat; both are tested
// against Φ.)
//
// Nothing is truncated, so the distribution is N(0, 1) up to rounding. The fast path is exact
// integer work and one correctly rounded multiply, and the slow path is compiled once (baseline,
// libm's exp and log), so the draws are the same on every instruction set (see below). Floating-point
// contraction is off in this file: `(x + σ·z)·s` is rounded after each operation on every ISA.
//
// A block of 256 entries takes four passes: the lanes' words; the fast path eight entries at a
// time, keeping an 8-bit mask of the entries outside their rectangles for each group; those
// entries fixed in index order (the same words in the same order as fixing each group at once,
// without a call and its register spills inside the vector loop); the fused update. The fast
// path reads each layer's ratio and edge as one 16-byte pair (`zig_fast`). The tables and the slow path use libm's exp and log, so the draws are the same for every
// instruction set on one machine, and on any two machines whose libm rounds them alike.
#include "minibatch_kernels.h"
#include "dispatch.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

enum { LANES = 8, BLOCK = 256, LAYERS = 256 };

/// r and v of the 256-layer ziggurat (Marsaglia and Tsang 2000).
static const double zig_r = 3.6541528853610088;
static const double zig_v = 4.92867323399e-3;

/// x_i (LAYERS + 1 entries) and f(x_i); the fast path's pair {x_{i+1}/x_i, x_i} for each layer,
/// side by side so that one load fetches both.
static double zig_x[LAYERS + 1], zig_f[LAYERS + 1];
static double zig_fast[LAYERS][2];
static pthread_once_t zig_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
  zig_x[0] = zig_v / exp(-0.5 * zig_r * zig_r);
  zig_x[1] = zig_r;
  for (int i = 1; i < LAYERS - 1; i++) {
    zig_x[i + 1] = sqrt(-2 * log(zig_v / zig_x[i] + exp(-0.5 * zig_x[i] * zig_x[i])));
  }
  zig_x[LAYERS] = 0;
  for (int i = 0; i < LAYERS; i++) {
    zig_fast[i][0] = zig_x[i + 1] / zig_x[i];
    zig_fast[i][1] = zig_x[i];
  }
  for (int i = 0; i <= LAYERS; i++) zig_f[i] = exp(-0.5 * zig_x[i] * zig_x[i]);
}

typedef struct {
  uint64_t s0[LANES], s1[LANES], s2[LANES], s3[LANES];
} lanes_t;

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/// One step of xoshiro256** on a scalar state.
static inline uint64_t xoshiro_next(uint64_t s[4]) {
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

/// One step of lane `l` (the slow path's extra words).
static inline uint64_t lane_next(lanes_t *st, int l) {
  uint64_t s[4] = {st->s0[l], st->s1[l], st->s2[l], st->s3[l]};
  uint64_t result = xoshiro_next(s);
  st->s0[l] = s[0];
  st->s1[l] = s[1];
  st->s2[l] = s[2];
  st->s3[l] = s[3];
  return result;
}

/// The eight lanes' states, drawn from `state` (32 words, lane by lane; an all-zero lane, a
/// 2⁻²⁵⁶ event, is set to 1 as xoshiro requires).
static void seed_lanes(lanes_t *st, uint64_t state[4]) {
  for (int l = 0; l < LANES; l++) {
    st->s0[l] = xoshiro_next(state);
    st->s1[l] = xoshiro_next(state);
    st->s2[l] = xoshiro_next(state);
    st->s3[l] = xoshiro_next(state);
    if ((st->s0[l] | st->s1[l] | st->s2[l] | st->s3[l]) == 0) st->s0[l] = 1;
  }
}

static inline double from_bits(uint64_t b) {
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}

static inline uint64_t to_bits(double d) {
  uint64_t b;
  memcpy(&b, &d, sizeof b);
  return b;
}

/// m ∈ [0, 1) from bits 12–63 (exact).
static inline double magnitude(uint64_t bits) {
  return from_bits(0x3FF0000000000000ull | (bits >> 12)) - 1.0;
}

static inline double with_sign(double v, uint64_t bits) {
  return from_bits(to_bits(v) | ((bits & 0x100) << 55));
}

/// Uniform in [0, 1) (53 bits) and in (0, 1] (safe for log), from lane `l`.
static double lane_uniform(lanes_t *st, int l) { return (double)(lane_next(st, l) >> 11) * 0x1p-53; }
static double lane_open_uniform(lanes_t *st, int l) {
  return ((double)(lane_next(st, l) >> 11) + 1) * 0x1p-53;
}

/// The ~1.3 % of words whose point falls outside its layer's rectangle: the wedge test (accept
/// when f(x_l) + u·(f(x_{l+1}) − f(x_l)) < f(x)), the tail beyond r (Marsaglia 1964:
/// x = −ln(u₁)/r, y = −ln(u₂) until 2y ≥ x²), or a fresh word.
__attribute__((noinline)) static double outside_rectangle(lanes_t *st, int l, uint64_t bits) {
  const double r = zig_r;
  for (;;) {
    int layer = (int)(bits & 0xFF);
    double m = magnitude(bits);
    if (m < zig_fast[layer][0]) return with_sign(m * zig_x[layer], bits);
    if (layer == 0) {
      for (;;) {
        double x = -log(lane_open_uniform(st, l)) / r;
        double y = -log(lane_open_uniform(st, l));
        if (2 * y >= x * x) return with_sign(r + x, bits);
      }
    }
    double x = m * zig_x[layer];
    double below = zig_f[layer] + lane_uniform(st, l) * (zig_f[layer + 1] - zig_f[layer]);
    if (below < exp(-0.5 * x * x)) return with_sign(x, bits);
    bits = lane_next(st, l);
  }
}

typedef uint64_t u64x8 __attribute__((vector_size(64)));

/// BLOCK/LANES steps of all eight lanes at once (generic vectors: one AVX-512 register, two AVX2
/// or four SSE2 ones per variable), word b·8 + l from lane l.
MINIBATCH_INLINE void lane_words(lanes_t *st, uint64_t *bits) {
  u64x8 s0, s1, s2, s3;
  memcpy(&s0, st->s0, sizeof s0);
  memcpy(&s1, st->s1, sizeof s1);
  memcpy(&s2, st->s2, sizeof s2);
  memcpy(&s3, st->s3, sizeof s3);
  for (int b = 0; b < BLOCK; b += LANES) {
    u64x8 x = s1 * 5;
    x = ((x << 7) | (x >> 57)) * 9;
    memcpy(bits + b, &x, sizeof x);
    u64x8 t = s1 << 17;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 45) | (s3 >> 19);
  }
  memcpy(st->s0, &s0, sizeof s0);
  memcpy(st->s1, &s1, sizeof s1);
  memcpy(st->s2, &s2, sizeof s2);
  memcpy(st->s3, &s3, sizeof s3);
}

typedef double f64x8 __attribute__((vector_size(64)));
typedef int64_t i64x8 __attribute__((vector_size(64)));

/// BLOCK standard normal draws into z: eight words at a time through the fast path, then the
/// entries whose words fell outside their rectangles, in index order.
MINIBATCH_INLINE void normal_block(lanes_t *st, double *z) {
  // Cache-line aligned: unaligned, this VM's Zen 4 ran the block at either 580 or 720 M draws/s,
  // by where the stack fell.
  uint64_t bits[BLOCK] __attribute__((aligned(64)));
  unsigned char outside_mask[BLOCK / LANES];
  const i64x8 lane_bit = {1, 2, 4, 8, 16, 32, 64, 128};
  lane_words(st, bits);
  for (int b = 0; b < BLOCK; b += LANES) {
    u64x8 w;
    memcpy(&w, bits + b, sizeof w);
    u64x8 layer = w & 0xFF;
    u64x8 mantissa = (w >> 12) | 0x3FF0000000000000ull;
    f64x8 m;
    memcpy(&m, &mantissa, sizeof m);
    m -= 1.0;
    f64x8 ratio, edge;
    for (int l = 0; l < LANES; l++) {
      ratio[l] = zig_fast[layer[l]][0];
      edge[l] = zig_fast[layer[l]][1];
    }
    i64x8 inside = m < ratio;
    f64x8 v = m * edge;
    u64x8 value;
    memcpy(&value, &v, sizeof value);
    value |= (w & 0x100) << 55;
    memcpy(z + b, &value, sizeof value);
    outside_mask[b / LANES] = (unsigned char)__builtin_reduce_or(~inside & lane_bit);
  }
  for (int group = 0; group < BLOCK / LANES; group++) {
    unsigned outside = outside_mask[group];
    while (__builtin_expect(outside != 0, 0)) {
      int l = __builtin_ctz(outside);
      outside &= outside - 1;
      z[group * LANES + l] = outside_rectangle(st, l, bits[group * LANES + l]);
    }
  }
}

// x[i] ← (x[i] + σ·z_i)·scale, rounded to x's type; returns how many results are not finite.
#define NOISE_ADD_BODY(type)                                                                  \
  pthread_once(&zig_once, build_tables);                                                    \
  lanes_t st;                                                                               \
  seed_lanes(&st, state);                                                                   \
  double z[BLOCK] __attribute__((aligned(64)));                                                                          \
  size_t bad = 0;                                                                           \
  for (size_t j = 0; j < n; j += BLOCK) {                                                   \
    normal_block(&st, z);                                                 \
    size_t count = n - j < BLOCK ? n - j : BLOCK;                                           \
    type *out = x + j;                                                                      \
    for (size_t i = 0; i < count; i++) {                                                    \
      double noisy = (double)out[i] + sigma * z[i];                                         \
      type v = (type)(noisy * scale);                                                       \
      out[i] = v;                                                                           \
      bad += !(v - v == 0);                                                                 \
    }                                                                                       \
  }                                                                                         \
  return bad;

MINIBATCH_INLINE size_t noise_add_f32_body(uint64_t *state, float *x, size_t n, double sigma,
                                           double scale) {
  NOISE_ADD_BODY(float)
}

MINIBATCH_INLINE size_t noise_add_f64_body(uint64_t *state, double *x, size_t n, double sigma,
                                           double scale) {
  NOISE_ADD_BODY(double)
}

MINIBATCH_INLINE size_t normal_draws_body(uint64_t *state, double *x, size_t n, double sigma,
                                          double scale) {
  pthread_once(&zig_once, build_tables);
  lanes_t st;
  seed_lanes(&st, state);
  double z[BLOCK] __attribute__((aligned(64)));
  for (size_t j = 0; j < n; j += BLOCK) {
    normal_block(&st, z);
    size_t count = n - j < BLOCK ? n - j : BLOCK;
    for (size_t i = 0; i < count; i++) x[j + i] = (sigma * z[i]) * scale;
  }
  return 0;
}

#define NOISE_PARAMS(type) (uint64_t * state, type *x, size_t n, double sigma, double scale)
#define NOISE_ARGS (state, x, n, sigma, scale)

MINIBATCH_DISPATCH_RETURNING(size_t, noise_add_f32, NOISE_PARAMS(float), NOISE_ARGS)
MINIBATCH_DISPATCH_RETURNING(size_t, noise_add_f64, NOISE_PARAMS(double), NOISE_ARGS)
MINIBATCH_DISPATCH_RETURNING(size_t, normal_draws, NOISE_PARAMS(double), NOISE_ARGS)

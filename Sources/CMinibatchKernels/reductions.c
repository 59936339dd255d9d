// Reductions in Double whatever the input type: the sum of squares behind every per-example norm
// (clipping, the noise scale, per-block norms, the factored norms) and Chan's merge of moments.
//
// Sum of squares. A sequential `t += x_j²` is one long dependency chain: one add per element
// every four cycles or so, whatever the vector width. Here 32 partial sums run side by side (four
// vectors of eight doubles: four AVX-512 registers, eight AVX2 ones, sixteen SSE2 ones), entry j
// going to partial j mod 32 in index order, the leftover entries to the first partials; the 32
// are then added in one fixed pairwise tree. Each partial is a plain sequential sum, so the
// compiler vectorises it exactly (nothing is reassociated) and, with contraction off, every
// instruction set rounds alike: the same bits on every ISA and thread count. The error bound is
// the ordinary one for recursive summation of n/32 terms plus a tree of depth 5, below that of
// the sequential sum.
#include "minibatch_kernels.h"
#include "dispatch.h"

#pragma STDC FP_CONTRACT OFF

typedef double f64x8 __attribute__((vector_size(64), aligned(8)));
typedef float f32x8 __attribute__((vector_size(32), aligned(4)));

/// The 32 partials (lanes 0–31, the leftover squares added to the first ones) in one fixed
/// pairwise tree.
MINIBATCH_INLINE double add_partials(double *lanes, const double *tail, size_t tail_count) {
  for (size_t l = 0; l < tail_count; l++) lanes[l] = lanes[l] + tail[l];
  for (size_t width = 16; width >= 1; width /= 2) {
    for (size_t l = 0; l < width; l++) lanes[l] = lanes[l] + lanes[l + width];
  }
  return lanes[0];
}

#define SUM_SQUARES_BODY(load)                                         \
  f64x8 p0 = {0}, p1 = {0}, p2 = {0}, p3 = {0};                        \
  f64x8 s = {scale, scale, scale, scale, scale, scale, scale, scale};  \
  size_t j = 0;                                                        \
  for (; j + 32 <= n; j += 32) {                                       \
    f64x8 v0 = load(x + j) * s, v1 = load(x + j + 8) * s;              \
    f64x8 v2 = load(x + j + 16) * s, v3 = load(x + j + 24) * s;        \
    p0 = p0 + v0 * v0;                                                 \
    p1 = p1 + v1 * v1;                                                 \
    p2 = p2 + v2 * v2;                                                 \
    p3 = p3 + v3 * v3;                                                 \
  }                                                                    \
  double tail[32];                                                     \
  size_t rest = n - j;                                                 \
  for (size_t l = 0; l < rest; l++) {                                  \
    double v = (double)x[j + l] * scale;                               \
    tail[l] = v * v;                                                   \
  }                                                                    \
  double lanes[32];                                                    \
  __builtin_memcpy(lanes, &p0, sizeof p0);                             \
  __builtin_memcpy(lanes + 8, &p1, sizeof p1);                         \
  __builtin_memcpy(lanes + 16, &p2, sizeof p2);                        \
  __builtin_memcpy(lanes + 24, &p3, sizeof p3);                        \
  return add_partials(lanes, tail, rest);

// Eight entries as doubles (macros, not functions: a function returning a 64-byte vector warns
// about the ABI in the baseline and AVX2 bodies).
#define LOAD_F32(p)                                         \
  ({                                                        \
    f32x8 v_;                                               \
    __builtin_memcpy(&v_, (p), sizeof v_);                  \
    __builtin_convertvector(v_, f64x8);                     \
  })
#define LOAD_F64(p)                                         \
  ({                                                        \
    f64x8 v_;                                               \
    __builtin_memcpy(&v_, (p), sizeof v_);                  \
    v_;                                                     \
  })

MINIBATCH_INLINE double sum_squares_f32_body(const float *x, size_t n, double scale) {
  SUM_SQUARES_BODY(LOAD_F32)
}
MINIBATCH_INLINE double sum_squares_f64_body(const double *x, size_t n, double scale) {
  SUM_SQUARES_BODY(LOAD_F64)
}

MINIBATCH_DISPATCH_RETURNING(double, sum_squares_f32, (const float *x, size_t n, double scale),
                             (x, n, scale))
MINIBATCH_DISPATCH_RETURNING(double, sum_squares_f64, (const double *x, size_t n, double scale),
                             (x, n, scale))

MINIBATCH_INLINE void row_sums_squares_f32_body(const float *a, size_t rows, size_t columns,
                                                size_t lda, double *out) {
  for (size_t i = 0; i < rows; i++) out[i] = sum_squares_f32_body(a + i * lda, columns, 1.0);
}
MINIBATCH_INLINE void row_sums_squares_f64_body(const double *a, size_t rows, size_t columns,
                                                size_t lda, double *out) {
  for (size_t i = 0; i < rows; i++) out[i] = sum_squares_f64_body(a + i * lda, columns, 1.0);
}

#define ROW_SUMS_PARAMS(type) (const type *a, size_t rows, size_t columns, size_t lda, double *out)
#define ROW_SUMS_ARGS (a, rows, columns, lda, out)
MINIBATCH_DISPATCH_SIGNATURE(row_sums_squares_f32, ROW_SUMS_PARAMS(float), ROW_SUMS_ARGS)
MINIBATCH_DISPATCH_SIGNATURE(row_sums_squares_f64, ROW_SUMS_PARAMS(double), ROW_SUMS_ARGS)

// Chan, Golub and LeVeque's merge of moments (b into a), in the order the Swift loop it
// replaces rounded: δ = μ_b − μ_a; μ_a += δ·w_b; M2_a += M2_b + (δ·δ)·w_ab, with w_b = V_b/V and
// w_ab = V_a·V_b/V computed by the caller. Elementwise: the same bits on every ISA.
MINIBATCH_INLINE void chan_merge_body(double *restrict mean, double *restrict m2,
                                      const double *restrict other_mean,
                                      const double *restrict other_m2, size_t n, double w_b,
                                      double w_ab) {
  for (size_t j = 0; j < n; j++) {
    double delta = other_mean[j] - mean[j];
    mean[j] = mean[j] + delta * w_b;
    m2[j] = m2[j] + (other_m2[j] + delta * delta * w_ab);
  }
}

MINIBATCH_DISPATCH_SIGNATURE(chan_merge,
                             (double *mean, double *m2, const double *other_mean,
                              const double *other_m2, size_t n, double w_b, double w_ab),
                             (mean, m2, other_mean, other_m2, n, w_b, w_ab))

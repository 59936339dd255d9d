// Elementwise kernels written as plain loops the compiler vectorises, cloned per instruction set.
//
// tanh: for a = |x| clamped to where tanh rounds to 1, m = expm1(−2a) and tanh(a) = −m/(2 + m)
// (no cancellation: m ∈ (−1, 0]); the sign is copied back. expm1(y), y ≤ 0, reduces
// y = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite, n rounded with the 1.5·2^p trick so no SSE4.1 round
// is needed), expm1(r) by its Taylor polynomial (degree 7 in float, 13 in double: truncation below
// half an ulp), then expm1(y) = 2^n·expm1(r) + (2^n − 1). NaN propagates; ±∞ gives ±1.
//
// Dispatch: each body is compiled per instruction set and chosen on first use (dispatch.h).
#include "minibatch_kernels.h"
#include "dispatch.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

MINIBATCH_INLINE void tanh_f32_body(const float *x, float *y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    float a = fabsf(v);
    a = a > 9.0f ? 9.0f : a;  // tanh(9) rounds to 1 in float; NaN stays NaN
    float e = -2.0f * a;
    float fn = e * 1.44269504088896341f + 12582912.0f;  // round(e/ln2) + 1.5·2^23
    fn -= 12582912.0f;
    fn = fn >= -30.0f ? fn : 0.0f;  // NaN: a defined conversion below (the result stays NaN)
    float r = e - fn * 0.693145751953125f;  // ln2, high part (exact product)
    r -= fn * 1.428606765330187e-06f;       // ln2, low part
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r;  // expm1(r)
    int32_t bits = ((int32_t)fn + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);  // 2^n
    float m = scale * p + (scale - 1.0f);
    float t = -m / (2.0f + m);
    y[i] = copysignf(t, v);
  }
}

MINIBATCH_INLINE void tanh_f64_body(const double *x, double *y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double v = x[i];
    double a = fabs(v);
    a = a > 19.5 ? 19.5 : a;  // tanh(19.5) rounds to 1 in double
    double e = -2.0 * a;
    double fn = e * 1.4426950408889634074 + 6755399441055744.0;  // + 1.5·2^52
    fn -= 6755399441055744.0;
    fn = fn >= -60.0 ? fn : 0.0;
    double r = e - fn * 6.93147180369123816490e-01;  // ln2, high part
    r -= fn * 1.90821492927058770002e-10;            // ln2, low part
    double p = 1.0 / 6227020800.0;                   // 1/13!
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r;
    int64_t bits = ((int64_t)fn + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    double m = scale * p + (scale - 1.0);
    double t = -m / (2.0 + m);
    y[i] = copysign(t, v);
  }
}

// MARK: - Instruction sets

_Thread_local int minibatch_thread_isa = -1;

static enum isa supported_isa(void) {
#ifdef MINIBATCH_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v4")) return ISA_V4;
  if (__builtin_cpu_supports("x86-64-v3")) return ISA_V3;
#endif
  return ISA_BASELINE;
}

/// `MINIBATCH_KERNELS_ISA`: `baseline`, `x86-64-v3` or `x86-64-v4`; −1 when unset or unknown.
static int requested_isa(void) {
  const char *value = getenv("MINIBATCH_KERNELS_ISA");
  if (value == NULL) return -1;
  if (strcmp(value, "baseline") == 0 || strcmp(value, "x86-64") == 0) return ISA_BASELINE;
  if (strcmp(value, "x86-64-v3") == 0 || strcmp(value, "avx2") == 0) return ISA_V3;
  if (strcmp(value, "x86-64-v4") == 0 || strcmp(value, "avx512") == 0) return ISA_V4;
  return -1;
}

enum isa minibatch_detected_isa(void) {
  static _Atomic int chosen = -1;
  int isa = atomic_load_explicit(&chosen, memory_order_relaxed);
  if (isa < 0) {
    isa = supported_isa();
    int requested = requested_isa();
    if (requested >= 0 && requested < isa) isa = requested;
    atomic_store_explicit(&chosen, isa, memory_order_relaxed);
  }
  return (enum isa)isa;
}

static const char *isa_name(int isa) {
#ifdef MINIBATCH_X86
  switch (isa) {
    case ISA_V4: return "x86-64-v4 (AVX-512)";
    case ISA_V3: return "x86-64-v3 (AVX2, FMA)";
    default: return "x86-64 (SSE2)";
  }
#else
  (void)isa;
  return "portable";
#endif
}

const char *minibatch_kernels_isa(void) { return isa_name(minibatch_detected_isa()); }

int minibatch_kernels_isa_level(void) { return (int)minibatch_detected_isa(); }

int minibatch_kernels_thread_isa(void) { return minibatch_thread_isa; }

void minibatch_kernels_set_thread_isa(int level) {
  int supported = (int)minibatch_detected_isa();
  minibatch_thread_isa = level < 0 ? -1 : level > supported ? supported : level;
}

MINIBATCH_DISPATCH(tanh_f32, float)
MINIBATCH_DISPATCH(tanh_f64, double)

// MARK: - Moments from one reduction

// The per-parameter sweep of `moments()`: from mean_j = Σ v_i g_ij and squares_j = Σ v_i g_ij²
// (v = w/V), mu_j = mean_j and M2_j = V·(squares_j − mean_j²) where that difference is safe
// (M2_j > threshold·V·squares_j and squares_j above the smallest normal), else M2_j = 0 and, when
// the column is not zero, j is listed for the exact recomputation. In Double; contraction off so
// that every instruction set rounds alike.
#pragma STDC FP_CONTRACT OFF
#define MOMENTS_BODY                                                              \
  size_t unsafe = 0;                                                              \
  for (size_t j = 0; j < n; j++) {                                                \
    double average = (double)mean[j], raw = (double)squares[j];                   \
    double centred = total * (raw - average * average);                           \
    int safe = centred > threshold * total * raw && raw > smallest;               \
    mu[j] = average;                                                              \
    m2[j] = safe ? centred : 0.0;                                                 \
    unsafe += !safe & (raw > 0 || average != 0);                                  \
  }                                                                               \
  if (unsafe == 0) return 0;                                                      \
  size_t listed = 0;                                                              \
  for (size_t j = 0; j < n; j++) {                                                \
    double average = (double)mean[j], raw = (double)squares[j];                   \
    double centred = total * (raw - average * average);                           \
    int safe = centred > threshold * total * raw && raw > smallest;               \
    if (!safe && (raw > 0 || average != 0)) inexact[listed++] = (int64_t)j;       \
  }                                                                               \
  return listed;

MINIBATCH_INLINE size_t moments_f32_body(const float *mean, const float *squares, size_t n,
                                         double total, double threshold, double smallest,
                                         double *mu, double *m2, int64_t *inexact) {
  MOMENTS_BODY
}
MINIBATCH_INLINE size_t moments_f64_body(const double *mean, const double *squares, size_t n,
                                         double total, double threshold, double smallest,
                                         double *mu, double *m2, int64_t *inexact) {
  MOMENTS_BODY
}

#define MOMENTS_PARAMS(type)                                                                   \
  (const type *mean, const type *squares, size_t n, double total, double threshold,           \
   double smallest, double *mu, double *m2, int64_t *inexact)
#define MOMENTS_ARGS (mean, squares, n, total, threshold, smallest, mu, m2, inexact)
MINIBATCH_DISPATCH_RETURNING(size_t, moments_f32, MOMENTS_PARAMS(float), MOMENTS_ARGS)
MINIBATCH_DISPATCH_RETURNING(size_t, moments_f64, MOMENTS_PARAMS(double), MOMENTS_ARGS)

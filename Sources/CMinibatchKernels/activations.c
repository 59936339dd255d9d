// Elementwise activations: the forward passes of relu, leaky relu and sigmoid, and the backward
// passes below[i] = g[i]·f′ for the layer's input x[i] and output f[i]. Contraction off: the same
// bits on every instruction set (the backward passes and relu's also as the Swift loops these
// replace).
//
// Sigmoid is 1/(1 + e) for x ≥ 0 and e/(1 + e) below, e = exp(−|x|) ∈ (0, 1] (no overflow). That
// exp of a non-positive y reduces y = n·ln2 + r, |r| ≤ ln2/2 (Cody–Waite, n rounded by the
// 1.5·2^p trick), exp(r) by its Taylor polynomial (degree 7 in float, 13 in double: truncation
// below half an ulp), then multiplies by 2^(n+p)·2^(−p) so that results in the subnormal range
// are still formed (p = 24 in float, 54 in double); y below −104 (float) or −746 (double) gives
// 0, NaN stays NaN.
#include "minibatch_kernels.h"
#include "dispatch.h"

#pragma STDC FP_CONTRACT OFF

#include <stdint.h>
#include <string.h>

/// exp(y) for y ≤ 0 in float (see the top of the file).
MINIBATCH_INLINE float exp_nonpositive_f32(float y) {
  y = y < -104.0f ? -104.0f : y;  // NaN stays NaN
  float fn = y * 1.44269504088896341f + 12582912.0f;
  fn -= 12582912.0f;
  fn = fn >= -151.0f ? fn : 0.0f;  // NaN: a defined conversion below (the result stays NaN)
  float r = y - fn * 0.693145751953125f;
  r -= fn * 1.428606765330187e-06f;
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = ((int32_t)fn + 24 + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);  // 2^(n+24)
  return (p * scale) * 0x1p-24f;
}

/// exp(y) for y ≤ 0 in double.
MINIBATCH_INLINE double exp_nonpositive_f64(double y) {
  y = y < -746.0 ? -746.0 : y;
  double fn = y * 1.4426950408889634074 + 6755399441055744.0;
  fn -= 6755399441055744.0;
  fn = fn >= -1077.0 ? fn : 0.0;
  double r = y - fn * 6.93147180369123816490e-01;
  r -= fn * 1.90821492927058770002e-10;
  double p = 1.0 / 6227020800.0;
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
  p = p * r + 1.0;
  int64_t bits = ((int64_t)fn + 54 + 1023) << 52;
  double scale;
  memcpy(&scale, &bits, sizeof scale);
  return (p * scale) * 0x1p-54;
}

#define ACTIVATION_FORWARD_BODY(type, leak, exp_nonpositive, fabs_)              \
  switch (kind) {                                                                \
    case MINIBATCH_RELU:                                                         \
      for (size_t i = 0; i < n; i++) y[i] = 0 >= x[i] ? (type)0 : x[i];           \
      break;                                                                     \
    case MINIBATCH_LEAKY_RELU:                                                   \
      for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : leak * x[i];       \
      break;                                                                     \
    case MINIBATCH_SIGMOID:                                                      \
      for (size_t i = 0; i < n; i++) {                                           \
        type e = exp_nonpositive(-fabs_(x[i]));                                  \
        y[i] = x[i] >= 0 ? 1 / (1 + e) : e / (1 + e);                            \
      }                                                                          \
      break;                                                                     \
    default:                                                                     \
      break;                                                                     \
  }

MINIBATCH_INLINE void activation_forward_f32_body(int kind, const float *restrict x,
                                                  float *restrict y, size_t n) {
  ACTIVATION_FORWARD_BODY(float, 0.01f, exp_nonpositive_f32, __builtin_fabsf)
}
MINIBATCH_INLINE void activation_forward_f64_body(int kind, const double *restrict x,
                                                  double *restrict y, size_t n) {
  ACTIVATION_FORWARD_BODY(double, 0.01, exp_nonpositive_f64, __builtin_fabs)
}

MINIBATCH_DISPATCH_SIGNATURE(activation_forward_f32, (int kind, const float *x, float *y, size_t n),
                             (kind, x, y, n))
MINIBATCH_DISPATCH_SIGNATURE(activation_forward_f64,
                             (int kind, const double *x, double *y, size_t n), (kind, x, y, n))

#define ACTIVATION_BACKWARD_BODY(type, leak)                                   \
  switch (kind) {                                                              \
    case MINIBATCH_RELU:                                                       \
      for (size_t i = 0; i < n; i++) below[i] = x[i] > 0 ? g[i] : (type)0;     \
      break;                                                                   \
    case MINIBATCH_LEAKY_RELU:                                                 \
      for (size_t i = 0; i < n; i++) below[i] = x[i] > 0 ? g[i] : leak * g[i]; \
      break;                                                                   \
    case MINIBATCH_TANH:                                                       \
      for (size_t i = 0; i < n; i++) below[i] = g[i] * (1 - f[i] * f[i]);      \
      break;                                                                   \
    case MINIBATCH_SIGMOID:                                                    \
      for (size_t i = 0; i < n; i++) below[i] = g[i] * (f[i] * (1 - f[i]));    \
      break;                                                                   \
    default:                                                                   \
      break;                                                                   \
  }

MINIBATCH_INLINE void activation_backward_f32_body(int kind, const float *restrict g,
                                                   const float *restrict x,
                                                   const float *restrict f,
                                                   float *restrict below, size_t n) {
  ACTIVATION_BACKWARD_BODY(float, 0.01f)
}

MINIBATCH_INLINE void activation_backward_f64_body(int kind, const double *restrict g,
                                                   const double *restrict x,
                                                   const double *restrict f,
                                                   double *restrict below, size_t n) {
  ACTIVATION_BACKWARD_BODY(double, 0.01)
}

#define BACKWARD_PARAMS(type) \
  (int kind, const type *g, const type *x, const type *f, type *below, size_t n)
#define BACKWARD_ARGS (kind, g, x, f, below, n)
MINIBATCH_DISPATCH_SIGNATURE(activation_backward_f32, BACKWARD_PARAMS(float), BACKWARD_ARGS)
MINIBATCH_DISPATCH_SIGNATURE(activation_backward_f64, BACKWARD_PARAMS(double), BACKWARD_ARGS)

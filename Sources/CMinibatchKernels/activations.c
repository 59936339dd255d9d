// Elementwise activations: the forward passes of relu, leaky relu and sigmoid, and the backward
// passes below[i] = g[i]·f′ for the layer's input x[i] and output f[i]. Contraction off: the same
// bits on every instruction set (the backward passes and relu's also as the Swift loops these
// replace).
//
// Sigmoid is 1/(1 + e) for x ≥ 0 and e/(1 + e) below, e = exp(−|x|) ∈ (0, 1] (no overflow), with
// the vector exp of `exp_nonpositive.h`.
#include "minibatch_kernels.h"
#include "dispatch.h"

#pragma STDC FP_CONTRACT OFF

#include "exp_nonpositive.h"

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

// Elementwise activation backward passes: below[i] = g[i]·f′ for the layer's input x[i] and
// output f[i]. Contraction off: the same bits on every instruction set (and as the Swift loops
// these replace).
#include "minibatch_kernels.h"
#include "dispatch.h"

#pragma STDC FP_CONTRACT OFF

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

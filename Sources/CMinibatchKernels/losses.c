// Output losses per example, with their gradients δ = ∂ℓ/∂z (not divided by k): softmax
// cross-entropy on k rows of m ≥ 2 logits and binary cross-entropy on k single logits, the same
// formulas as `OutputLoss` documents. The exponentials of non-positive arguments are the vector
// exp of `exp_nonpositive.h`; the one log1p per example is libm's, as in Swift. Contraction off and
// sums in index order: the same bits on every instruction set.
#include "minibatch_kernels.h"
#include "dispatch.h"
#include "exp_nonpositive.h"

#pragma STDC FP_CONTRACT OFF

#include <math.h>

// Per row: top = the first index of the largest logit; δ_j = exp(z_j − max) (the exponentials
// vectorise), others = Σ_{j≠top} δ_j in index order, δ_j /= 1 + others, δ_y −= 1;
// ℓ = (max − z_y) + log1p(others).
#define SOFTMAX_CROSS_ENTROPY_BODY(type, exp_nonpositive, log1p_)              \
  for (size_t i = 0; i < k; i++) {                                             \
    const type *zi = z + i * m;                                                \
    type *di = delta + i * m;                                                  \
    size_t top = 0;                                                            \
    for (size_t j = 1; j < m; j++)                                             \
      if (zi[j] > zi[top]) top = j;                                            \
    type largest = zi[top];                                                    \
    for (size_t j = 0; j < m; j++) di[j] = exp_nonpositive(zi[j] - largest);   \
    type others = 0;                                                           \
    for (size_t j = 0; j < m; j++)                                             \
      if (j != top) others += di[j];                                           \
    type total = 1 + others;                                                   \
    for (size_t j = 0; j < m; j++) di[j] = di[j] / total;                      \
    size_t y = (size_t)labels[i];                                              \
    di[y] -= 1;                                                                \
    loss[i] = (largest - zi[y]) + log1p_(others);                              \
  }

MINIBATCH_INLINE void softmax_cross_entropy_f32_body(const float *restrict z,
                                                     const ptrdiff_t *restrict labels, size_t k,
                                                     size_t m, float *restrict loss,
                                                     float *restrict delta) {
  SOFTMAX_CROSS_ENTROPY_BODY(float, exp_nonpositive_f32, log1pf)
}
MINIBATCH_INLINE void softmax_cross_entropy_f64_body(const double *restrict z,
                                                     const ptrdiff_t *restrict labels, size_t k,
                                                     size_t m, double *restrict loss,
                                                     double *restrict delta) {
  SOFTMAX_CROSS_ENTROPY_BODY(double, exp_nonpositive_f64, log1p)
}

#define LOSS_PARAMS(type) \
  (const type *z, const ptrdiff_t *labels, size_t k, size_t m, type *loss, type *delta)
#define LOSS_ARGS (z, labels, k, m, loss, delta)
MINIBATCH_DISPATCH_SIGNATURE(softmax_cross_entropy_f32, LOSS_PARAMS(float), LOSS_ARGS)
MINIBATCH_DISPATCH_SIGNATURE(softmax_cross_entropy_f64, LOSS_PARAMS(double), LOSS_ARGS)

// e_i = exp(−|z_i|) ∈ (0, 1] (vectorised, kept in δ or the loss until its log1p is taken);
// δ_i = σ(z_i) − y_i with σ = 1/(1 + e) for z ≥ 0 and e/(1 + e) below;
// ℓ_i = max(z_i, 0) − y_i·z_i + log1p(e_i).
#define BINARY_CROSS_ENTROPY_BODY(type, exp_nonpositive, fabs_, log1p_)                \
  for (size_t i = 0; i < k; i++) loss[i] = exp_nonpositive(-fabs_(z[i]));              \
  if (delta != NULL) {                                                                 \
    for (size_t i = 0; i < k; i++) {                                                   \
      type e = loss[i];                                                                \
      delta[i] = (z[i] >= 0 ? 1 / (1 + e) : e / (1 + e)) - (type)labels[i];            \
    }                                                                                  \
  }                                                                                    \
  for (size_t i = 0; i < k; i++) {                                                     \
    type y = (type)labels[i];                                                          \
    loss[i] = ((0 >= z[i] ? (type)0 : z[i]) - y * z[i]) + log1p_(loss[i]);             \
  }

MINIBATCH_INLINE void binary_cross_entropy_f32_body(const float *restrict z,
                                                    const ptrdiff_t *restrict labels, size_t k,
                                                    float *restrict loss, float *restrict delta) {
  BINARY_CROSS_ENTROPY_BODY(float, exp_nonpositive_f32, __builtin_fabsf, log1pf)
}
MINIBATCH_INLINE void binary_cross_entropy_f64_body(const double *restrict z,
                                                    const ptrdiff_t *restrict labels, size_t k,
                                                    double *restrict loss,
                                                    double *restrict delta) {
  BINARY_CROSS_ENTROPY_BODY(double, exp_nonpositive_f64, __builtin_fabs, log1p)
}

#define BINARY_PARAMS(type) \
  (const type *z, const ptrdiff_t *labels, size_t k, type *loss, type *delta)
#define BINARY_ARGS (z, labels, k, loss, delta)
MINIBATCH_DISPATCH_SIGNATURE(binary_cross_entropy_f32, BINARY_PARAMS(float), BINARY_ARGS)
MINIBATCH_DISPATCH_SIGNATURE(binary_cross_entropy_f64, BINARY_PARAMS(double), BINARY_ARGS)

// Unfold (im2col) and its adjoint fold (col2im) for a convolution over k examples of C×H×W
// (1-D convolutions are H = 1). Row (i, t) of U, t = oh·W′ + ow, is the patch under output
// position t, laid out (c, r, s) — c < C, r < kh, s < kw — with zeros where the patch covers
// padding. Fold adds every patch entry back to the input position it came from, output positions
// in order: the same sums in the same order as the Swift loops it replaces, so the same bits on
// every instruction set.
#include "minibatch_kernels.h"
#include "dispatch.h"

#pragma STDC FP_CONTRACT OFF

#include <string.h>

// The columns s ∈ [first, last) of a kernel row that fall inside the input at output column ow.
#define UNFOLD_COLUMNS                                          \
  ptrdiff_t left = ow * g->stride_width - g->padding_width;    \
  ptrdiff_t first = left < 0 ? -left : 0;                      \
  ptrdiff_t last = g->width - left < kw ? g->width - left : kw; \
  if (first > kw) first = kw;                                  \
  if (last < first) last = first;

#define UNFOLD_BODY(type)                                                               \
  const ptrdiff_t kh = g->kernel_height, kw = g->kernel_width;                           \
  const ptrdiff_t plane = g->height * g->width;                                          \
  const ptrdiff_t t = g->output_height * g->output_width, p = g->channels * kh * kw;    \
  for (size_t i = 0; i < k; i++) {                                                       \
    const type *example = x + (ptrdiff_t)i * g->channels * plane;                        \
    for (ptrdiff_t oh = 0; oh < g->output_height; oh++) {                                \
      for (ptrdiff_t ow = 0; ow < g->output_width; ow++) {                               \
        type *row = u + ((ptrdiff_t)i * t + oh * g->output_width + ow) * p;              \
        UNFOLD_COLUMNS                                                                   \
        for (ptrdiff_t c = 0; c < g->channels; c++) {                                    \
          for (ptrdiff_t r = 0; r < kh; r++) {                                           \
            type *segment = row + (c * kh + r) * kw;                                     \
            ptrdiff_t h = oh * g->stride_height - g->padding_height + r;                 \
            if (h < 0 || h >= g->height) {                                               \
              for (ptrdiff_t s = 0; s < kw; s++) segment[s] = 0;                         \
              continue;                                                                  \
            }                                                                            \
            const type *source = example + c * plane + h * g->width;                     \
            for (ptrdiff_t s = 0; s < first; s++) segment[s] = 0;                        \
            for (ptrdiff_t s = first; s < last; s++) segment[s] = source[left + s];      \
            for (ptrdiff_t s = last; s < kw; s++) segment[s] = 0;                        \
          }                                                                              \
        }                                                                                \
      }                                                                                  \
    }                                                                                    \
  }

#define FOLD_BODY(type)                                                                 \
  const ptrdiff_t kh = g->kernel_height, kw = g->kernel_width;                           \
  const ptrdiff_t plane = g->height * g->width;                                          \
  const ptrdiff_t t = g->output_height * g->output_width, p = g->channels * kh * kw;    \
  memset(x, 0, k * (size_t)(g->channels * plane) * sizeof(type));                        \
  for (size_t i = 0; i < k; i++) {                                                       \
    type *example = x + (ptrdiff_t)i * g->channels * plane;                              \
    for (ptrdiff_t oh = 0; oh < g->output_height; oh++) {                                \
      for (ptrdiff_t ow = 0; ow < g->output_width; ow++) {                               \
        const type *row = u + ((ptrdiff_t)i * t + oh * g->output_width + ow) * p;        \
        UNFOLD_COLUMNS                                                                   \
        for (ptrdiff_t c = 0; c < g->channels; c++) {                                    \
          for (ptrdiff_t r = 0; r < kh; r++) {                                           \
            ptrdiff_t h = oh * g->stride_height - g->padding_height + r;                 \
            if (h < 0 || h >= g->height) continue;                                       \
            const type *segment = row + (c * kh + r) * kw;                               \
            type *destination = example + c * plane + h * g->width;                      \
            for (ptrdiff_t s = first; s < last; s++) destination[left + s] += segment[s]; \
          }                                                                              \
        }                                                                                \
      }                                                                                  \
    }                                                                                    \
  }

#define GEOMETRY const minibatch_convolution_geometry *restrict g
MINIBATCH_INLINE void unfold_f32_body(GEOMETRY, const float *restrict x, size_t k,
                                      float *restrict u) {
  UNFOLD_BODY(float)
}
MINIBATCH_INLINE void unfold_f64_body(GEOMETRY, const double *restrict x, size_t k,
                                      double *restrict u) {
  UNFOLD_BODY(double)
}
MINIBATCH_INLINE void fold_f32_body(GEOMETRY, const float *restrict u, size_t k,
                                    float *restrict x) {
  FOLD_BODY(float)
}
MINIBATCH_INLINE void fold_f64_body(GEOMETRY, const double *restrict u, size_t k,
                                    double *restrict x) {
  FOLD_BODY(double)
}

#define PARAMS(in, out) (const minibatch_convolution_geometry *g, const in, size_t k, out)
MINIBATCH_DISPATCH_SIGNATURE(unfold_f32, PARAMS(float *x, float *u), (g, x, k, u))
MINIBATCH_DISPATCH_SIGNATURE(unfold_f64, PARAMS(double *x, double *u), (g, x, k, u))
MINIBATCH_DISPATCH_SIGNATURE(fold_f32, PARAMS(float *u, float *x), (g, u, k, x))
MINIBATCH_DISPATCH_SIGNATURE(fold_f64, PARAMS(double *u, double *x), (g, u, k, x))

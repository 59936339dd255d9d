// The stored row-combination kernel's inner loops (RowCombinationKernel.swift organises the
// threads and the schemes): y[j] += Σ_i c[i]·A[i, j] over a range of rows and columns, eight rows
// at a time in a fixed tree or one row at a time, and the squared variant y[j] += c[i]·A[i, j]².
//
// Contraction is off: every column sees the same sequence of roundings whichever part of the
// loop (vector body or tail) and whichever thread computes it, and on every instruction set, so
// the result does not depend on the thread count or the ISA.
#include "minibatch_kernels.h"
#include "dispatch.h"

#pragma STDC FP_CONTRACT OFF

#define ADD_ROWS_BODY                                                                      \
  size_t i = 0;                                                                            \
  if (eight) {                                                                             \
    for (; i + 8 <= rows; i += 8) {                                                        \
      const TYPE *r0 = a + i * lda, *r1 = r0 + lda, *r2 = r1 + lda, *r3 = r2 + lda;         \
      const TYPE *r4 = r3 + lda, *r5 = r4 + lda, *r6 = r5 + lda, *r7 = r6 + lda;            \
      TYPE c0 = c[i], c1 = c[i + 1], c2 = c[i + 2], c3 = c[i + 3];                          \
      TYPE c4 = c[i + 4], c5 = c[i + 5], c6 = c[i + 6], c7 = c[i + 7];                      \
      for (size_t j = begin; j < end; j++) {                                               \
        TYPE low = (r0[j] * c0 + r1[j] * c1) + (r2[j] * c2 + r3[j] * c3);                   \
        TYPE high = (r4[j] * c4 + r5[j] * c5) + (r6[j] * c6 + r7[j] * c7);                  \
        y[j] = y[j] + (low + high);                                                        \
      }                                                                                    \
    }                                                                                      \
  }                                                                                        \
  for (; i < rows; i++) {                                                                  \
    const TYPE *r = a + i * lda;                                                           \
    TYPE ci = c[i];                                                                        \
    for (size_t j = begin; j < end; j++) y[j] = y[j] + r[j] * ci;                          \
  }

#define ADD_SQUARED_ROWS_BODY                                                              \
  for (size_t i = 0; i < rows; i++) {                                                      \
    const TYPE *r = a + i * lda;                                                           \
    TYPE ci = c[i];                                                                        \
    for (size_t j = begin; j < end; j++) y[j] = y[j] + (r[j] * r[j]) * ci;                 \
  }

#define TYPE float
MINIBATCH_INLINE void add_rows_f32_body(const float *restrict a, size_t lda, size_t rows,
                                        size_t begin, size_t end, const float *restrict c,
                                        float *restrict y, int eight) {
  ADD_ROWS_BODY
}
MINIBATCH_INLINE void add_squared_rows_f32_body(const float *restrict a, size_t lda, size_t rows,
                                                size_t begin, size_t end,
                                                const float *restrict c, float *restrict y,
                                                int eight) {
  (void)eight;
  ADD_SQUARED_ROWS_BODY
}
#undef TYPE
#define TYPE double
MINIBATCH_INLINE void add_rows_f64_body(const double *restrict a, size_t lda, size_t rows,
                                        size_t begin, size_t end, const double *restrict c,
                                        double *restrict y, int eight) {
  ADD_ROWS_BODY
}
MINIBATCH_INLINE void add_squared_rows_f64_body(const double *restrict a, size_t lda,
                                                size_t rows, size_t begin, size_t end,
                                                const double *restrict c, double *restrict y,
                                                int eight) {
  (void)eight;
  ADD_SQUARED_ROWS_BODY
}
#undef TYPE

#define ROWS_PARAMS(type)                                                                  \
  (const type *a, size_t lda, size_t rows, size_t begin, size_t end, const type *c, type *y, \
   int eight)
#define ROWS_ARGS (a, lda, rows, begin, end, c, y, eight)
MINIBATCH_DISPATCH_SIGNATURE(add_rows_f32, ROWS_PARAMS(float), ROWS_ARGS)
MINIBATCH_DISPATCH_SIGNATURE(add_rows_f64, ROWS_PARAMS(double), ROWS_ARGS)
MINIBATCH_DISPATCH_SIGNATURE(add_squared_rows_f32, ROWS_PARAMS(float), ROWS_ARGS)
MINIBATCH_DISPATCH_SIGNATURE(add_squared_rows_f64, ROWS_PARAMS(double), ROWS_ARGS)

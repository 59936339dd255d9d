// The package's own hot loops that are not BLAS, each compiled for several instruction sets and
// chosen at run time (no compiler flags needed). An implementation detail of Minibatch.
#ifndef MINIBATCH_KERNELS_H
#define MINIBATCH_KERNELS_H

#include <stddef.h>

/// y[i] = tanh(x[i]) for i < n (x and y may be the same array).
void minibatch_tanh_f32(const float *x, float *y, size_t n);
void minibatch_tanh_f64(const double *x, double *y, size_t n);

/// The instruction set the kernels run with on this machine: "x86-64-v4 (AVX-512)",
/// "x86-64-v3 (AVX2, FMA)" or "x86-64 (SSE2)"; "portable" elsewhere.
const char *minibatch_kernels_isa(void);

#endif

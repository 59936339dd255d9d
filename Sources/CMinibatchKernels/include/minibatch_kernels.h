// The package's own hot loops that are not BLAS, each compiled for several instruction sets and
// chosen at run time (no compiler flags needed). An implementation detail of Minibatch.
#ifndef MINIBATCH_KERNELS_H
#define MINIBATCH_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// y[i] = tanh(x[i]) for i < n (x and y may be the same array).
void minibatch_tanh_f32(const float *x, float *y, size_t n);
void minibatch_tanh_f64(const double *x, double *y, size_t n);

/// The twiddle table of a radix-2 FFT of length n (a power of two ≥ 2): entries h + j, for each
/// stage h = 1, 2, 4, …, n/2 and j < h, hold exp(−iπ·j/h); re and im have n entries (entry 0 is
/// not used).
void minibatch_fft_twiddles(size_t n, double *re, double *im);

/// In place: the discrete Fourier transform y_k = Σ_j x_j·exp(∓2πi·jk/n) of the complex vector
/// (re, im) of length n (a power of two), − forward, + when inverse ≠ 0; not scaled (the inverse
/// returns n times the inverse transform). twiddle_re/im from minibatch_fft_twiddles(n, …).
void minibatch_fft_f64(size_t n, double *re, double *im, const double *twiddle_re,
                       const double *twiddle_im, int inverse);

/// In place: z_i ← z_i^exponent (principal branch, by polar form) for the n complex (re, im),
/// exponent > 0 and |z_i| ≤ 1 (as for a probability vector's transform); results below the
/// smallest subnormal are 0.
void minibatch_complex_power_f64(size_t n, double *re, double *im, double exponent);

/// out[k] = log Σ_i p[i]·exp(i·orders[k]) for k < count, over the n entries of p (−∞ when no
/// entry is positive; entries ≤ 0 are skipped).
void minibatch_log_moment_generating_f64(const double *p, size_t n, const double *orders,
                                         size_t count, double *out);

/// Gaussian noise added in place: x[i] ← (x[i] + sigma·z_i)·scale for i < n, each z_i a
/// standard normal draw (a 256-layer ziggurat with the exact tail), rounded to x's type. The
/// eight lanes that supply the bits are seeded from state[4] (xoshiro256**, advanced by 32
/// words). Returns how many results are not finite. The draws are the same on every
/// instruction set.
size_t minibatch_noise_add_f32(uint64_t *state, float *x, size_t n, double sigma, double scale);
size_t minibatch_noise_add_f64(uint64_t *state, double *x, size_t n, double sigma, double scale);
/// x[i] ← (sigma·z_i)·scale for i < n, the draws minibatch_noise_add_f64 makes; returns 0.
size_t minibatch_normal_draws(uint64_t *state, double *x, size_t n, double sigma, double scale);

/// The per-parameter moments from one reduction (GradientMoments): mu[j] = mean[j] and
/// m2[j] = total·(squares[j] − mean[j]²) when that exceeds threshold·total·squares[j] and
/// squares[j] > smallest, else m2[j] = 0 and j is written to inexact (capacity n) unless the
/// column is zero. Returns how many indices were written.
size_t minibatch_moments_f32(const float *mean, const float *squares, size_t n, double total,
                             double threshold, double smallest, double *mu, double *m2,
                             int64_t *inexact);
size_t minibatch_moments_f64(const double *mean, const double *squares, size_t n, double total,
                             double threshold, double smallest, double *mu, double *m2,
                             int64_t *inexact);

/// y[j] += Σ_{i<rows} c[i]·a[i·lda + j] for begin ≤ j < end: with eight ≠ 0, eight rows at a
/// time as ((c₀r₀ + c₁r₁) + (c₂r₂ + c₃r₃)) + ((c₄r₄ + c₅r₅) + (c₆r₆ + c₇r₇)), the last rows mod 8
/// one at a time; otherwise one row at a time. Rounded alike for every column, thread count and
/// instruction set.
void minibatch_add_rows_f32(const float *a, size_t lda, size_t rows, size_t begin, size_t end,
                            const float *c, float *y, int eight);
void minibatch_add_rows_f64(const double *a, size_t lda, size_t rows, size_t begin, size_t end,
                            const double *c, double *y, int eight);
/// y[j] += Σ_{i<rows} c[i]·a[i·lda + j]² for begin ≤ j < end, one row at a time (eight unused).
void minibatch_add_squared_rows_f32(const float *a, size_t lda, size_t rows, size_t begin,
                                    size_t end, const float *c, float *y, int eight);
void minibatch_add_squared_rows_f64(const double *a, size_t lda, size_t rows, size_t begin,
                                    size_t end, const double *c, double *y, int eight);

/// Σ_{j<n} (scale·x[j])² in double (32 partial sums in a fixed order, then a fixed tree: the same
/// bits on every instruction set); scale = 1 for the plain sum of squares.
double minibatch_sum_squares_f32(const float *x, size_t n, double scale);
double minibatch_sum_squares_f64(const double *x, size_t n, double scale);
/// out[i] = Σ_{j<columns} a[i·lda + j]² for i < rows (minibatch_sum_squares_*, scale 1, per row).
void minibatch_row_sums_squares_f32(const float *a, size_t rows, size_t columns, size_t lda,
                                    double *out);
void minibatch_row_sums_squares_f64(const double *a, size_t rows, size_t columns, size_t lda,
                                    double *out);

/// Chan's merge, elementwise for j < n: δ = other_mean[j] − mean[j]; mean[j] += δ·w_b;
/// m2[j] += other_m2[j] + δ²·w_ab (w_b = V_b/V, w_ab = V_a·V_b/V).
void minibatch_chan_merge(double *mean, double *m2, const double *other_mean,
                          const double *other_m2, size_t n, double w_b, double w_ab);

/// The activations of the activation kernels.
enum {
  MINIBATCH_RELU = 0,
  MINIBATCH_LEAKY_RELU = 1,
  MINIBATCH_TANH = 2,
  MINIBATCH_SIGMOID = 3,
  MINIBATCH_GELU = 4
};

/// y[i] = f(x[i]) for i < n and kind MINIBATCH_RELU (max(x, 0), NaN kept), MINIBATCH_LEAKY_RELU
/// (x for x > 0, else 0.01·x), MINIBATCH_SIGMOID (1/(1 + e^(−x)) from e^(−|x|), within 4 ulp of libm)
/// or MINIBATCH_GELU (x·Φ(x), Φ from erfc(|x|/√2) = e^(−x²/2)·erfcx(|x|/√2), in double: relative
/// error within 12 ulp of the exact value in double, the float result correctly rounded or one ulp
/// off; Φ(x) keeps its relative accuracy for x < 0 down to underflow);
/// y must not alias x; any other kind (MINIBATCH_TANH: `minibatch_tanh_*`) leaves y untouched.
/// One pass, O(n). The same bits on every instruction set.
void minibatch_activation_forward_f32(int kind, const float *x, float *y, size_t n);
void minibatch_activation_forward_f64(int kind, const double *x, double *y, size_t n);

/// below[i] = g[i]·f′ for i < n: relu [x > 0]; leaky relu 1 or 0.01 (x > 0 or not); tanh 1 − f²;
/// sigmoid f·(1 − f); gelu Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π), from x alone (x the layer's
/// input, f its output; below must not alias the others). One pass, O(n).
void minibatch_activation_backward_f32(int kind, const float *g, const float *x, const float *f,
                                       float *below, size_t n);
void minibatch_activation_backward_f64(int kind, const double *g, const double *x,
                                       const double *f, double *below, size_t n);

/// Softmax cross-entropy of k rows of m ≥ 2 logits z (row-major), labels[i] in 0..<m:
/// loss[i] = (max z_i − z_iy) + log1p(Σ_{j≠argmax} exp(z_ij − max z_i)) and the k×m
/// delta = softmax(z_i) − onehot(y_i) (required: it also holds the exponentials). Not divided by
/// k; no output may alias an input. O(k·m): one exp per logit, one log1p per row. The same bits on
/// every instruction set.
void minibatch_softmax_cross_entropy_f32(const float *z, const ptrdiff_t *labels, size_t k,
                                         size_t m, float *loss, float *delta);
void minibatch_softmax_cross_entropy_f64(const double *z, const ptrdiff_t *labels, size_t k,
                                         size_t m, double *loss, double *delta);

/// Binary cross-entropy of k logits z, labels[i] in {0, 1}:
/// loss[i] = max(z_i, 0) − y_i·z_i + log1p(exp(−|z_i|)) and, when delta is not NULL,
/// delta[i] = σ(z_i) − y_i. Not divided by k; no output may alias an input. O(k): one exp and one
/// log1p per example.
void minibatch_binary_cross_entropy_f32(const float *z, const ptrdiff_t *labels, size_t k,
                                        float *loss, float *delta);
void minibatch_binary_cross_entropy_f64(const double *z, const ptrdiff_t *labels, size_t k,
                                        double *loss, double *delta);

/// A convolution's sizes seen as 2-D (a 1-D one has height = kernel_height = output_height = 1,
/// stride_height = 1, padding_height = 0): C×H×W inputs, kh×kw kernels, H′×W′ output positions.
typedef struct {
  ptrdiff_t channels, height, width;
  ptrdiff_t kernel_height, kernel_width;
  ptrdiff_t stride_height, stride_width;
  ptrdiff_t padding_height, padding_width;
  ptrdiff_t output_height, output_width;
} minibatch_convolution_geometry;

/// Unfold (im2col): u is the (k·T)×p matrix, T = H′·W′ and p = C·kh·kw, whose row (i, t) is the
/// patch of example i (x is k×C×H×W) under output position t, laid out (c, r, s), zeros where it
/// covers padding. Every entry of u is written (O(k·T·p)); u must not alias x.
void minibatch_unfold_f32(const minibatch_convolution_geometry *g, const float *x, size_t k,
                          float *u);
void minibatch_unfold_f64(const minibatch_convolution_geometry *g, const double *x, size_t k,
                          double *u);

/// Fold (col2im), the adjoint of unfold: x (k×C×H×W, overwritten) = Σ of every entry of u added to
/// the input position it came from, output positions in order (O(k·T·p) additions); x must not
/// alias u.
void minibatch_fold_f32(const minibatch_convolution_geometry *g, const float *u, size_t k,
                        float *x);
void minibatch_fold_f64(const minibatch_convolution_geometry *g, const double *u, size_t k,
                        double *x);

/// The instruction set's level (0 baseline, 1 x86-64-v3, 2 x86-64-v4).
int minibatch_kernels_isa_level(void);

/// The calling thread's kernels run at `level` (clamped to what the machine supports) until it
/// is set to −1; for tests that compare the baseline bodies with the vector ones.
void minibatch_kernels_set_thread_isa(int level);
/// The calling thread's override, or −1.
int minibatch_kernels_thread_isa(void);

/// The instruction set the kernels run with on this machine: "x86-64-v4 (AVX-512)",
/// "x86-64-v3 (AVX2, FMA)" or "x86-64 (SSE2)"; "portable" elsewhere.
const char *minibatch_kernels_isa(void);

#endif

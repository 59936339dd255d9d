// The fast Fourier transform behind the privacy-loss-distribution accountant (Privacy/): an
// iterative radix-2 Cooley–Tukey transform of a complex vector held as two arrays (real and
// imaginary parts), in double precision, with a twiddle table computed directly by cos/sin (no
// recurrence, so each twiddle is within a few ulp). Higham ("Accuracy and Stability of Numerical
// Algorithms", Theorem 24.2) bounds its normwise error by log2(n)·η/(1 − log2(n)·η)·‖y‖₂ with
// η = μ + γ₄(√2 + μ), μ the twiddles' error: about 8·log2(n)·u for these twiddles.
//
// Why not a library: Debian offers FFTW and GSL (GPL, against the package's Apache-2.0 licence)
// and KissFFT (single precision only); the accountant needs double precision, permissively
// licensed, found by pkg-config. The transforms here are one screen and tested against numpy's.
#include "minibatch_kernels.h"
#include "dispatch.h"

#include <math.h>
#include <stdint.h>

void minibatch_fft_twiddles(size_t n, double *re, double *im) {
  if (n < 2) return;
  size_t top = n / 2;
  // The largest stage first: w_j = exp(−iπ·j/top), j < top. cos and sin are evaluated only for
  // angles ≤ π/4 (j ≤ top/4) and the rest follow exactly by symmetry: θ = π/2 − θ' swaps cos
  // and sin, θ = π − θ' negates cos.
  if (top < 4) {
    for (size_t j = 0; j < top; j++) {
      double angle = M_PI * ((double)j / (double)top);
      re[top + j] = cos(angle);
      im[top + j] = -sin(angle);
    }
  } else {
    size_t quarter = top / 4, half = top / 2;
    for (size_t j = 0; j <= quarter; j++) {
      double angle = M_PI * ((double)j / (double)top);  // j/top is exact in binary
      double c = cos(angle), s = sin(angle);
      re[top + j] = c;
      im[top + j] = -s;
      re[top + half - j] = s;  // θ = π/2 − angle
      im[top + half - j] = -c;
    }
    for (size_t j = half + 1; j < top; j++) {  // θ = π − θ', θ' = π·(top − j)/top < π/2
      re[top + j] = -re[top + (top - j)];
      im[top + j] = im[top + (top - j)];
    }
  }
  // Each smaller stage h takes every (top/h)-th twiddle of the largest: exp(−iπ·j/h).
  for (size_t h = top / 2; h >= 1; h /= 2) {
    size_t stride = top / h;
    for (size_t j = 0; j < h; j++) {
      re[h + j] = re[top + j * stride];
      im[h + j] = im[top + j * stride];
    }
  }
}

MINIBATCH_INLINE void fft_f64_body(
    size_t n, double *restrict re, double *restrict im, const double *restrict twiddle_re,
    const double *restrict twiddle_im, int inverse) {
  if (n < 2) return;
  // Bit-reversal permutation.
  for (size_t i = 1, j = 0; i < n; i++) {
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      double t = re[i];
      re[i] = re[j];
      re[j] = t;
      t = im[i];
      im[i] = im[j];
      im[j] = t;
    }
  }
  double sign = inverse ? -1.0 : 1.0;  // the table holds exp(−iθ); the inverse conjugates it
  for (size_t h = 1; h < n; h *= 2) {
    const double *wr = twiddle_re + h;
    const double *wi = twiddle_im + h;
    for (size_t start = 0; start < n; start += 2 * h) {
      double *ar = re + start, *ai = im + start;
      double *br = ar + h, *bi = ai + h;
      for (size_t j = 0; j < h; j++) {
        double cr = wr[j], ci = sign * wi[j];
        double tr = cr * br[j] - ci * bi[j];
        double ti = cr * bi[j] + ci * br[j];
        br[j] = ar[j] - tr;
        bi[j] = ai[j] - ti;
        ar[j] += tr;
        ai[j] += ti;
      }
    }
  }
}

MINIBATCH_DISPATCH_SIGNATURE(
    fft_f64,
    (size_t n, double *restrict re, double *restrict im, const double *restrict twiddle_re,
     const double *restrict twiddle_im, int inverse),
    (n, re, im, twiddle_re, twiddle_im, inverse))

void minibatch_complex_power_f64(size_t n, double *re, double *im, double exponent) {
  // |z|^p first: where it underflows (most frequencies of a long composition) the trigonometry
  // is skipped. log|z| as log(x² + y²)/2: the entries are bounded by 1, so x² + y² cannot overflow.
  for (size_t i = 0; i < n; i++) {
    double r2 = re[i] * re[i] + im[i] * im[i];
    double log_magnitude = exponent * 0.5 * log(r2);
    if (log_magnitude < -745.2) {  // below the smallest subnormal (and z = 0); NaN goes on
      re[i] = 0;
      im[i] = 0;
      continue;
    }
    double magnitude = exp(log_magnitude);
    double angle = exponent * atan2(im[i], re[i]);
    re[i] = magnitude * cos(angle);
    im[i] = magnitude * sin(angle);
  }
}

void minibatch_log_moment_generating_f64(
    const double *p, size_t n, const double *orders, size_t count, double *out) {
  // log Σ_i p_i·e^{i·t}, shifted by the largest exponent among the nonzero p_i so no term
  // overflows: that is the last nonzero index for t > 0, the first for t < 0.
  size_t first = 0, last = n;
  while (first < n && p[first] <= 0) first++;
  while (last > first && p[last - 1] <= 0) last--;
  for (size_t k = 0; k < count; k++) {
    double t = orders[k];
    if (first == last) {
      out[k] = -INFINITY;
      continue;
    }
    double shift = t > 0 ? (double)(last - 1) * t : (double)first * t;
    double sum = 0;
    for (size_t i = first; i < last; i++) {
      if (p[i] > 0) sum += p[i] * exp((double)i * t - shift);
    }
    out[k] = shift + log(sum);
  }
}

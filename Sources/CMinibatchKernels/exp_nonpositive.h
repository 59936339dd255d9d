// Internal to the kernel target: exp(y) for y ≤ 0, inline in each kernel body so that it
// vectorises. y = n·ln2 + r, |r| ≤ ln2/2 (Cody–Waite, n rounded by the 1.5·2^p trick); exp(r) by
// its Taylor polynomial (degree 7 in float, 13 in double: truncation below half an ulp); then
// multiplied by 2^(n+p)·2^(−p) so that results in the subnormal range are still formed (p = 24 in
// float, 54 in double). y below −104 (float) or −746 (double) gives 0, NaN stays NaN. The header
// turns floating-point contraction off (for the rest of the including file), so the bits are the
// same on every instruction set.
#ifndef MINIBATCH_KERNELS_EXP_NONPOSITIVE_H
#define MINIBATCH_KERNELS_EXP_NONPOSITIVE_H

#include <stdint.h>
#include <string.h>

#include "dispatch.h"

#pragma STDC FP_CONTRACT OFF

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

#endif

// The noise kernel alone, without Swift: draws per second of minibatch_noise_add_f32 and
// minibatch_normal_draws on one thread (the minimum of 300 calls on n = 203,530, the MLP's
// parameter count), for one instruction set, and a checksum of 203,530 fixed-seed draws (equal
// checksums: the same draws, bit for bit, e.g. before and after a change to the kernel).
//
//   K=Sources/CMinibatchKernels
//   clang -O2 -I$K/include -I$K Benchmarks/scripts/noise_kernel.c $K/noise.c $K/kernels.c \
//     -lm -lpthread -o /tmp/noise_kernel
//   /tmp/noise_kernel 2    # 2: x86-64-v4, 1: x86-64-v3, 0: baseline
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "minibatch_kernels.h"

extern _Thread_local int minibatch_thread_isa;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
  size_t n = 203530;
  minibatch_thread_isa = argc > 1 ? atoi(argv[1]) : -1;
  float *x = malloc(n * sizeof(float));
  double *d = malloc(n * sizeof(double));
  uint64_t state[4] = {1, 2, 3, 4};
  double best_add = 1e9, best_draws = 1e9;
  for (int r = 0; r < 300; r++) {
    memset(x, 0, n * sizeof(float));
    double t0 = now();
    minibatch_noise_add_f32(state, x, n, 1.0, 1.0);
    double t1 = now();
    if (t1 - t0 < best_add) best_add = t1 - t0;
    t0 = now();
    minibatch_normal_draws(state, d, n, 1.0, 1.0);
    t1 = now();
    if (t1 - t0 < best_draws) best_draws = t1 - t0;
  }
  uint64_t seed[4] = {5, 6, 7, 8}, checksum = 0;
  minibatch_normal_draws(seed, d, n, 1.0, 1.0);
  for (size_t i = 0; i < n; i++) {
    uint64_t bits;
    memcpy(&bits, &d[i], sizeof bits);
    checksum = checksum * 1000003 + bits;
  }
  printf("instruction set %s: noise_add_f32 %.0f M/s (%.3f ms), normal_draws %.0f M/s, "
         "checksum %016llx\n",
         minibatch_thread_isa == 2 ? "x86-64-v4" : minibatch_thread_isa == 1 ? "x86-64-v3"
         : minibatch_thread_isa == 0 ? "baseline" : "detected",
         n / best_add / 1e6, best_add * 1e3, n / best_draws / 1e6,
         (unsigned long long)checksum);
  free(x);
  free(d);
  return 0;
}

"""The plain MLP step's BLAS calls alone in numpy, on numpy's own bundled OpenBLAS, for comparison
with `minibatch-bench --models`' `plain-blas-only` row (the same calls on the system OpenBLAS).

    python3 Benchmarks/scripts/numpy_blas.py

Dense network 784-256-10, k = 64 and 256, float32 and float64: forward Z_l = A_{l-1} W_l^T;
backward dW_l = D_l^T A_{l-1}, db_l = D_l^T 1 and, below the top layer, D_{l-1} = D_l W_l
(what `denseBLASCalls` in Benchmarks/minibatch-bench/ModelBenchmark.swift issues). Min and
median of repeated runs after a warm-up. Prints numpy's BLAS build (its OpenBLAS version and
core) first.
"""
import time

import numpy as np


def blas_info():
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older numpy
        return "unknown"


def step(sizes, k, dtype):
    layers = list(zip(sizes, sizes[1:]))
    acts = [np.full((k, d), 0.01, dtype) for d in sizes]
    weights = [np.full((o, i), 0.01, dtype) for i, o in layers]
    ones = np.ones(k, dtype)

    def run():
        for l, _ in enumerate(layers):
            np.matmul(acts[l], weights[l].T, out=acts[l + 1])
        deltas = [a.copy() for a in acts]
        for l in reversed(range(len(layers))):
            d = deltas[l + 1]
            d.T @ acts[l]
            d.T @ ones
            if l > 0:
                np.matmul(d, weights[l], out=deltas[l])

    return run


def timing(run, budget=1.0):
    run()
    times = []
    start = time.perf_counter()
    while len(times) < 9 or (time.perf_counter() - start < budget and len(times) < 500):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[0], times[len(times) // 2]


def main():
    print(f"numpy {np.__version__}, BLAS: {blas_info()}")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            print(f"  {pool.get('internal_api')} {pool.get('version')} core "
                  f"{pool.get('architecture')}, {pool.get('num_threads')} threads")
    except ImportError:
        pass
    print(f"{'case':>28} {'min ms':>8} {'median ms':>10}")
    for dtype, name in [(np.float32, "Float"), (np.float64, "Double")]:
        for k in [64, 256]:
            low, mid = timing(step([784, 256, 10], k, dtype))
            print(f"{'mlp-blas-only ' + name + ' k=' + str(k):>28} {low * 1e3:8.3f} {mid * 1e3:10.3f}")


if __name__ == "__main__":
    main()

"""The model cases of `minibatch-bench`, in JAX on the CPU, for a side-by-side comparison.

    pip install "jax[cpu]"
    python3 Benchmarks/scripts/jax_bench.py            # table
    python3 Benchmarks/scripts/jax_bench.py --json     # one JSON object per case

Optional: the Swift benchmark does not need it. Cases and parameter layouts match Minibatch's:
logistic regression (k = 256; d = 10,000 and 100,000) and the MLP 784-256-10 with ReLU and
softmax cross-entropy (203,530 parameters; k = 64 and 256), in float32 and float64.

- rows: jit(vmap(grad(per-example loss))), the k x n per-example gradients alone;
- materialised: the same, returning the matrix and its mean (both outputs, so XLA cannot skip
  the matrix);
- plain: jit(grad(mean loss)).
Each is timed after a warm-up call, with block_until_ready; min and median of repeated runs.
"""
import json
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402


def logistic_loss(w, x, y):
    z = x @ w[:-1] + w[-1]
    return jnp.logaddexp(0.0, z) - y * z  # softplus(z) - y z


def mlp_loss(params, x, y):
    (w1, b1), (w2, b2) = params
    h = jax.nn.relu(w1 @ x + b1)
    z = w2 @ h + b2
    return jax.nn.logsumexp(z) - z[y]


def timed(fn, *args, budget=1.0, min_runs=7):
    jax.block_until_ready(fn(*args))
    runs = []
    start = time.perf_counter()
    while len(runs) < min_runs or (time.perf_counter() - start < budget and len(runs) < 200):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        runs.append(time.perf_counter() - t0)
    runs.sort()
    return runs[0], runs[len(runs) // 2]


def cases(dtype):
    key = jax.random.PRNGKey(0)
    for d in (10_000, 100_000):
        k = 256
        x = jax.random.uniform(key, (k, d), dtype=dtype)
        y = (jnp.arange(k) % 2).astype(dtype)
        w = jax.random.normal(key, (d + 1,), dtype=dtype) * 0.01
        per_example = jax.vmap(jax.grad(logistic_loss), in_axes=(None, 0, 0))
        rows = jax.jit(per_example)
        materialised = jax.jit(lambda w, x, y: (lambda j: (j, j.mean(0)))(per_example(w, x, y)))
        plain = jax.jit(jax.grad(lambda w, x, y: jax.vmap(logistic_loss, (None, 0, 0))(w, x, y).mean()))
        yield "logistic", k, d + 1, rows, materialised, plain, (w, x, y)
    for k in (64, 256):
        x = jax.random.uniform(key, (k, 784), dtype=dtype)
        y = jnp.arange(k) % 10
        params = (
            (jax.random.normal(key, (256, 784), dtype=dtype) * 0.05, jnp.zeros(256, dtype)),
            (jax.random.normal(key, (10, 256), dtype=dtype) * 0.05, jnp.zeros(10, dtype)),
        )
        per_example = jax.vmap(jax.grad(mlp_loss), in_axes=(None, 0, 0))
        rows = jax.jit(per_example)
        materialised = jax.jit(
            lambda p, x, y: (lambda g: (g, jax.tree_util.tree_map(lambda t: t.mean(0), g)))(
                per_example(p, x, y)))
        plain = jax.jit(jax.grad(lambda p, x, y: jax.vmap(mlp_loss, (None, 0, 0))(p, x, y).mean()))
        yield "mlp", k, 203_530, rows, materialised, plain, (params, x, y)


def main():
    as_json = "--json" in sys.argv
    if not as_json:
        print(f"JAX {jax.__version__} on {jax.devices()[0].platform}, {jax.device_count()} device(s)")
        print(f"{'kernel':>22} {'scalar':>7} {'k':>4} {'n':>7} {'min ms':>8} {'median ms':>10}")
    for dtype, name in ((jnp.float32, "Float"), (jnp.float64, "Double")):
        for model, k, n, rows, materialised, plain, args in cases(dtype):
            for kind, fn in (("rows", rows), ("materialised", materialised), ("plain", plain)):
                best, median = timed(fn, *args)
                row = {"kernel": f"jax-{model}-{kind}", "scalar": name, "k": k, "n": n,
                       "seconds_min": best, "seconds_median": median}
                if as_json:
                    print(json.dumps(row))
                else:
                    print(f"{row['kernel']:>22} {name:>7} {k:>4} {n:>7} {best * 1e3:8.2f} {median * 1e3:10.2f}")


if __name__ == "__main__":
    main()

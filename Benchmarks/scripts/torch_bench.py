"""The model cases of `minibatch-bench`, in PyTorch on the CPU, for a side-by-side comparison.

    pip install torch
    python3 Benchmarks/scripts/torch_bench.py            # table
    python3 Benchmarks/scripts/torch_bench.py --json     # one JSON object per case

Optional: the Swift benchmark does not need it. Same cases as `jax_bench.py`: logistic regression
(k = 256; d = 10,000 and 100,000) and the MLP 784-256-10 (ReLU, softmax cross-entropy; k = 64
and 256), float32 and float64.

- rows: torch.func.vmap(torch.func.grad(per-example loss)), the per-example gradients;
- materialised: the same, then their mean over the batch;
- plain: autograd's gradient of the mean loss (loss.backward()).
Min and median of repeated runs after a warm-up call.
"""
import json
import sys
import time

import torch
from torch.func import grad, vmap


def logistic_loss(w, x, y):
    z = x @ w[:-1] + w[-1]
    return torch.nn.functional.softplus(z) - y * z


def mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    z = w2 @ torch.relu(w1 @ x + b1) + b2
    return torch.logsumexp(z, 0) - torch.gather(z, 0, y.unsqueeze(0)).squeeze(0)


def timed(fn, budget=1.0, min_runs=7):
    fn()
    runs = []
    start = time.perf_counter()
    while len(runs) < min_runs or (time.perf_counter() - start < budget and len(runs) < 200):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    runs.sort()
    return runs[0], runs[len(runs) // 2]


def cases(dtype):
    g = torch.Generator().manual_seed(0)
    for d in (10_000, 100_000):
        k = 256
        x = torch.rand(k, d, dtype=dtype, generator=g)
        y = (torch.arange(k) % 2).to(dtype)
        w = torch.randn(d + 1, dtype=dtype, generator=g) * 0.01
        rows = lambda: vmap(grad(logistic_loss), in_dims=(None, 0, 0))(w, x, y)

        def plain():
            v = w.detach().requires_grad_(True)
            vmap(logistic_loss, in_dims=(None, 0, 0))(v, x, y).mean().backward()
            return v.grad

        yield "logistic", k, d + 1, rows, lambda: rows().mean(0), plain
    for k in (64, 256):
        x = torch.rand(k, 784, dtype=dtype, generator=g)
        y = torch.arange(k) % 10
        params = (
            torch.randn(256, 784, dtype=dtype, generator=g) * 0.05, torch.zeros(256, dtype=dtype),
            torch.randn(10, 256, dtype=dtype, generator=g) * 0.05, torch.zeros(10, dtype=dtype),
        )
        rows = lambda: vmap(grad(mlp_loss), in_dims=(None, 0, 0))(params, x, y)

        def plain():
            p = [t.detach().requires_grad_(True) for t in params]
            z = torch.relu(x @ p[0].T + p[1]) @ p[2].T + p[3]
            torch.nn.functional.cross_entropy(z, y).backward()
            return [t.grad for t in p]

        yield "mlp", k, 203_530, rows, lambda: [t.mean(0) for t in rows()], plain


def main():
    as_json = "--json" in sys.argv
    if not as_json:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
        print(f"{'kernel':>26} {'scalar':>7} {'k':>4} {'n':>7} {'min ms':>8} {'median ms':>10}")
    for dtype, name in ((torch.float32, "Float"), (torch.float64, "Double")):
        for model, k, n, rows, materialised, plain in cases(dtype):
            for kind, fn in (("rows", rows), ("materialised", materialised), ("plain", plain)):
                best, median = timed(fn)
                row = {"kernel": f"torch-{model}-{kind}", "scalar": name, "k": k, "n": n,
                       "seconds_min": best, "seconds_median": median}
                if as_json:
                    print(json.dumps(row))
                else:
                    print(f"{row['kernel']:>26} {name:>7} {k:>4} {n:>7} {best * 1e3:8.2f} {median * 1e3:10.2f}")


if __name__ == "__main__":
    main()

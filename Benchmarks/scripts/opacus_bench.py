"""DP-SGD training steps in PyTorch and Opacus on the CPU, for a side-by-side comparison.

    pip install torch opacus
    python3 Benchmarks/scripts/opacus_bench.py               # table
    python3 Benchmarks/scripts/opacus_bench.py --json        # one JSON object per row
    python3 Benchmarks/scripts/opacus_bench.py --quick       # shorter timing budget
    python3 Benchmarks/scripts/opacus_bench.py --threads 1   # torch.set_num_threads(1)

Optional: the Swift benchmark does not need it. Two models, float32 and float64:

- cnn: Opacus' MNIST example network (Conv2d(1,16,8,stride 2,padding 3), Tanh,
  MaxPool2d(2,stride 1), Conv2d(16,32,4,stride 2), Tanh, MaxPool2d(2,stride 1), Flatten,
  Linear(512,32), Tanh, Linear(32,10); 26,010 parameters) on random 1x28x28 inputs, 10 classes,
  softmax cross-entropy, mean loss; k = 64 and 256.
- embedding: nn.Embedding(10000, 64), mean over a sequence of 64 random tokens, Linear(64,64),
  ReLU, Linear(64,2) (644,290 parameters), cross-entropy; k = 256. Embedding + mean rather than
  EmbeddingBag(mode='mean'): Opacus 1.6 supports nn.Embedding in all three modes, with a norm
  sampler for true ghost clipping, whereas EmbeddingBag needs flat indices + offsets, has no
  functorch support ("Functorch does not support EmbeddingBag yet") and no ghost norm sampler
  (ghost mode falls back to its dense per-example gradients, computed in a Python loop).

Rows, each one full training step (zero_grad, forward, backward, optimizer step) on a fixed batch:

- torch-MODEL-plain: autograd's gradient of the mean loss, loss.backward(), SGD step;
- opacus-MODEL-hooks: PrivacyEngine.make_private(grad_sample_mode="hooks"), a DP-SGD step
  (per-example gradients p.grad_sample, flat clipping to max_grad_norm = 1, Gaussian noise with
  noise_multiplier = 1, SGD step);
- opacus-MODEL-ghost: the same with ghost clipping (grad_sample_mode="ghost", the criterion wrapped
  by make_private, two backward passes). Layers without an Opacus norm sampler (Conv2d) fall back
  to fast gradient clipping, i.e. per-example gradients of that layer then their norms: the row's
  note says which layers are which;
- opacus-MODEL-functorch: grad_sample_mode="functorch" (per-example gradients by torch.func).

poisson_sampling=False and a DataLoader of batch size k over a TensorDataset of exactly k examples,
so the batch is the same in every step; the timed function reuses that one batch. A mode that
Opacus rejects for a model is printed as unsupported with the reason. Min and median of repeated
runs after a warm-up call; ratio = row median / plain median of the same (model, scalar, k).
JSON rows: kernel, scalar, threads, k, n (parameters), seconds_min, seconds_median,
plain_seconds_median, ratio_to_plain_median (and note for ghost rows, or unsupported: reason
instead of the timings); with --json the header (versions, threads, CPU, BLAS) goes to stderr.

Before timing, once per model, a check in float64 at k = 4 (fails loudly): the Opacus hooks (and functorch)
per-example gradients of the first layer match torch.func.vmap(torch.func.grad(per-example loss)),
and the ghost per-example gradient norms match the vmap gradients' norms, to 1e-5 relative.
"""
import argparse
import gc
import json
import os
import sys
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from torch_bench import timed  # the same timing (min and median after a warm-up) as the MLP cases
from torch.func import functional_call, grad, vmap
from torch.utils.data import DataLoader, TensorDataset

import opacus
from opacus import PrivacyEngine
from opacus.grad_sample import GradSampleModuleFastGradientClipping

VOCAB, DIM, SEQ = 10_000, 64, 64
MODES = ("hooks", "ghost", "functorch")
CHECK_RTOL = 1e-5
# Known, harmless per-step warnings (Opacus' hooks on a first layer whose input needs no gradient;
# functorch mode's autocast probe on the CPU).
warnings.filterwarnings("ignore", message="Full backward hook is firing")
warnings.filterwarnings("ignore", message="In CPU autocast")


class EmbeddingMean(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, DIM)
        self.fc1 = nn.Linear(DIM, DIM)
        self.fc2 = nn.Linear(DIM, 2)

    def forward(self, tokens):
        return self.fc2(torch.relu(self.fc1(self.embedding(tokens).mean(1))))


def build(model, dtype):
    torch.manual_seed(0)  # every row of a case starts from the same weights
    if model == "cnn":
        net = nn.Sequential(
            nn.Conv2d(1, 16, 8, stride=2, padding=3), nn.Tanh(), nn.MaxPool2d(2, stride=1),
            nn.Conv2d(16, 32, 4, stride=2), nn.Tanh(), nn.MaxPool2d(2, stride=1),
            nn.Flatten(), nn.Linear(32 * 4 * 4, 32), nn.Tanh(), nn.Linear(32, 10),
        )
    else:
        net = EmbeddingMean()
    return net.to(dtype)


def batch(model, k, dtype):
    g = torch.Generator().manual_seed(1)
    if model == "cnn":
        return torch.randn(k, 1, 28, 28, dtype=dtype, generator=g), torch.randint(0, 10, (k,), generator=g)
    return torch.randint(0, VOCAB, (k, SEQ), generator=g), torch.randint(0, 2, (k,), generator=g)


def private(model, dtype, x, y, mode):
    """Opacus' wrapped model, DP optimizer and criterion, and the loader's one fixed batch."""
    net = build(model, dtype)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    loader = DataLoader(TensorDataset(x, y), batch_size=len(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # secure RNG off, no Poisson sampling: fine for timing
        out = PrivacyEngine(accountant="rdp").make_private(
            module=net, optimizer=optimizer, criterion=nn.CrossEntropyLoss(), data_loader=loader,
            noise_multiplier=1.0, max_grad_norm=1.0, poisson_sampling=False, grad_sample_mode=mode,
            noise_generator=torch.Generator().manual_seed(2),
        )
    if mode == "ghost":
        wrapped, dp_optimizer, criterion, loader = out
    else:
        (wrapped, dp_optimizer, loader), criterion = out, nn.CrossEntropyLoss()
    (xb, yb), = list(loader)  # one batch: the whole dataset, in order
    return net, wrapped, dp_optimizer, criterion, xb, yb


def plain_step(model, dtype, x, y):
    net = build(model, dtype)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)

    def step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        optimizer.step()

    return step


def dp_step(model, dtype, x, y, mode):
    _, wrapped, optimizer, criterion, xb, yb = private(model, dtype, x, y, mode)

    def step():
        optimizer.zero_grad(set_to_none=True)
        criterion(wrapped(xb), yb).backward()
        optimizer.step()

    return step


def ghost_note(model):
    net = build(model, torch.float32)
    norm = GradSampleModuleFastGradientClipping.NORM_SAMPLERS
    kinds = {True: [], False: []}
    for m in net.modules():
        if any(p.requires_grad for p in m.parameters(recurse=False)):
            name = type(m).__name__
            if name not in kinds[type(m) in norm]:
                kinds[type(m) in norm].append(name)
    note = "ghost norms: " + (", ".join(kinds[True]) or "none")
    if kinds[False]:
        note += "; per-example grads (fast gradient clipping): " + ", ".join(kinds[False])
    return note


def relative(got, want):
    got, want = got.reshape(len(got), -1), want.reshape(len(want), -1)
    return ((got - want).norm(dim=1) / want.norm(dim=1).clamp_min(1e-300)).max().item()


def check(model, k=4):
    """Opacus' per-example gradients (first layer) and ghost norms against torch.func, float64."""
    dtype = torch.float64
    x, y = batch(model, k, dtype)
    reference = build(model, dtype)
    params = {name: p.detach() for name, p in reference.named_parameters()}

    def loss(p, xi, yi):
        return F.cross_entropy(functional_call(reference, p, (xi.unsqueeze(0),)), yi.unsqueeze(0))

    want = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    first = next(name for name, m in reference.named_modules() if list(m.parameters(recurse=False)))
    failures, report = [], []
    for mode in MODES:
        try:
            net, wrapped, optimizer, criterion, xb, yb = private(model, dtype, x, y, mode)
            optimizer.zero_grad(set_to_none=True)
            criterion(wrapped(xb), yb).backward()
        except Exception as e:  # noqa: BLE001 - an unsupported mode is reported by the timing rows
            if mode == "hooks":
                raise
            report.append(f"{mode}: unsupported")
            continue
        if mode == "ghost":
            norms = torch.stack([g.reshape(k, -1).norm(dim=1) for g in want.values()]).norm(dim=0)
            err = (wrapped.per_sample_gradient_norms - norms).abs().max().item() / norms.max().item()
            report.append(f"ghost norms {err:.1e}")
            if not err <= CHECK_RTOL:
                failures.append(f"{model} ghost per-example norms: relative error {err:.3e}")
            continue
        for name, p in net.named_parameters():
            if name.startswith(first + "."):
                err = relative(p.grad_sample, want[name])
                report.append(f"{mode} {name} {err:.1e}")
                if not err <= CHECK_RTOL:
                    failures.append(f"{model} {mode} grad_sample of {name}: relative error {err:.3e}")
    if failures:
        sys.exit("opacus_bench: per-example gradient check FAILED (float64, k = 4):\n  "
                 + "\n  ".join(failures))
    return f"check {model} (float64, k = {k}) vs vmap(grad): " + ", ".join(report)


def cases():
    for dtype, name in ((torch.float32, "Float"), (torch.float64, "Double")):
        for model, k in (("cnn", 64), ("cnn", 256), ("embedding", 256)):
            yield model, dtype, name, k


def header():
    lines = [f"PyTorch {torch.__version__}, Opacus {opacus.__version__}, "
             f"torch.get_num_threads() = {torch.get_num_threads()}, os.cpu_count() = {os.cpu_count()}"]
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    lines.append(f"CPU: {cpu}")
    config = torch.__config__.show().splitlines()
    lines += [line.rstrip() for line in config[1:] if line.strip() and "Build settings" not in line]
    settings = next((line for line in config if "Build settings" in line), "")
    keep = ("BLAS_INFO", "LAPACK_INFO", "USE_MKL=", "USE_MKLDNN", "USE_OPENMP")
    picked = [s.strip() for s in settings.split(",") if s.strip().startswith(keep)]
    lines.append("  - " + ", ".join(picked + [
        f"mkl available={torch.backends.mkl.is_available()}",
        f"mkldnn enabled={torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled}",
        f"cpu capability={torch.backends.cpu.get_cpu_capability()}"]))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument("--quick", action="store_true", help="shorter timing budget")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    budget, min_runs = (0.25, 3) if args.quick else (1.0, 7)
    out = sys.stderr if args.json else sys.stdout  # JSON mode: stdout holds only the rows
    for line in header():
        print(line, file=out)
    for model in ("cnn", "embedding"):
        print(check(model), file=out)
    notes = {model: ghost_note(model) for model in ("cnn", "embedding")}
    if not args.json:
        print(f"{'kernel':>26} {'scalar':>7} {'k':>4} {'n':>7} {'min ms':>8} {'median ms':>10} "
              f"{'x plain':>8}  note")
    threads = torch.get_num_threads()
    for model, dtype, name, k in cases():
        x, y = batch(model, k, dtype)
        n = sum(p.numel() for p in build(model, dtype).parameters())
        plain_median = None
        for mode in ("plain",) + MODES:
            kernel = f"torch-{model}-plain" if mode == "plain" else f"opacus-{model}-{mode}"
            row = {"kernel": kernel, "scalar": name, "threads": threads, "k": k, "n": n}
            try:
                step = plain_step(model, dtype, x, y) if mode == "plain" else dp_step(model, dtype, x, y, mode)
                best, median = timed(step, budget, min_runs)
            except Exception as e:  # noqa: BLE001 - e.g. a layer that a mode does not support
                reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                row["unsupported"] = reason[:200]
            else:
                if mode == "plain":
                    plain_median = median
                row.update(seconds_min=best, seconds_median=median, plain_seconds_median=plain_median,
                           ratio_to_plain_median=median / plain_median if plain_median else None)
                if mode == "ghost":
                    row["note"] = notes[model]
            step = None
            gc.collect()
            if args.json:
                print(json.dumps(row), flush=True)
            elif "unsupported" in row:
                print(f"{kernel:>26} {name:>7} {k:>4} {n:>7} {'unsupported':>28}  {row['unsupported']}",
                      flush=True)
            else:
                print(f"{kernel:>26} {name:>7} {k:>4} {n:>7} {best * 1e3:8.2f} {median * 1e3:10.2f} "
                      f"{row['ratio_to_plain_median']:8.2f}  {row.get('note', '')}", flush=True)


if __name__ == "__main__":
    main()

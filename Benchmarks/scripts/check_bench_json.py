"""Checks the JSON lines of `minibatch-bench --json` (read from standard input): every line is a
JSON object with the fields the issues promise: the stored reductions carry the one-thread BLAS
comparison, the pipeline rows their paired ratio to the plain step, the streamed rows their peak
memory. Used by CI: `minibatch-bench --quick --json | python3 Benchmarks/scripts/check_bench_json.py`.
"""
import json
import sys

REQUIRED = {"kernel", "scalar", "threads", "k", "n", "seconds_min", "seconds_median"}
# `--mpi`: the lines of `minibatch-bench --mpi --json` under mpirun (make bench-mpi), among make's.
mpi = "--mpi" in sys.argv[1:]
lines = [line for line in sys.stdin if line.strip()]
rows = [json.loads(line) for line in lines if not mpi or line.startswith("{")]
assert rows, "no JSON rows"
for row in rows:
    missing = REQUIRED - row.keys()
    assert not missing, f"{row.get('kernel')}: missing {sorted(missing)}"
    assert row["seconds_min"] > 0 and row["seconds_median"] >= row["seconds_min"], row
    kernel = row["kernel"]
    if kernel == "mean":
        assert row["blas_gemv_threads"] >= 1 and row["speed_vs_best_of_naive_and_blas"] > 0, row
    if kernel.endswith(("factored-mean", "factored-norms", "factored-moments", "stored-fused-mean",
                         "factored-dp-step", "factored-dp-per-layer", "factored-variance",
                         "factored-noise-scale", "factored-gram-spectrum")):
        assert row["plain_seconds_median"] > 0 and row["paired_ratio_to_plain_median"] > 0, row
    if kernel.endswith("train-step-stored"):
        assert row["paired_ratio_to_factored_median"] > 0, row
    if kernel in ("noise", "noise-bulk", "noise-single"):
        assert row["draws_per_second"] > 0 and row["speedup_vs_single_median"] > 0, row
    if kernel.endswith(("plain-over-blas", "gram-spectrum-over-syrk")):
        assert row["paired_ratio_median"] > 0, row
    if kernel == "csv-load":
        assert row["mb_per_second"] > 0, row
    if kernel == "accountant-pld-epsilon":
        assert 0 < row["epsilon"] < row["rdp_epsilon"], row
    if kernel == "accountant-pld-calibrate":
        assert row["noise_multiplier"] > 0, row
    if kernel.startswith("virtual-step-"):
        assert row["peak_rss_bytes"] > 0 and 1 <= row["physical"] <= row["k"], row
    if kernel.startswith("rank-one-"):
        assert row["peak_rss_bytes"] > 0, row
    if kernel == "mpi-allreduce":
        assert row["ranks"] >= 2 and row["bus_gb_per_second"] > 0, row
    if kernel == "mpi-train-step-allreduce":
        assert 0 <= row["communication_share"] < 1 and row["allreduce_seconds_median"] >= 0, row
if not mpi:
    assert {"accountant-pld-epsilon", "accountant-pld-calibrate", "virtual-step-factored",
            "virtual-step-stored", "noise", "noise-bulk", "noise-single"} <= {row["kernel"] for row in rows}
if mpi:
    assert {"mpi-allreduce", "mpi-train-step-allreduce"} <= {row["kernel"] for row in rows}, rows
kernels = sorted({row["kernel"] for row in rows})
print(f"{len(rows)} JSON rows, kernels: {', '.join(kernels)}")

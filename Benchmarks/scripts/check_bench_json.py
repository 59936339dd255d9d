"""Checks the JSON lines of `minibatch-bench --json` (read from standard input): every line is a
JSON object with the fields the issues promise, and every materialised model row has its
roofline. Used by CI: `minibatch-bench --quick --json | python3 Benchmarks/scripts/check_bench_json.py`.
"""
import json
import sys

REQUIRED = {"kernel", "scalar", "threads", "k", "n", "seconds_min", "seconds_median"}
rows = [json.loads(line) for line in sys.stdin if line.strip()]
assert rows, "no JSON rows"
for row in rows:
    missing = REQUIRED - row.keys()
    assert not missing, f"{row.get('kernel')}: missing {sorted(missing)}"
    assert row["seconds_min"] > 0 and row["seconds_median"] >= row["seconds_min"], row
    if "materialised" in row["kernel"]:
        assert row["roofline_seconds"] > 0, row
kernels = sorted({row["kernel"] for row in rows})
print(f"{len(rows)} JSON rows, kernels: {', '.join(kernels)}")

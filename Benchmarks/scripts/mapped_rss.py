#!/usr/bin/env python3
"""Peak resident memory of minibatch-train on memory-mapped .npy inputs larger than it may copy.

Writes a float32 .npy of about --megabytes MB (rows of 100 features) and its labels (uint8, 3
classes) with the standard library alone (no NumPy), trains one epoch with minibatch-train on
them (`--train x.npy --train-labels y.npy`: the inputs are mapped, not loaded), and checks that
the child's peak resident set (getrusage(RUSAGE_CHILDREN).ru_maxrss) stays below --limit of the
file's size. With --compare, also trains on the same data as one .npy table (features and the
label column), which the program loads into memory, for the figure beside it.

  python3 Benchmarks/scripts/mapped_rss.py --minibatch-train .build/release/minibatch-train
"""

import argparse
import array
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

FEATURES = 100
BLOCK_ROWS = 10_000


def npy_header(descr, shape):
    """A version-1.0 .npy header, padded to a multiple of 64 bytes as NumPy writes it."""
    shape_text = "(%d,)" % shape[0] if len(shape) == 1 else "(%s)" % ", ".join(map(str, shape))
    text = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_text)
    text += " " * ((64 - (10 + len(text) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin1")


def block(seed, columns):
    """BLOCK_ROWS rows of `columns` floats (little-endian float32) and their labels."""
    rng = random.Random(seed)
    values = array.array("f", (rng.gauss(0, 1) for _ in range(BLOCK_ROWS * columns)))
    labels = array.array(
        "B",
        (
            (values[i * columns] > 0) + (values[i * columns + 1] > 0.5)
            for i in range(BLOCK_ROWS)
        ),
    )
    if sys.byteorder != "little":
        values.byteswap()
    return values, labels


def write_data(directory, rows):
    """x.npy (rows × FEATURES float32), y.npy (rows uint8) and table.npy (features + label)."""
    values, labels = block(1, FEATURES)
    x_path, y_path = os.path.join(directory, "x.npy"), os.path.join(directory, "y.npy")
    with open(x_path, "wb") as x, open(y_path, "wb") as y:
        x.write(npy_header("<f4", (rows, FEATURES)))
        y.write(npy_header("|u1", (rows,)))
        for _ in range(rows // BLOCK_ROWS):
            values.tofile(x)
            labels.tofile(y)
    return x_path, y_path


def write_table(directory, rows):
    """The same rows as one table: FEATURES float32 features, then the label (as float32)."""
    values, labels = block(1, FEATURES)
    table = array.array("f")
    for i in range(BLOCK_ROWS):
        table.extend(values[i * FEATURES:(i + 1) * FEATURES])
        table.append(float(labels[i]))
    if sys.byteorder != "little":
        table.byteswap()
    path = os.path.join(directory, "table.npy")
    with open(path, "wb") as out:
        out.write(npy_header("<f4", (rows, FEATURES + 1)))
        for _ in range(rows // BLOCK_ROWS):
            table.tofile(out)
    return path


def peak_of(command):
    """Runs `command` (its output passed through) and returns its peak RSS in bytes and seconds.

    Each measurement runs in a fresh child Python, whose own RUSAGE_CHILDREN is the training's
    alone (ru_maxrss is the largest of the children waited for)."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.monotonic()\n"
        "code = subprocess.call(sys.argv[1:])\n"
        "print('%d %.3f %d' % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,"
        " time.monotonic() - start, code))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe] + command, stdout=subprocess.PIPE, text=True, check=True
    ).stdout.splitlines()
    for line in output[:-1]:
        print("  " + line)
    peak, seconds, code = output[-1].split()
    if int(code) != 0:
        sys.exit("mapped_rss: %s exited with %s" % (command[0], code))
    return int(peak), float(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minibatch-train", required=True, help="the minibatch-train binary")
    parser.add_argument("--megabytes", type=int, default=400, help="size of x.npy (default 400)")
    parser.add_argument(
        "--limit", type=float, default=0.5,
        help="the largest peak RSS accepted, as a fraction of x.npy's size (default 0.5)")
    parser.add_argument("--compare", action="store_true", help="also train on the loaded table")
    parser.add_argument("--directory", help="where to write the files (default: a temporary one)")
    arguments = parser.parse_args()

    rows = max(1, arguments.megabytes * 1_000_000 // (4 * FEATURES) // BLOCK_ROWS) * BLOCK_ROWS
    directory = tempfile.mkdtemp(prefix="minibatch-rss-", dir=arguments.directory)
    try:
        start = time.monotonic()
        x, y = write_data(directory, rows)
        size = os.path.getsize(x)
        print("mapped_rss: wrote %s (%d × %d float32, %.0f MB) and %s in %.1f s"
              % (x, rows, FEATURES, size / 1e6, y, time.monotonic() - start))
        common = ["--epochs", "1", "--batch-size", "256", "--model", "softmax", "--threads", "2"]
        peak, seconds = peak_of(
            [arguments.minibatch_train, "--train", x, "--train-labels", y] + common)
        print("mapped_rss: memory-mapped inputs: peak RSS %.0f MB (%.0f%% of the %.0f MB file), "
              "%.1f s" % (peak / 1e6, 100 * peak / size, size / 1e6, seconds))
        if arguments.compare:
            table = write_table(directory, rows)
            loaded, seconds = peak_of([arguments.minibatch_train, "--train", table] + common)
            print("mapped_rss: the same rows loaded (a .npy table): peak RSS %.0f MB, %.1f s"
                  % (loaded / 1e6, seconds))
        if peak > arguments.limit * size:
            sys.exit("mapped_rss: peak RSS %.0f MB is above %.0f%% of the file (%.0f MB)"
                     % (peak / 1e6, 100 * arguments.limit, arguments.limit * size / 1e6))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()

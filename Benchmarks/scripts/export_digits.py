"""Exports the UCI optical handwritten digits (scikit-learn's bundled copy) to the CSV files that
Minibatch ships in Sources/Minibatch/Data/Resources. Run once; the output is committed.

    pip install scikit-learn && python3 Benchmarks/scripts/export_digits.py

The split is stratified, 80 % train / 20 % test, random_state=0.
"""
import csv
import pathlib

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

out = pathlib.Path(__file__).resolve().parents[2] / "Sources/Minibatch/Data/Resources"
digits = load_digits()
x_train, x_test, y_train, y_test = train_test_split(
    digits.data, digits.target, test_size=0.2, random_state=0, stratify=digits.target)
header = [f"pixel{i}" for i in range(64)] + ["label"]
for name, x, y in (("digits-train.csv", x_train, y_train), ("digits-test.csv", x_test, y_test)):
    with open(out / name, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for row, label in zip(x, y):
            w.writerow([int(v) for v in row] + [int(label)])
    print(name, len(y))

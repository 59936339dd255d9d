"""The coefficient table of the gelu kernel's erfcx (Sources/CMinibatchKernels/activations.c).

erfcx(t) = exp(t²)·erfc(t) for t in [0, 28], in the variable y = 4/(4 + t) in (0.125, 1]: 16
equal intervals of y, each a degree-12 polynomial in s = (y − mid)/half ∈ [−1, 1] through the 13
Chebyshev nodes, computed with mpmath at 40 digits and rounded to double. Prints the C table and
the worst relative error of its double Horner evaluation (about 3.5 ulp, the rounding floor).

    pip install mpmath numpy && python3 Benchmarks/scripts/erfcx_table.py
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 40
INTERVALS, DEGREE, Y_LOW = 16, 12, mp.mpf(1) / 8


def erfcx(t):
    return mp.erfc(t) * mp.exp(t * t)


def interval(i):
    width = (1 - Y_LOW) / INTERVALS
    return Y_LOW + width * i, Y_LOW + width * (i + 1)


table = []
for i in range(INTERVALS):
    a, b = interval(i)
    nodes = [mp.cos(mp.pi * (j + mp.mpf(1) / 2) / (DEGREE + 1)) for j in range(DEGREE + 1)]
    values = [erfcx(4 / ((a + b) / 2 + (b - a) / 2 * s) - 4) for s in nodes]
    vandermonde = mp.matrix([[s**j for j in range(DEGREE + 1)] for s in nodes])
    c = mp.lu_solve(vandermonde, mp.matrix(values))
    table.append([float(c[j]) for j in range(DEGREE + 1)])

worst = 0.0
for t in np.concatenate([np.linspace(0, 28, 40_001), np.geomspace(1e-9, 28, 4_001)]):
    y = 4.0 / (4.0 + t)
    i = min(INTERVALS - 1, int((y - 0.125) / (0.875 / INTERVALS)))
    a, b = (float(v) for v in interval(i))
    s = (y - (a + b) / 2) / ((b - a) / 2)
    p = 0.0
    for c in reversed(table[i]):
        p = p * s + c
    worst = max(worst, float(abs((p - erfcx(mp.mpf(t))) / erfcx(mp.mpf(t)))))
print(f"/* worst relative error {worst:.3g} ({worst / 2**-52:.2f} ulp) */")
print(f"static const double erfcx_table[{INTERVALS}][{DEGREE + 1}] = {{")
for row in table:
    print("    {" + ", ".join(f"{c:.17g}" for c in row) + "},")
print("};")

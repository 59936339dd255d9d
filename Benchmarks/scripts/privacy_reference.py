#!/usr/bin/env python3
"""Reference values for Minibatch's privacy accountants, from Google's dp-accounting (PLD and RDP)
and Opacus (PRV), and numpy's FFT for the transform behind the PLD.

    python3 Benchmarks/scripts/privacy_reference.py            # the table (Markdown) on stdout
    python3 Benchmarks/scripts/privacy_reference.py --swift PATH   # also write the Swift test data
    python3 Benchmarks/scripts/privacy_reference.py --minibatch BIN  # add minibatch-privacy's ε

`make privacy-reference` runs the last two (with the release minibatch-privacy) and rewrites
Tests/MinibatchTests/Privacy/PrivacyReferenceData.swift. dp-accounting and opacus are pip-installed
when missing. Every setting is the Poisson-subsampled Gaussian mechanism (sensitivity 1, noise
multiplier sigma, sampling rate q) composed T times, accounted at delta, add-or-remove neighbours.
"""

import argparse
import importlib
import importlib.metadata
import math
import subprocess
import sys
import time


def ensure(module, package):
    try:
        return importlib.import_module(module)
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", package])
        return importlib.import_module(module)


# (sigma, q, T, delta): q in [1e-3, 1], T in [10, 1e5], sigma in [0.6, 5], delta in [1e-7, 1e-4].
SETTINGS = [
    (1.5, 0.04, 2250, 1e-5),  # the published example (Abadi et al.; TF Privacy's tutorial)
    (0.7, 0.01, 120, 1e-5),  # a short run, where RDP is loosest
    (1.1, 256 / 60000, 14062, 1e-5),  # MNIST, batch 256, 60 epochs
    (0.6, 1e-3, 100000, 1e-7),
    (5.0, 1.0, 10, 1e-4),  # full batches: the Gaussian mechanism
    (2.0, 0.1, 1000, 1e-6),
    (0.8, 0.02, 5000, 1e-5),
    (3.0, 0.5, 50, 1e-4),
    (1.0, 1e-3, 10, 1e-7),
    (4.0, 0.25, 400, 1e-6),
]
# Two phases composed one after the other: (sigma, q, T) each, then delta.
PHASES = [((1.0, 0.01, 500), (2.0, 0.02, 300), 1e-5)]
DISCRETIZATION = 1e-4

RDP_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))


def pld_epsilon(phases, delta, discretization=DISCRETIZATION):
    accountant = pld.PLDAccountant(value_discretization_interval=discretization)
    for sigma, q, steps in phases:
        accountant.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps)
    return accountant


def rdp_epsilon(sigma, q, steps, delta):
    accountant = rdp.RdpAccountant(RDP_ORDERS)
    accountant.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps)
    return accountant.get_epsilon(delta)


def prv_epsilon(sigma, q, steps, delta):
    accountant = PRVAccountant()
    accountant.history = [(sigma, q, steps)]
    return accountant.get_epsilon(delta=delta)


def fft_input(n):
    # Exact decimal fractions, so Swift builds the same doubles without numpy.
    re = [((j * 7919) % 1009) / 1009.0 - 0.5 for j in range(n)]
    im = [((j * 104729) % 997) / 997.0 - 0.5 for j in range(n)]
    return np.array(re) + 1j * np.array(im)


def swift_double(x):
    return repr(float(x))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--swift", help="write the Swift test data to this path")
    parser.add_argument("--minibatch", help="minibatch-privacy to run on every setting (pld, rdp)")
    args = parser.parse_args()
    # Installed only when they are missing, and only once the arguments are known (so --help
    # installs nothing).
    ensure("dp_accounting", "dp-accounting")
    ensure("opacus", "opacus")
    global np, dp_accounting, dp_event, pld, rdp, PRVAccountant
    import numpy as np
    import dp_accounting
    from dp_accounting import dp_event, pld, rdp
    from opacus.accountants import PRVAccountant
    dp_accounting_version = importlib.metadata.version("dp-accounting")

    rows = []
    for sigma, q, steps, delta in SETTINGS:
        start = time.perf_counter()
        accountant = pld_epsilon([(sigma, q, steps)], delta)
        epsilon = accountant.get_epsilon(delta)
        seconds = time.perf_counter() - start
        coarse = pld_epsilon([(sigma, q, steps)], delta, 1e-3).get_epsilon(delta)
        probe = max(0.5 * epsilon, 0.05)
        delta_at_probe = accountant.get_delta(probe)
        rows.append(
            dict(
                sigma=sigma, q=q, steps=steps, delta=delta, pld=epsilon, pld_coarse=coarse,
                probe=probe, delta_at_probe=delta_at_probe, rdp=rdp_epsilon(sigma, q, steps, delta),
                prv=prv_epsilon(sigma, q, steps, delta), seconds=seconds))
    phase_rows = []
    for first, second, delta in PHASES:
        phase_rows.append(dict(first=first, second=second, delta=delta,
                               pld=pld_epsilon([first, second], delta).get_epsilon(delta)))

    print(f"dp-accounting {dp_accounting_version}, "
          f"opacus {importlib.import_module('opacus').__version__}, numpy {np.__version__}")
    print()
    def ours(r, accountant):
        if not args.minibatch:
            return None
        start = time.perf_counter()
        out = subprocess.run(
            [args.minibatch, "epsilon", "--noise-multiplier", repr(r["sigma"]), "--sampling-rate",
             repr(r["q"]), "--steps", str(r["steps"]), "--delta", repr(r["delta"]),
             "--accountant", accountant], check=True, capture_output=True, text=True).stdout
        seconds = time.perf_counter() - start
        return float(out.strip().splitlines()[-1].split("=")[1]), seconds

    header = "| σ | q | T | δ | dp-accounting PLD (Δ = 1e-4) | Opacus PRV | dp-accounting RDP |"
    rule = "|---|---|---|---|---|---|---|"
    if args.minibatch:
        header += " Minibatch PLD | ratio | Minibatch RDP | seconds: dp-accounting, Minibatch |"
        rule += "---|---|---|---|"
    else:
        header += " dp-accounting seconds |"
        rule += "---|"
    print(header)
    print(rule)
    for r in rows:
        line = (f"| {r['sigma']} | {r['q']:.6g} | {r['steps']} | {r['delta']:g} | {r['pld']:.5f} | "
                f"{r['prv']:.5f} | {r['rdp']:.5f} |")
        if args.minibatch:
            (pld_ours, seconds), (rdp_ours, _) = ours(r, "pld"), ours(r, "rdp")
            line += (f" {pld_ours:.5g} | {pld_ours / r['pld']:.5f} | {rdp_ours:.5g} | "
                     f"{r['seconds']:.2f}, {seconds:.2f} |")
        else:
            line += f" {r['seconds']:.2f} |"
        print(line)
    for r in phase_rows:
        print(f"\nphases {r['first']} then {r['second']}, δ = {r['delta']:g}: PLD ε = {r['pld']:.5f}")

    if args.swift:
        lines = [
            "// Generated by Benchmarks/scripts/privacy_reference.py (make privacy-reference); do not edit.",
            f"// dp-accounting {dp_accounting_version}, "
            f"opacus {importlib.import_module('opacus').__version__}, numpy {np.__version__}.",
            "",
            "/// One setting: dp-accounting's PLD ε (Δ = 1e-4 and 1e-3) and δ at `probe`, Opacus' PRV ε,",
            "/// dp-accounting's RDP ε (orders 1.1…10.9, 12…63).",
            "struct PrivacyReference: Sendable {",
            "  var sigma: Double, samplingRate: Double, steps: Int, delta: Double",
            "  var pld: Double, pldCoarse: Double, probe: Double, deltaAtProbe: Double",
            "  var prv: Double, rdp: Double",
            "}",
            "",
            "let privacyReferences: [PrivacyReference] = [",
        ]
        for r in rows:
            lines.append(
                "  PrivacyReference(" +
                f"sigma: {swift_double(r['sigma'])}, samplingRate: {swift_double(r['q'])}, "
                f"steps: {r['steps']}, delta: {swift_double(r['delta'])}, "
                f"pld: {swift_double(r['pld'])}, pldCoarse: {swift_double(r['pld_coarse'])}, "
                f"probe: {swift_double(r['probe'])}, deltaAtProbe: {swift_double(r['delta_at_probe'])}, "
                f"prv: {swift_double(r['prv'])}, rdp: {swift_double(r['rdp'])}),")
        lines += ["]", "", "/// Two phases, `(σ, q, T)` each, composed in order: dp-accounting's PLD ε at δ.",
                  "let privacyPhaseReferences: [(first: (Double, Double, Int), second: (Double, Double, Int), delta: Double, pld: Double)] = ["]
        for r in phase_rows:
            f, s = r["first"], r["second"]
            lines.append(
                f"  (({swift_double(f[0])}, {swift_double(f[1])}, {f[2]}), "
                f"({swift_double(s[0])}, {swift_double(s[1])}, {s[2]}), "
                f"{swift_double(r['delta'])}, {swift_double(r['pld'])}),")
        lines += ["]", "", "/// numpy.fft.fft of the input `x_j = ((7919·j) mod 1009)/1009 − 1/2 + i·(((104729·j) mod 997)/997 − 1/2)`:",
                  "/// for each length, the real and imaginary parts interleaved.",
                  "let numpyFFTReferences: [(count: Int, interleaved: [Double])] = ["]
        for n in (2, 8, 64, 512):
            y = np.fft.fft(fft_input(n))
            values = ", ".join(f"{swift_double(v.real)}, {swift_double(v.imag)}" for v in y)
            lines.append(f"  ({n}, [{values}]),")
        lines += ["]", ""]
        with open(args.swift, "w") as out:
            out.write("\n".join(lines))
        print(f"\nwrote {args.swift}")


if __name__ == "__main__":
    main()

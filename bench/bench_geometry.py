"""Speed of the latent map's geometry layers, shipped MLP and conv models side by side.

Prints figures, asserts nothing. For each model, on a 100 × 100 lattice over [−3, 3]² (the page caches
each layer per model version, so these are the costs of a first view):

  decode          one decoding pass of the 10,000 lattice points: the reference the layers are built on
  classes         what each point decodes to: decode + the shipped classifier      (goal ≤ 1 s)
  holes           log p(z) − log q(z) against the 10,000 test posteriors           (goal ≤ 1 s)
  stretch         log magnification: 10,000 Jacobians by forward mode            (goal ≤ 1 s)
  hole samples    8 prior draws that land in holes, decoded
  geodesic        16 points between two test codes (median of 3 pairs)             (goal ≤ 2 s)

Each is timed three times in one process: "first" includes one-off costs (the first forward-mode
Jacobian loads torch's JVP decompositions), "steady" is the best of the other two (other programs on a
shared CPU only ever add time). The load average is printed at the start and the end: on a shared
2-core machine the figures mean little when it is above ~2.

    python bench/bench_geometry.py
    python bench/bench_geometry.py --threads 1     # on a CPU busy with other work
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent

from vae_core import PRETRAINED_DIR, decode, load_bundle  # noqa: E402
from vae_core.analysis import geometry as geo  # noqa: E402
from vae_core.analysis.claims import load_classifier  # noqa: E402

MODELS = ("mnist-vae", "fashion-vae")  # the d = 2 MLP and conv models that have posteriors
CLASSIFIER = {"mnist": "mnist.pt", "fashion": "fashion.pt"}
LATTICE = 100
GEODESIC_PAIRS = ((0, 1), (2, 3), (4, 5))


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def first_and_steady(fn) -> tuple[float, float]:
    first = timed(fn)
    return first, min(timed(fn), timed(fn))


def bench_model(name: str) -> dict[str, tuple[float, float]]:
    bundle = load_bundle(PRETRAINED_DIR / name)
    model, mu, logvar = bundle.model, bundle.latents["mu"], bundle.latents["logvar"]
    clf = load_classifier(ROOT / "classifiers" / CLASSIFIER[bundle.dataset])
    _, _, z = geo.lattice((-3, 3), (-3, 3), LATTICE)

    def geodesic_times() -> tuple[float, float]:  # first and steady of each pair, median over the pairs
        per_pair = [first_and_steady(lambda i=i, j=j: geo.geodesic(model, mu[i], mu[j], steps=16))
                    for i, j in GEODESIC_PAIRS]
        return statistics.median(t[0] for t in per_pair), statistics.median(t[1] for t in per_pair)

    return {
        "decode": first_and_steady(lambda: decode(model, z)),
        "classes": first_and_steady(lambda: geo.decoded_class_layer(model, clf, z)),
        "holes": first_and_steady(lambda: geo.hole_layer(model, mu, logvar, z)),
        "stretch": first_and_steady(lambda: geo.stretch_layer(model, z)),
        "hole samples": first_and_steady(lambda: geo.hole_prior_samples(model, mu, logvar, 8, seed=0)),
        "geodesic": geodesic_times(),
    }


GOALS = {"decode": "", "classes": "≤ 1 s", "holes": "≤ 1 s", "stretch": "≤ 1 s", "hole samples": "",
         "geodesic": "≤ 2 s"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"load average at start: {load_average()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    results = {name: bench_model(name) for name in MODELS}
    header = " | ".join(f"{name} first / steady (s)" for name in MODELS)
    print(f"\n| layer ({LATTICE}×{LATTICE} lattice) | goal | {header} |")
    print("|---|---|" + "---|" * len(MODELS))
    for layer, goal in GOALS.items():
        cells = " | ".join(f"{results[name][layer][0]:.2f} / {results[name][layer][1]:.2f}" for name in MODELS)
        print(f"| {layer} | {goal} | {cells} |")
    print(f"\nload average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

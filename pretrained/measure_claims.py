"""Measure the CVAE blog's claims for the shipped models; store them in each metrics.json.

Usage: VAE_DATA_DIR=... python pretrained/measure_claims.py [--retrain-classifiers]
Writes classifiers/{mnist,fashion}.pt (+ classifiers/metrics.json with their test accuracy),
a "claims" block in each pretrained/*/metrics.json, docs/grids-{dataset}.png (standard | MMD
side by side), and prints a Markdown table for docs/claims.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from vae_core import load_bundle, load_split, manifold_grid, png_bytes  # noqa: E402
from vae_core.store.folders import update_metrics  # noqa: E402
from vae_core.analysis.claims import (classifier_accuracy, load_classifier, measure_claims, save_classifier,  # noqa: E402
                             train_classifier)
from vae_core.analysis.evaluate import aggregate_posterior  # noqa: E402
from vae_core.training.runtime import configure_cpu_numerics  # noqa: E402

PAIRS = {"mnist": ("mnist-vae", "mnist-mmd"), "fashion": ("fashion-vae", "fashion-mmd")}


def classifier_for(dataset: str, retrain: bool, summary: dict):
    path = ROOT / "classifiers" / f"{dataset}.pt"
    if retrain or not path.exists():
        t0 = time.perf_counter()
        clf = train_classifier(load_split(dataset, "train"))
        save_classifier(clf, path)
        summary[dataset] = {"train_seconds": round(time.perf_counter() - t0, 1)}
    clf = load_classifier(path)
    summary.setdefault(dataset, {})["test_accuracy"] = classifier_accuracy(clf, load_split(dataset, "test"))
    return clf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--retrain-classifiers", action="store_true")
    args = parser.parse_args()
    configure_cpu_numerics()
    summary_file = ROOT / "classifiers" / "metrics.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    rows = []
    for dataset, names in PAIRS.items():
        clf = classifier_for(dataset, args.retrain_classifiers, summary)
        test = load_split(dataset, "test")
        grids = []
        for name in names:
            path = ROOT / "pretrained" / name
            bundle = load_bundle(path)
            claims = measure_claims(bundle.model, clf, test, inputs=bundle.inputs)
            claims["aggregate_posterior"] = aggregate_posterior(bundle.latents["mu"])
            update_metrics(path, {**bundle.metrics, "claims": claims}, allow_pretrained=True)
            grids.append(manifold_grid(bundle.model, 20)[0])
            ap = claims["aggregate_posterior"]
            rows.append(
                f"| {name} | ({ap['mean'][0]:+.2f}, {ap['mean'][1]:+.2f}) | "
                f"[[{ap['cov'][0][0]:.2f}, {ap['cov'][0][1]:.2f}], [{ap['cov'][1][0]:.2f}, {ap['cov'][1][1]:.2f}]] | "
                f"{ap['mmd_to_prior']:.4f} | {claims['grid_coverage']['share_confident']:.1%} | "
                f"{claims['sample_sharpness']['pixel_entropy']:.3f} | "
                f"{claims['sample_sharpness']['classifier_confidence']:.3f} | "
                f"{claims['interpolation']['max_step_relative']:.3f} | "
                f"{claims['interpolation']['classifier_entropy_along_path']:.3f} |")
        gap = np.ones((grids[0].shape[0], 28), np.float32)
        (ROOT / "docs" / f"grids-{dataset}.png").write_bytes(png_bytes(np.hstack([grids[0], gap, grids[1]])))
    summary_file.write_text(json.dumps(summary, indent=2) + "\n")
    print("| model | code mean | code covariance | MMD² to prior | grid cells ≥ 0.9 confident | "
          "sample pixel entropy (nats) | sample classifier confidence | largest interpolation step "
          "(ideal 0.111) | classifier entropy along paths |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("classifiers:", json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

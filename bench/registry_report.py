#!/usr/bin/env python
"""Print the tables of bench/registry_results.sh from the models' metrics.json files."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("VAE_MODELS_DIR", str(ROOT / "bench" / "results" / "models"))

from vae_core import load_bundle, models_dir  # noqa: E402


def row(tag: str) -> dict | None:
    path = models_dir() / tag
    if not path.is_dir():
        return None
    b = load_bundle(path, with_latents=False)
    e = b.metrics["evaluation"]
    return {"tag": tag, "beta": b.train_config.beta, "prior": b.model_config.prior,
            "K": b.model_config.prior_components if b.model_config.prior != "standard" else "",
            "elbo": e["test"]["neg_elbo"], "recon": e["test"]["recon"], "kl": e["test"]["kl"],
            "iw": e["iw_nll"]["nll"], "iw_k": e["iw_nll"]["k"], "iw_n": e["iw_nll"]["n"],
            "quad": e.get("quadrature_nll", {}).get("nll"), "knn": e["knn_accuracy"]["accuracy"],
            "seconds": b.metrics["train_seconds"], "epochs": b.metrics["epochs"]}


def main() -> int:
    sweep = [r for r in (row(f"sweep-beta-{b}") for b in ("0.5", "1", "2", "4")) if r]
    if sweep:
        print(f"β sweep: MNIST, MLP 784-512-512-512-2, d = 2, {sweep[0]['epochs']:g} epochs each "
              f"(test −ELBO, reconstruction and KL on all 10,000 test images; IW NLL k = {sweep[0]['iw_k']} on "
              f"{sweep[0]['iw_n']} images; nats)")
        print("| β | test −ELBO | recon | KL | IW NLL | 5-NN acc. | train s |")
        print("|---|---|---|---|---|---|---|")
        for r in sweep:
            print(f"| {r['beta']:g} | {r['elbo']:.2f} | {r['recon']:.2f} | {r['kl']:.2f} | {r['iw']:.2f} | "
                  f"{r['knn']:.3f} | {r['seconds']:.0f} |")
    priors = [r for r in (row(t) for t in ("sweep-beta-1", "prior-vamp", "prior-mog")) if r]
    if priors:
        print()
        print("Priors: the same network and budget, β = 1 (quadrature NLL: 400×400 grid on all 10,000 test images)")
        print("| prior | K | test −ELBO | KL | IW NLL (k=1000, 1,000 images) | quadrature NLL | 5-NN acc. | train s |")
        print("|---|---|---|---|---|---|---|---|")
        for r in priors:
            quad = f"{r['quad']:.2f}" if r["quad"] is not None else "–"
            print(f"| {r['prior']} | {r['K']} | {r['elbo']:.2f} | {r['kl']:.2f} | {r['iw']:.2f} | {quad} | "
                  f"{r['knn']:.3f} | {r['seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure the shipped models' latent geometry; with --save, store it beside them.

Usage:
  VAE_DATA_DIR=... python pretrained/measure_geometry.py --write-latents   # the test set's codes
  python pretrained/measure_geometry.py [--save] [--pairs 200] [--device cpu|cuda] [names...]

For each model: the ELBO's KL ledger (Hoffman & Johnson 2016), active units, the closed-form MMD² to
the prior, the share of the prior's mass within 2σ that lies in holes (q(z) < p(z)/10; Rosca et al.
2018), the geodesic / straight-line length ratio over random test pairs (Arvanitidis et al. 2018),
and how well the decoder's magnification predicts the claims table's largest interpolation step.
Everything is measured from the model folders alone (latents.npz holds the test set's codes and, for
standard VAEs, their logvar), so the measurement needs no data files and can run on a GPU machine.
--write-latents encodes the test set (on the CPU) from the inputs the model was trained to see (a
Bernoulli model's test set binarised once, seed 0: `vae_core.data.Inputs`) and rewrites latents.npz
(mu, logvar) and config.json's record of those inputs; weights.pt must come out byte-identical.
--save writes the MMD² into the evaluation and claims blocks of metrics.json and a "geometry" block.
Prints a Markdown table for docs/geometry.md.
"""
from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parent.parent

from vae_core.analysis import geometry as geo  # noqa: E402
from vae_core import load_bundle, load_split, run_inputs  # noqa: E402
from vae_core.store.folders import WEIGHTS_FILE, save_bundle, update_metrics  # noqa: E402
from vae_core.analysis.evaluate import aggregate_posterior  # noqa: E402
from vae_core.analysis.explore import decode, interpolation_path  # noqa: E402
from vae_core.training.runtime import describe_device, pick_device  # noqa: E402

NAMES = ("mnist-vae", "mnist-mmd", "fashion-vae", "fashion-mmd")
SEED = 0
INTERPOLATION_STEPS = 10  # as in claims.interpolation_smoothness
GEODESIC_STEPS = 16
LENGTH_REFINE = 16  # both paths' lengths are measured with every segment split 16 times


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_latents(path: Path) -> str:
    """Encode the test set again from the inputs the model was trained to see (`Bundle.inputs`: a
    Bernoulli model's test set binarised once, seed 0) and rewrite latents.npz (mu, and logvar for a
    stochastic encoder) with config.json's "inputs"; weights.pt must come out byte-identical. Returns
    what was done, with how far the codes moved."""
    bundle = load_bundle(path)
    inputs = run_inputs(bundle.model_config, bundle.train_config)
    mu, logvar = geo.encode_posteriors(bundle.model, inputs.of(load_split(bundle.dataset, "test").images))
    moved = float(np.abs(mu - bundle.latents["mu"]).max())
    weights = path / WEIGHTS_FILE
    before = _sha256(weights)
    half = any(t.dtype == torch.float16 for t in torch.load(weights, weights_only=True).values())
    latents = {"mu": mu, "labels": bundle.latents["labels"], **({"logvar": logvar} if logvar is not None else {})}
    save_bundle(path, bundle.model, bundle.train_config, metrics=bundle.metrics, half=half, latents=latents,
                allow_pretrained=True, data=bundle.data, inputs=inputs)
    if _sha256(weights) != before:
        raise SystemExit(f"{weights}: changed by the rewrite; restore it from git")
    return (f"{bundle.name}: codes from {inputs.describe()} (max |Δμ| {moved:.3g} from the old latents.npz)"
            f"{', logvar too' if logvar is not None else ''}; weights.pt byte-identical")


def interpolation_pairs(n_test: int, pairs: int) -> np.ndarray:
    """The claims table's random test pairs (claims.interpolation_smoothness, same seed): (pairs, 2)."""
    rng = np.random.default_rng(SEED)
    return rng.choice(n_test, size=(pairs, 2), replace=False if 2 * pairs <= n_test else True)


def stretch_vs_jump(model, codes: np.ndarray) -> dict:
    """Rank correlation between the magnification along a straight interpolation and its jumps.

    Per pair: the largest frame-to-frame step relative to the endpoints' distance (the claims table's
    smoothness) against the largest log magnification at the segments' midpoints; per segment: its
    relative step against the log magnification at its midpoint.
    """
    pairs = len(codes)
    paths = np.stack([interpolation_path(c[0], c[1], INTERPOLATION_STEPS) for c in codes])  # (pairs, S, D)
    frames = decode(model, paths.reshape(-1, paths.shape[2])).reshape(pairs, INTERPOLATION_STEPS, -1)
    steps = np.linalg.norm(np.diff(frames.astype(np.float64), axis=1), axis=2)  # (pairs, S − 1)
    total = np.linalg.norm(frames[:, -1] - frames[:, 0].astype(np.float64), axis=1, keepdims=True)
    relative = steps / np.maximum(total, 1e-6)
    midpoints = 0.5 * (paths[:, 1:] + paths[:, :-1])  # (pairs, S − 1, D)
    stretch = geo.log_magnification(model, midpoints.reshape(-1, paths.shape[2])).reshape(relative.shape)
    per_pair = spearmanr(stretch.max(1), relative.max(1))
    per_segment = spearmanr(stretch.ravel(), relative.ravel())
    return {"pairs": pairs, "steps": INTERPOLATION_STEPS, "max_step_relative_mean": float(relative.max(1).mean()),
            "spearman_pair": float(per_pair.statistic), "spearman_pair_p": float(per_pair.pvalue),
            "spearman_segment": float(per_segment.statistic), "spearman_segment_p": float(per_segment.pvalue)}


def geodesic_ratios(model, codes: np.ndarray, through: np.ndarray) -> dict:
    """Geodesic length over straight-line length (both 16 points, measured finely) for each pair. Each
    geodesic is the shortest path found from several starts (`geo.geodesic_starts`, one bent through
    `through`, the codes' mean): a ratio is an upper bound on the true one."""
    ratios = []
    for z0, z1 in codes:
        path = geo.geodesic(model, z0, z1, steps=GEODESIC_STEPS, through=through)
        line = interpolation_path(z0, z1, GEODESIC_STEPS)
        ratios.append(geo.curve_length(model, path, refine=LENGTH_REFINE) /
                      geo.curve_length(model, line, refine=LENGTH_REFINE))
    q1, median, q3 = np.quantile(ratios, [0.25, 0.5, 0.75])
    return {"pairs": len(ratios), "steps": GEODESIC_STEPS, "length_refine": LENGTH_REFINE,
            "starts": "straight line; bowed by ±0.25 and ±0.5 chord lengths; bowed through the codes' mean; "
                      "the shortest kept (an upper bound on the true ratio)",
            "ratio_median": float(median), "ratio_q1": float(q1), "ratio_q3": float(q3),
            "ratio_min": float(np.min(ratios)), "ratio_max": float(np.max(ratios)),
            "share_shorter": float(np.mean(np.asarray(ratios) < 1.0)), "ratios": [float(r) for r in ratios]}


def measure(bundle, mu: np.ndarray, logvar: np.ndarray | None, pairs: int) -> dict:
    model = bundle.model
    codes = mu[interpolation_pairs(len(mu), pairs)]  # (pairs, 2, D)
    t0 = time.perf_counter()
    out = {"device": describe_device(model.device), **geo.ledger(model, mu, logvar, seed=SEED),
           "stretch_vs_jump": stretch_vs_jump(model, codes)}
    print(f"  {bundle.name}: ledger, units, MMD², holes, stretch in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    t0 = time.perf_counter()
    out["geodesics"] = geodesic_ratios(model, codes, mu.mean(0))
    print(f"  {bundle.name}: {pairs} geodesics in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return out


def _pm(value, error, digits=2) -> str:
    return f"{value:.{digits}f} ± {error:.{digits}f}"


def row(name: str, g: dict) -> str:
    ledger, mmd, holes = g["elbo_surgery"], g["mmd_to_prior"], g["holes"]
    if ledger["defined"]:
        kl = (f"{ledger['expected_kl']:.2f} | {_pm(ledger['mutual_information'], ledger['mutual_information_error'])}"
              f" | {_pm(ledger['marginal_kl'], ledger['marginal_kl_error'])}")
        own = f"{holes['aggregate_posterior']['share']:.1%}"
    else:
        kl, own = "— (point-mass q(z\\|x)) | — | —", "—"
    geo_ratio = g["geodesics"]
    return (f"| {name} | {kl} | {mmd['mmd2']:.5f} ± {mmd['se']:.5f} | {own} | "
            f"{holes['kde_of_means']['share']:.1%} | {g['active_units']['count']}/{len(g['active_units']['active'])} | "
            f"{geo_ratio['ratio_median']:.3f} [{geo_ratio['ratio_q1']:.3f}, {geo_ratio['ratio_q3']:.3f}] | "
            f"{g['stretch_vs_jump']['spearman_pair']:+.2f} / {g['stretch_vs_jump']['spearman_segment']:+.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(NAMES))
    parser.add_argument("--write-latents", action="store_true",
                        help="encode the test set again under the recorded inputs and rewrite latents.npz")
    parser.add_argument("--save", action="store_true", help="write the results into metrics.json")
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (one is faster on a busy machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.write_latents:
        for name in args.names:
            print(write_latents(ROOT / "pretrained" / name), file=sys.stderr)
        return 0
    device = pick_device(args.device)
    torch.backends.cudnn.allow_tf32 = False  # TF32 convolutions would blur the decoded differences
    rows = []
    for name in args.names:
        path = ROOT / "pretrained" / name
        bundle = load_bundle(path, device=device)
        mu, logvar = bundle.latents["mu"], bundle.latents.get("logvar")
        if bundle.model_config.stochastic_encoder and logvar is None:
            raise SystemExit(f"{name}: latents.npz has no logvar; run with --write-latents first")
        geometry = measure(bundle, mu, logvar, args.pairs)
        rows.append(row(name, geometry))
        if args.save:
            metrics = dict(bundle.metrics)
            latent_stats = aggregate_posterior(mu)
            for block in ("evaluation", "claims"):
                if block in metrics:
                    metrics[block] = {**metrics[block], "aggregate_posterior": latent_stats}
            update_metrics(path, {**metrics, "geometry": geometry}, allow_pretrained=True)
    print(f"| model | E[KL] (nats) | I(x; z) (≤ log N = {math.log(10_000):.2f}) | KL(q(z) ‖ p(z)) | "
          "MMD² to prior ± se | prior mass in holes, q(z) | prior mass in holes, KDE of means | active units | "
          "geodesic / line length, median [quartiles] | Spearman: peak stretch vs largest step, per pair / "
          "per segment |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

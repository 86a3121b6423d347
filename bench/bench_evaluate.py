#!/usr/bin/env python
"""The page's "evaluate when done": its time and its memory above the process's resting size.

Prints figures, asserts nothing. Each case runs in a fresh process: it trains a small model the way a
person would from the page (seeded), then resets the kernel's peak-memory mark (/proc/self/clear_refs)
and runs the evaluation, so "peak above rest" is the evaluation's own memory (goal ≤ 1 GB) and
"seconds" its time (the checkbox says about a minute):

  mnist-mlp     MNIST, the 2-D MLP, 1 epoch on 6,000 images
  colour-conv   a user's own colour dataset (1,500 coloured 32×32 shapes, the conv model, d = 2, the
                continuous Bernoulli, 2 epochs): the case that took 265 s and ~10 GB

Columns: the page's evaluation (runs.PAGE_EVALUATION: passes of at most evaluate.PASS_BYTES, the
importance-weighted estimate bounded to 40 s) against, with --before, the evaluation as it was (passes
of 50,000 decodes, no time bound), side by side in one run.

    python bench/bench_evaluate.py [--before] [--cases mnist-mlp colour-conv]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "datasets"  # the workplace copy, as tests/conftest.py finds it
if not os.environ.get("VAE_DATA_DIR") and (SHARED_DATA / "MNIST" / "raw").is_dir():
    os.environ["VAE_DATA_DIR"] = str(SHARED_DATA)  # the cases' processes inherit it
CASES = ("mnist-mlp", "colour-conv")


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_case(case: str, variant: str) -> dict:
    """In this (fresh) process: train, rest, evaluate; the figures as a dict."""
    import numpy as np

    import vae_core as vc
    from vae_core.analysis import evaluate as ev
    from vae_core.training.runs import PAGE_EVALUATION

    tmp = Path(tempfile.mkdtemp())
    if case == "mnist-mlp":
        data = vc.resolve_dataset("mnist")
        model_cfg = vc.ModelConfig(latent_dim=2)
        train_cfg = vc.TrainConfig(epochs=1, train_subset=6000)
    else:
        from vae_core.data.shapes import SHAPE_CLASSES, coloured_shapes

        x, y = coloured_shapes(1500, seed=0)
        np.savez(tmp / "shapes.npz", x_train=x[:1200], y_train=y[:1200], x_test=x[1200:], y_test=y[1200:],
                 class_names=np.array(SHAPE_CLASSES))
        data = vc.resolve_dataset(tmp / "shapes.npz")
        model_cfg = vc.ModelConfig.for_dataset(data, arch="conv", latent_dim=2)
        train_cfg = vc.TrainConfig(dataset=data.name, epochs=2)
    train, test = data.read("train"), data.read("test")
    result = vc.fit(model_cfg, train_cfg, train_split=train, test_split=test)
    options = dict(PAGE_EVALUATION)
    options.pop("iw_seconds") if variant == "before" else None
    if variant == "before":  # passes of 50,000 decodes, as they were
        ev.PASS_BYTES = 50_000 * 4 * ev.decode_floats(result.model)
    Path("/proc/self/clear_refs").write_text("5")  # the peak mark starts again from here
    rest = rss_mb("VmRSS")
    start = time.perf_counter()
    stages: list[tuple[str, float]] = []
    metrics = vc.evaluate_model(result.model, train, test, inputs=vc.run_inputs(model_cfg, train_cfg), **options,
                                progress=lambda m: stages.append((m.split(" (")[0], time.perf_counter())))
    seconds = time.perf_counter() - start
    ends = [t for _, t in stages[1:]] + [start + seconds]
    stage_seconds = {name: round(end - t, 1) for (name, t), end in zip(stages, ends)}
    return {"case": case, "variant": variant, "seconds": seconds, "rest_mb": rest,
            "peak_above_rest_mb": rss_mb("VmHWM") - rest, "iw_images": metrics["iw_nll"]["n"],
            "iw_k": metrics["iw_nll"]["k"], "test_images": metrics["n_test"], "stages": stage_seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", action="store_true", help="also the evaluation as it was (slow: minutes)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--one", nargs=2, metavar=("CASE", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(*args.one)))
        return 0
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    variants = ["page", "before"] if args.before else ["page"]
    rows = []
    for case in args.cases:
        for variant in variants:
            out = subprocess.run([sys.executable, __file__, "--one", case, variant], capture_output=True, text=True,
                                 env={**os.environ, "PYTHONUNBUFFERED": "1"})
            if out.returncode != 0:
                print(f"{case} {variant}: failed\n{out.stderr[-2000:]}")
                continue
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'case':<13}{'evaluation':<12}{'seconds':>9}{'peak above rest (MB)':>22}{'rest (MB)':>11}"
          f"{'IW images (k)':>16}{'test images':>13}")
    for r in rows:
        print(f"{r['case']:<13}{r['variant']:<12}{r['seconds']:>9.1f}{r['peak_above_rest_mb']:>22.0f}"
              f"{r['rest_mb']:>11.0f}{r['iw_images']:>10} ({r['iw_k']}){r['test_images']:>13}")
    print("seconds per stage:")
    for r in rows:
        print(f"  {r['case']} {r['variant']}: " + ", ".join(f"{k} {v}" for k, v in r["stages"].items()))
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""One process with two threads against torchrun's two ranks with one thread each, on this machine.

The same training (MNIST, 2-D MLP VAE, the same seed and global batch) through the CLI both ways,
alternated `--repeats` times so a neighbour's load falls on both alike; prints the steps per second
of each run (from the saved metrics: training time only, not process start) side by side and their
ratio. Asserts nothing.

    python bench/bench_ddp.py [--train-subset 12000] [--epochs 1] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(kind: str, args, models: Path) -> tuple[float, float]:
    """(steps per second while training, wall seconds including process start) of one run."""
    tag = f"run-{time.monotonic_ns()}"
    common = ["train", "--train-subset", str(args.train_subset), "--epochs", str(args.epochs), "--batch-size",
              str(args.batch_size), "--eval-subset", "500", "--tag", tag, "--quiet", "--device", "cpu"]
    env = dict(os.environ, VAE_MODELS_DIR=str(models))
    if kind == "1 process x 2 threads":
        env.update(OMP_NUM_THREADS="2", VAE_THREADS="2")
        cmd = [sys.executable, "-m", "vae_core", *common]
    else:
        env.pop("OMP_NUM_THREADS", None)
        env["VAE_THREADS"] = "1"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
               "-m", "vae_core", *common]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t
    metrics = json.loads((models / tag / "metrics.json").read_text())
    return metrics["steps"] / metrics["train_seconds"], wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-subset", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    kinds = ["1 process x 2 threads", "2 ranks x 1 thread (torchrun, gloo)"]
    rates = {k: [] for k in kinds}
    walls = {k: [] for k in kinds}
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.train_subset} images x "
          f"{args.epochs} epoch(s), global batch {args.batch_size}")
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for kind in kinds:
                rate, wall = run(kind, args, Path(tmp))
                rates[kind].append(rate)
                walls[kind].append(wall)
    print(f"{'':<40}{'steps/s (median)':>18}{'runs':>22}{'wall s':>10}")
    for kind in kinds:
        print(f"{kind:<40}{statistics.median(rates[kind]):>18.1f}{' '.join(f'{r:.1f}' for r in rates[kind]):>22}"
              f"{statistics.median(walls[kind]):>10.1f}")
    ratio = statistics.median(rates[kinds[1]]) / statistics.median(rates[kinds[0]])
    print(f"ratio (2 ranks / 1 process): {ratio:.2f}; load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

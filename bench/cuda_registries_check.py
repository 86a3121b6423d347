#!/usr/bin/env python
"""The registries on a GPU: every objective × prior × likelihood trains, finishes and evaluates on
CUDA, and CUDA agrees with the CPU on the same weights. Needs no dataset files (it makes coloured
shapes). On a machine without CUDA it runs on the CPU and says so.

Usage: python bench/cuda_registries_check.py [--steps 30]
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent

import vae_core as vc
from vae_core.data.shapes import SHAPE_CLASSES, coloured_shapes


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="capture each run's step as a CUDA graph (every objective whose loss does not follow "
                             "the step); a run that falls back to ordinary steps fails")
    args = parser.parse_args()
    device = vc.pick_device("auto")
    print(f"device: {vc.describe_device(device)}; torch {torch.__version__}")
    tmp = Path(tempfile.mkdtemp())
    os.environ["VAE_MODELS_DIR"] = str(tmp / "models")
    x, y = coloured_shapes(600, seed=0)
    np.savez(tmp / "shapes.npz", x_train=x[:500], y_train=y[:500], x_test=x[500:], y_test=y[500:],
             class_names=np.array(SHAPE_CLASSES))
    data = vc.resolve_dataset(tmp / "shapes.npz")
    failures = 0
    combos = [(o, p, lk, a) for o, p, lk, a in itertools.product(vc.OBJECTIVES, vc.PRIORS, vc.LIKELIHOODS, ("mlp", "conv"))
              if not (o == "mmd" and p == "vamp")]
    for objective, prior, likelihood, arch in combos:
        name = f"{objective}/{prior}/{likelihood}/{arch}"
        start = time.perf_counter()
        try:
            model_cfg = vc.ModelConfig.for_dataset(data, objective=objective, prior=prior, likelihood=likelihood,
                                                   arch=arch, hidden=(64,), prior_components=10)
            train_cfg = vc.TrainConfig(dataset=data.name, max_iters=args.steps, batch_size=50, eval_subset=50,
                                       samples=4 if objective == "iwae" else 1, device=device.type,
                                       cuda_graphs=args.cuda_graphs)
            result = vc.fit(model_cfg, train_cfg)
            assert result.ok, result.message
            if args.cuda_graphs and device.type == "cuda" and objective != "annealed":
                assert result.cuda_graph, f"not captured: {result.message}"
            assert next(result.model.parameters()).device.type == device.type
            path = vc.finish_run(result, tmp / "models" / name.replace("/", "-"),
                                 evaluate={"iw_k": 100, "iw_n": 50, "quadrature_grid": 60})
            bundle = vc.load_bundle(path, device=device, dataset=data)
            e = bundle.metrics["evaluation"]
            numbers = [e["test"]["neg_elbo"], e["iw_nll"]["nll"], e["quadrature_nll"]["nll"]]
            assert all(np.isfinite(numbers)), numbers
            assert vc.prior_samples(bundle.model, 4).shape == (4, 32, 32, 3)
            # The same weights on the CPU give the same densities.
            cpu = vc.load_bundle(path, device="cpu").model
            z = torch.randn(16, 2)
            with torch.no_grad():
                a = bundle.model.prior.log_prob(z.to(device)).cpu()
                b = cpu.prior.log_prob(z)
                la = bundle.model.likelihood.log_prob(bundle.model.decode(z.to(device)),
                                                      torch.rand(16, 3, 32, 32, device=device)).cpu()
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3)
            assert torch.isfinite(la).all()
            graph = " graph" if result.cuda_graph else ""
            print(f"ok   {name:34s}{graph} {time.perf_counter() - start:5.1f} s  −ELBO {numbers[0]:9.1f}  "
                  f"IW {numbers[1]:9.1f}  quad {numbers[2]:9.1f}")
        except Exception as exc:  # report every combination, then fail at the end
            failures += 1
            print(f"FAIL {name:34s} {type(exc).__name__}: {exc}")
    print(f"{len(combos) - failures} of {len(combos)} combinations passed on {device}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""The GPU path's figures, printed side by side (asserts nothing); bench/gpu_check.sh runs it.

  (a) one MNIST epoch (60,000 images, batch 128) of the 2-D MLP VAE with the whole training set on
      the device, fp32 and bf16 autocast (goal on an H100/H200-class GPU: < 0.5 s per epoch);
  (b) the same for the conv architecture;
  (c) decoding the 20×20 manifold grid, and encoding the 10,000 test images, in one call each;
  (d) bf16 against fp32 on the test −ELBO after the same short training (same seed), both architectures;
  (e) where an MLP epoch goes: fit's epoch against a bare loop of the same steps, eager and compiled.

Each epoch is timed after a warm-up epoch, with the device synchronised at its ends only (the loop
itself never waits for the device). On a machine without CUDA it runs on the CPU with --quick's
sizes and says so.

    python bench/bench_gpu.py [--epochs-elbo 5] [--quick] [--data-dir DIR]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent

import vae_core as vc  # noqa: E402
from vae_core.analysis import explore  # noqa: E402


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def epoch_seconds(model_cfg, train_cfg, train, test, device) -> float:
    """Seconds of the second of two epochs (the first warms up kernels and the allocator)."""
    marks = []

    def on_progress(p):
        if p.test is not None:  # an epoch's end
            sync(device)
            marks.append(time.perf_counter())

    sync(device)
    try:
        result = vc.fit(model_cfg, train_cfg.replace(epochs=2), train_split=train, test_split=test,
                        callback=on_progress, report_seconds=3600)
    except Exception as exc:  # a figure missing, with its reason; the rest still measured
        print(f"  ({model_cfg.arch}, {train_cfg.precision}, graphs {train_cfg.cuda_graphs}: "
              f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
        return float("nan")
    assert result.ok, result.message
    if train_cfg.cuda_graphs and device == "cuda" and not result.cuda_graph:
        print(f"  (no CUDA graph: {result.message})")
    return marks[1] - marks[0]


def latency_ms(fn, device: str, repeats: int = 20) -> float:
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def step_floor(train, device: str, steps: int):
    """(name, seconds) for `steps` optimiser steps of the 2-D MLP without fit's bookkeeping: what an
    epoch would cost if the loop added nothing, eager and (where it works) under torch.compile."""
    torch.manual_seed(0)
    cfg = vc.ModelConfig(latent_dim=2)
    images = train.images[:steps * 128].to(device)
    batches = [vc.data.binarize(vc.data.to_float(images[i * 128:(i + 1) * 128])) for i in range(steps)]
    objective = vc.make_objective("standard", vc.TrainConfig(), total_steps=steps)

    def epoch(step_fn) -> float:
        sync(device)
        t = time.perf_counter()
        for x in batches:
            step_fn(x)
        sync(device)
        return time.perf_counter() - t

    def make_step(model, loss_fn):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=device == "cuda")

        def one(x):
            loss = loss_fn(x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return one

    model = vc.build_model(cfg, torch.device(device)).train()
    eager = make_step(model, lambda x: objective.loss(model, x).total)
    epoch(eager)  # warm-up
    yield "bare eager steps (one epoch)", epoch(eager)
    for mode in ("default", "reduce-overhead"):  # reduce-overhead replays CUDA graphs
        if mode != "default" and device != "cuda":
            continue
        try:
            model = vc.build_model(cfg, torch.device(device)).train()
            compiled_loss = torch.compile(lambda x, m=model: objective.loss(m, x).total, mode=mode)
            step = make_step(model, compiled_loss)
            t = time.perf_counter()
            step(batches[0])
            step(batches[1])
            sync(device)
            yield f"torch.compile ({mode}): the first two steps", time.perf_counter() - t
            yield f"torch.compile ({mode}): steps after that (one epoch)", epoch(step)
        except Exception as exc:  # a figure, not a failure: say why it is missing
            print(f"torch.compile ({mode}): not measured ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs-elbo", type=int, default=5, help="epochs of the fp32/bf16 comparison (d)")
    parser.add_argument("--quick", action="store_true", help="a 6,000-image subset (the CPU's default)")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    quick = args.quick or device == "cpu"
    subset = 6000 if quick else None
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (no CUDA device: a smoke run, not GPU figures)"
    print(f"device: {name}; torch {torch.__version__}; vae_core {vc.__version__}"
          + (f"; subset of {subset} training images" if subset else ""))
    train = vc.load_split("mnist", "train", data_dir=args.data_dir)
    test = vc.load_split("mnist", "test", data_dir=args.data_dir)
    run = vc.TrainConfig(batch_size=128, eval_subset=1000, device=device, train_subset=subset, schedule="constant")

    print("\n(a, b) one epoch, whole training set on the device (seconds; goal for the MLP on a GPU < 0.5);\n"
          "       kernels launched one by one (the default) against the step captured as a CUDA graph (--cuda-graphs)")
    print(f"{'architecture':<14}{'fp32':>10}{'bf16':>10}{'fp32, graph':>14}{'bf16, graph':>14}")
    for arch in ("mlp", "conv"):
        cfg = vc.ModelConfig(arch=arch, latent_dim=2)
        row = [epoch_seconds(cfg, run.replace(precision=p, cuda_graphs=g), train, test, device)
               for g in (False, True) for p in ("fp32", "bf16")]
        print(f"{arch:<14}{row[0]:>10.3f}{row[1]:>10.3f}{row[2]:>14.3f}{row[3]:>14.3f}")

    print("\n(c) the page's batched calls (ms, median of 20)")
    print(f"{'architecture':<14}{'20×20 grid':>12}{'encode 10,000':>16}")
    for arch in ("mlp", "conv"):
        torch.manual_seed(0)
        model = vc.build_model(vc.ModelConfig(arch=arch, latent_dim=2), torch.device(device)).eval()
        z = explore.grid_points(explore.grid_axis(20), explore.grid_axis(20))
        grid = latency_ms(lambda: vc.decode(model, z), device)
        encode = latency_ms(lambda: vc.encode_means(model, test.images), device, repeats=5)
        print(f"{arch:<14}{grid:>12.2f}{encode:>16.1f}")

    print(f"\n(d) test −ELBO (nats, 10,000 test images) after {args.epochs_elbo} epochs, same seed")
    print(f"{'architecture':<14}{'precision':<11}{'graph':<7}{'−ELBO':>9}{'seconds':>10}")
    for arch in ("mlp", "conv"):
        for precision, graph in (("fp32", False), ("bf16", False), ("fp32", True), ("bf16", True)):
            cfg = vc.ModelConfig(arch=arch, latent_dim=2)
            t = time.perf_counter()
            try:
                result = vc.fit(cfg, run.replace(epochs=args.epochs_elbo, precision=precision, eval_subset=10000,
                                                 cuda_graphs=graph), train_split=train, test_split=test)
            except Exception as exc:
                print(f"{arch:<14}{precision:<11}{'asked':<7} failed: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            seconds = time.perf_counter() - t
            final = [r for r in result.history if r["split"] == "test"][-1]
            print(f"{arch:<14}{precision:<11}{'yes' if result.cuda_graph else 'no':<7}{final['total']:>9.2f}"
                  f"{seconds:>10.1f}")

    print("\n(e) where an MLP epoch goes: fit's epoch against the bare step loop (same steps, no reports, "
          "no reads), and torch.compile's step (seconds)")
    steps = len(train.subset(subset)) // 128
    for name, seconds in step_floor(train, device, steps):
        print(f"{name:<48}{seconds:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

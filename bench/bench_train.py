"""Training throughput of vae_core on this machine, against the arithmetic bound.

Prints figures, asserts nothing:

  (a) fp32 matmul GFLOP/s (2048x2048, best of several): the CPU's practical peak;
  (b) FLOPs per training step of the 784-512-512-512-2 MLP VAE at batch 128, the
      lower bound they imply for one epoch (60,000 training steps' worth of
      images + a 10,000-image test forward pass), the epoch time vae_core.training.loop
      achieves (flushed denormals, fused Adam), and their ratio (goal ≤ 1.5, issue 18; it was 1.3);
  (c) the 784-400-20 VAE: vae_core's in-memory loop vs the pytorch/examples-style
      per-sample Dataset + DataLoader loop (PIL image -> float tensor per item)
      on the same images, images per second side by side (goal ≥ 3x);
  (d) decoding the 20x20 grid in one batch, encoding the 10,000 test images in one pass.

FLOP count (stated, not measured): a Linear layer n_in -> n_out costs n_in·n_out
multiply-adds (MACs) per image, 2 FLOPs each. Forward = 2·MACs·B. Backward ≈ 2x
forward (gradients with respect to inputs and to weights, one matmul each), so one
training step ≈ 3 x forward = 6·MACs·B. Biases, activations, the loss, the
reparameterisation and Adam's update are O(params + B·width) and left out, which
only makes the bound lower (stricter).

    python bench/bench_train.py            # full: one real epoch per measurement (a few minutes)
    python bench/bench_train.py --quick    # fewer steps (about 1-2 minutes)
    python bench/bench_train.py --quick --threads 1   # on a CPU busy with other work

The matmul rate is measured with the same thread count as the training, so the
ratio compares like with like.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "datasets"  # the workplace copy, as tests/conftest.py finds it
if not os.environ.get("VAE_DATA_DIR") and (SHARED_DATA / "MNIST" / "raw").is_dir():
    os.environ["VAE_DATA_DIR"] = str(SHARED_DATA)

from vae_core import ModelConfig, TrainConfig, build_model, encode_means, load_split, make_objective  # noqa: E402
from vae_core import manifold_grid  # noqa: E402
from vae_core import fit as train  # noqa: E402

BIG = ModelConfig(hidden=(512, 512, 512), latent_dim=2)  # the DIANNE example
SMALL = ModelConfig(hidden=(400,), latent_dim=20)  # pytorch/examples vae/main.py
BATCH = 128


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def macs_per_image(cfg: ModelConfig) -> int:
    """Multiply-adds of one forward pass (encoder + decoder Linear layers) for one image."""
    d = cfg.latent_dim
    enc = [784, *cfg.hidden, 2 * d]
    dec = [d, *reversed(cfg.hidden), 784]
    return sum(a * b for a, b in zip(enc[:-1], enc[1:])) + sum(a * b for a, b in zip(dec[:-1], dec[1:]))


def warm_up(train_split, test_split) -> None:
    """First-call costs (the fused Adam kernel imports torch._dynamo, ~2 s) stay out of the timings."""
    train(ModelConfig(hidden=(16,)), TrainConfig(max_iters=2, batch_size=64, eval_subset=0),
          train_split=train_split, test_split=test_split)


def bench_epoch(train_split, test_split, n_train: int, n_test: int) -> float:
    cfg = TrainConfig(epochs=1, batch_size=BATCH, train_subset=n_train, eval_subset=n_test, seed=0)
    result = train(BIG, cfg, train_split=train_split, test_split=test_split, report_seconds=1e9)
    assert result.ok, result.message
    return result.seconds


class PerSampleMNIST(torch.utils.data.Dataset):
    """What torchvision's MNIST + ToTensor do per item: uint8 array -> PIL image -> float tensor."""

    def __init__(self, images: np.ndarray):
        self.images = images  # (N, 28, 28) uint8

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        img = Image.fromarray(self.images[i], mode="L")
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).unsqueeze(0)  # (1, 28, 28)
        return x, 0


def bench_dataloader_loop(images: np.ndarray) -> float:
    """The pytorch/examples loop: DataLoader(shuffle=True), Adam, the same model and loss. Images/s."""
    torch.set_flush_denormal(False)  # as the example runs
    torch.manual_seed(0)
    model = build_model(SMALL)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = make_objective("standard", TrainConfig())
    loader = torch.utils.data.DataLoader(PerSampleMNIST(images), batch_size=BATCH, shuffle=True, num_workers=0)
    model.train()
    start = time.perf_counter()
    for x, _ in loader:
        opt.zero_grad()
        loss(model, x).total.backward()
        opt.step()
    seconds = time.perf_counter() - start
    torch.set_flush_denormal(True)
    return len(images) / seconds


def bench_vae_core_loop(train_split, test_split, n: int) -> float:
    cfg = TrainConfig(epochs=1, batch_size=BATCH, train_subset=n, eval_subset=0, seed=0, schedule="constant")
    result = train(SMALL, cfg, train_split=train_split, test_split=test_split, report_seconds=1e9)
    return n / result.seconds


def best_of(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps: about 1-2 minutes")
    parser.add_argument("--data-dir", help="folder holding MNIST/raw (default $VAE_DATA_DIR)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for every measurement (default: torch's choice). On a CPU "
                             "shared with another job, 1 thread avoids OpenMP oversubscription, which was "
                             "measured 4x slower per step (99 vs 23 ms) with 2 threads on 2 busy cores")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs for (b) and (c)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    n_train = 25_600 if args.quick else 60_000  # 200 vs 469 steps at batch 128
    n_test = 2_000 if args.quick else 10_000
    n_loader = 12_800 if args.quick else 60_000

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {load:.2f} at start{'  [--quick]' if args.quick else ''}")
    train_split = load_split("mnist", "train", data_dir=args.data_dir, download=False)
    test_split = load_split("mnist", "test", data_dir=args.data_dir, download=False)
    warm_up(train_split, test_split)

    rows: list[tuple[str, str]] = []

    # (a) the CPU's matmul rate
    gflops = matmul_gflops()
    rows.append((f"(a) fp32 matmul 2048x2048, best of 5, {torch.get_num_threads()} thread(s)",
                 f"{gflops:,.1f} GFLOP/s"))

    # (b) the bound and the achieved epoch
    macs = macs_per_image(BIG)
    step_flops = 6 * macs * BATCH
    epoch_flops = 6 * macs * 60_000 + 2 * macs * 10_000
    run_flops = 6 * macs * n_train + 2 * macs * n_test
    bound_epoch = epoch_flops / (gflops * 1e9)
    bound_run = run_flops / (gflops * 1e9)
    seconds = min(bench_epoch(train_split, test_split, n_train, n_test) for _ in range(args.repeats))
    epoch_est = seconds * epoch_flops / run_flops
    rows += [
        ("(b) model 784-512-512-512-2 (standard VAE)", f"{sum(p.numel() for p in build_model(BIG).parameters()):,} parameters"),
        ("    MACs per image, forward", f"{macs:,}"),
        ("    FLOPs per step at batch 128 (6·MACs·B)", f"{step_flops / 1e9:.2f} GFLOP"),
        ("    FLOPs per epoch (60k train + 10k test fwd)", f"{epoch_flops / 1e12:.3f} TFLOP"),
        ("    lower bound for one epoch", f"{bound_epoch:.2f} s"),
        (f"    vae_core.training.loop: {n_train:,} train + {n_test:,} test, best of {args.repeats}", f"{seconds:.2f} s "
                                                                              f"(bound {bound_run:.2f} s)"),
        ("    achieved epoch time" + (" (scaled from the run)" if args.quick else ""), f"{epoch_est:.2f} s"),
        ("    achieved / bound (goal ≤ 1.5)", f"{seconds / bound_run:.2f}x"),
    ]

    # (c) in-memory loop vs per-sample DataLoader, 784-400-20
    ours = theirs = 0.0
    for _ in range(args.repeats):  # interleaved, best of each: a busy CPU slows both alike
        ours = max(ours, bench_vae_core_loop(train_split, test_split, n_loader))
        theirs = max(theirs, bench_dataloader_loop(train_split.images[:n_loader].squeeze(1).numpy()))
    rows += [
        (f"(c) model 784-400-20, {n_loader:,} images, batch 128", ""),
        ("    vae_core in-memory loop", f"{ours:,.0f} images/s"),
        ("    per-sample Dataset + DataLoader loop", f"{theirs:,.0f} images/s"),
        ("    speed-up (goal ≥ 3)", f"{ours / theirs:.2f}x"),
    ]

    # (d) latent-space tools on the big model
    model = build_model(BIG).eval()
    grid_s = best_of(lambda: manifold_grid(model, 20), 5)
    enc_s = best_of(lambda: encode_means(model, test_split.images, batch_size=10_000), 3)
    rows += [
        ("(d) decode the 20x20 grid (one batch of 400)", f"{grid_s * 1e3:.1f} ms"),
        ("    encode 10,000 test images (one pass)", f"{enc_s * 1e3:.1f} ms"),
    ]

    width = max(len(name) for name, _ in rows) + 2
    print("-" * (width + 28))
    for name, value in rows:
        print(f"{name:<{width}}{value}")
    print("-" * (width + 28))
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load_end:.2f} at the end (above ~{os.cpu_count()} means the CPU was shared)")


if __name__ == "__main__":
    main()

"""Where a training step's time goes: torch.profiler over 50 steps of the default 2-D MLP VAE at batch
128 (binarise, loss, backward, fused Adam), operators by their own CPU time. Prints, asserts nothing.

    python bench/profile_step.py [--steps 50] [--rows 15]
"""
from __future__ import annotations

import argparse
import os

import torch
from torch.profiler import ProfilerActivity, profile

import vae_core as vc
from vae_core.data import binarize
from vae_core.objectives import make_objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rows", type=int, default=15)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = vc.build_model(vc.ModelConfig(), torch.device("cpu")).train()
    objective = make_objective("standard", vc.TrainConfig())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    x, g = torch.rand(128, 1, 28, 28), torch.Generator().manual_seed(0)

    def step() -> None:
        parts = objective.loss(model, binarize(x, g), 0)
        opt.zero_grad(set_to_none=True)
        parts.total.backward()
        opt.step()

    for _ in range(10):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    matmul = sum(e.self_cpu_time_total for e in events if e.key in ("aten::mm", "aten::addmm", "aten::bmm"))
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {torch.get_num_threads()} threads; "
          f"{args.steps} steps; {total / args.steps / 1e3:.1f} ms of operator time a step; "
          f"matmuls {matmul / total:.0%} of it")
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()

"""The global batch of a data-parallel step, seen from the math: which rows of it this rank holds.

Under torchrun (`vae_core.training.distributed`) every rank holds a `Shard` of each global batch. A
draw made per image (ε of the reparameterisation) is made for the whole global batch and sliced
(`global_rows`), and a term computed on the whole batch (the MMD-VAE's MMD²) gathers the codes of
every rank with gradient (`gather_rows`), so N ranks compute what one process would. In one process
no shard is active and both are no-ops. This module sits below the densities and the objectives, and
imports nothing of the package but `lazy` (torch on first use).
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

from .lazy import dist, torch


@dataclass(frozen=True)
class Shard:
    """This rank's rows of one global batch: rows [offset, offset + size) of `total`."""

    offset: int
    size: int
    total: int
    sizes: tuple[int, ...]  # every rank's size, in rank order

    @property
    def weight(self) -> float:
        """The factor on this rank's batch-mean loss that makes DDP's average the global mean."""
        return len(self.sizes) * self.size / self.total

    def take(self, x: torch.Tensor, dim: int = 0) -> torch.Tensor:
        return x.narrow(dim, self.offset, self.size)


def shard_sizes(total: int, world: int) -> tuple[int, ...]:
    base, extra = divmod(total, world)
    return tuple(base + (1 if r < extra else 0) for r in range(world))


_ACTIVE: Shard | None = None  # the shard of the step being computed (set by World.step)


def global_rows(local: int) -> tuple[int, int] | None:
    """(global batch size, this rank's first row) while a sharded step runs, else None.

    A draw made per image (ε of the reparameterisation, any objective's per-image noise) is made
    for all `global` rows and sliced from `offset`, so it equals the one-process draw."""
    shard = _ACTIVE
    if shard is None:
        return None
    if local != shard.size:
        raise RuntimeError(f"a per-image draw for {local} rows while this rank's shard has {shard.size}: draw "
                           "for the batch the objective was given")
    return shard.total, shard.offset


def _gather_forward(ctx, x: torch.Tensor, shard: Shard) -> torch.Tensor:
    ctx.shard = shard
    biggest = max(shard.sizes)
    padded = x.new_zeros((biggest, *x.shape[1:]))
    padded[:x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in shard.sizes]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:n] for p, n in zip(parts, shard.sizes)])


def _gather_backward(ctx, grad: torch.Tensor):
    grad = grad.contiguous()
    dist.all_reduce(grad)
    return ctx.shard.take(grad), None


@functools.cache
def _gather_rows_function() -> type:
    """all_gather of (b_r, ...) rows into the global (B, ...) batch; backward sums the ranks'
    gradients of the gathered batch (all_reduce) and hands each rank its own rows. An autograd
    Function subclasses torch's, so it is made on first use (vae_core.lazy: no torch at import)."""
    return type("_GatherRows", (torch.autograd.Function,), {
        "forward": staticmethod(_gather_forward), "backward": staticmethod(_gather_backward)})


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """The global batch's rows of a per-image tensor (codes): this rank's `x` in one process.

    Under torchrun an all_gather with gradient: a loss term computed on the result (the MMD-VAE's
    MMD² between the codes and prior draws) is the term of the whole global batch, and its gradient
    reaches every rank's codes as in one process (see the module docstring)."""
    shard = _ACTIVE
    if shard is None:
        return x
    return _gather_rows_function().apply(x, shard)


@contextlib.contextmanager
def active(shard: Shard):
    """While a sharded step runs: per-image draws and gathers see this rank's shard."""
    global _ACTIVE
    previous, _ACTIVE = _ACTIVE, shard
    try:
        yield
    finally:
        _ACTIVE = previous

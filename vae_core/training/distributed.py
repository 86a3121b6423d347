"""Data-parallel training under torchrun: one model, N processes ("ranks"), DistributedDataParallel.

`torchrun --nproc-per-node N -m vae_core train …` starts N copies of the CLI with RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT set. `setup()` sees them and joins the process group: gloo
on the CPU, NCCL on CUDA (rank r on GPU LOCAL_RANK). In a plain process (or WORLD_SIZE 1) it returns
the one-process `World`, and every hook below is a no-op, so `python -m vae_core train` runs exactly
as before: no process group, no wrapper, no extra work per step.

The global batch. `batch_size` is the batch of the whole group. Every rank holds the whole training
set (whole-split tensors), draws the same seeded permutation, and takes its rows of each global
batch (`Shard`; the sizes differ by at most one). Every random draw of a step is made for the global
batch and then sliced, so each image meets the randomness it would meet in one process:
- the binarisation: the loop binarises the global batch with the data generator, then slices it;
- ε of the reparameterisation: `densities.reparameterize` asks `shards.global_rows` and draws for all rows;
- draws that are not per image (the MMD term's prior samples) come out alike on every rank, since
  every rank's generators are seeded alike and draw alike.
The gradient. DDP averages the ranks' gradients; each rank's loss is weighted by N·b_r/B (1 when the
shards are equal), so the average is the gradient of the global batch's mean. A term computed on
the whole batch — the MMD term, on codes gathered from every rank with `shards.gather_rows`, whose backward
sums the ranks' gradients — gets the same weights, which sum to N, so it too comes out as in one
process. So N ranks give the weights of one process with the same seed, up to the order of
floating-point sums (tests/test_distributed.py: within 1e-4 after 40 steps).

Rank 0 alone evaluates, writes snapshots, resume checkpoints and the model. Evaluation draws from the
global generator, so rank 0 then hands its generator states to the others (`sync_rng`). Reports
(progress, the train metrics summed over ranks, the NaN guard, a cancel) fall on the same steps on
every rank (`report_every`), since each is a collective.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from .. import shards
from ..errors import ConfigError
from ..objectives.base import LossParts
from ..shards import Shard, shard_sizes
from .runtime import pick_device

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
REPORTS_PER_EPOCH = 20  # under torchrun: progress and the NaN check every 1/20 epoch (fixed steps, not seconds)


def launched_by_torchrun() -> bool:
    """Whether this process is one rank of a torchrun group (its environment variables are set)."""
    return all(k in os.environ for k in TORCHRUN_ENV)


def restart_count() -> int:
    """How often torchrun has restarted this group (--max-restarts): > 0 means resume if possible."""
    try:
        return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    except ValueError:
        return 0


class _LossModule(nn.Module):
    """The objective as a module, so DistributedDataParallel wraps one forward: the loss."""

    def __init__(self, model: nn.Module, objective):
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        # A dict of tensors, which DDP looks inside to hook the backward pass (its gradients' all-reduce):
        # an object it cannot look inside (LossParts) left each rank with its own gradients.
        return self.objective.loss(self.model, x, step).named()


@dataclass(frozen=True)
class World:
    """The process group this process trains in (one process: rank 0 of 1, no backend)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> dict:
        """What a saved run records: {"world_size": N, "backend": "gloo" | "nccl" | None}."""
        return {"world_size": self.size, "backend": self.backend}

    # --- hooks of the training loop (no-ops in one process) ---------------------------------

    def check_batches(self, n: int, batch_size: int) -> None:
        """Every rank needs at least one image of every global batch (the last one may be short)."""
        if not self.distributed:
            return
        last = n % batch_size or batch_size
        if min(batch_size, last) < self.size:
            raise ConfigError(f"with {self.size} ranks every batch needs at least {self.size} images, but "
                              f"{'the last batch of each epoch' if last < batch_size else 'a batch'} has "
                              f"{min(batch_size, last)} ({n} training images, batch_size {batch_size}): choose "
                              "another batch_size or train_subset")

    def loss_function(self, model: nn.Module, objective):
        """`loss(x, step) -> LossParts`: the objective itself, or its DDP-wrapped module."""
        if not self.distributed:
            return lambda x, step: objective.loss(model, x, step)
        cuda = self.device.type == "cuda"
        ddp = nn.parallel.DistributedDataParallel(
            _LossModule(model, objective), device_ids=[self.device.index] if cuda else None,
            forward_sync_buffers=False,  # every rank's buffers are equal already (seeded alike)
            # The same parameters take part in every step; some may take no part at all (a mixture
            # prior's weights get no gradient from the MMD term): a static graph handles both without
            # searching the autograd graph at every step, as find_unused_parameters would.
            static_graph=True,
            gradient_as_bucket_view=True)
        return lambda x, step: LossParts(**ddp(x, step))

    def shard(self, total: int) -> Shard | None:
        if not self.distributed:
            return None
        sizes = shard_sizes(total, self.size)
        return Shard(sum(sizes[:self.rank]), sizes[self.rank], total, sizes)

    def step(self, shard: Shard | None):
        """Context of one step's loss: per-image draws and gathers see this rank's shard."""
        if shard is None:
            return contextlib.nullcontext()
        return shards.active(shard)

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        """In place: the sum over ranks."""
        if self.distributed:
            dist.all_reduce(t)
        return t

    def any(self, flag: bool) -> bool:
        """Whether any rank says so (a cancel seen by one rank stops them all at the same step)."""
        if not self.distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t)
        return bool(t.item() > 0)

    def sync_rng(self) -> None:
        """Every rank takes rank 0's global generator states (rank 0 alone drew for evaluation)."""
        if not self.distributed:
            return
        cpu = _on(torch.get_rng_state(), self.device)  # NCCL broadcasts device tensors only
        dist.broadcast(cpu, 0)
        torch.set_rng_state(cpu.cpu())  # the broadcast copy (on CUDA, not the state it was made from)
        if self.device.type == "cuda":
            state = _on(torch.cuda.get_rng_state(self.device), self.device)
            dist.broadcast(state, 0)
            torch.cuda.set_rng_state(state.cpu(), self.device)


def _on(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    return t.to(device) if device.type == "cuda" else t


_WORLD: World | None = None


def setup(device: str = "auto") -> World:
    """The world this process trains in; under torchrun, joins the process group (once)."""
    global _WORLD
    if _WORLD is not None:
        return _WORLD
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) <= 1:
        return World(device=pick_device(device))  # nothing to remember: a plain process
    rank, size, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    where = pick_device(device)
    if where.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ConfigError(f"rank {rank} has LOCAL_RANK {local} but this host has {torch.cuda.device_count()} "
                              "GPU(s): start at most one rank per GPU (--nproc-per-node)")
        where = torch.device("cuda", local)
        torch.cuda.set_device(where)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        device_id = where if where.type == "cuda" else None
        if restart_count() > 0:  # a restarted group: keys of its own (see _attempt_store)
            dist.init_process_group(backend, store=_attempt_store(rank, size), rank=rank, world_size=size,
                                    device_id=device_id)
        else:  # torchrun's env:// as it comes
            dist.init_process_group(backend, device_id=device_id)
    _WORLD = World(rank=rank, size=size, local_rank=local, backend=backend, device=where)
    return _WORLD


def _attempt_store(rank: int, size: int) -> dist.Store:
    """torchrun's store for this group, with keys of its own for each restart of the group.

    torchrun keeps one store across the restarts of --max-restarts; without a prefix per attempt, a
    restarted rank can read the address its peer published in the attempt before (that process is
    dead) before the peer publishes the new one, and gloo's connect is refused (seen in 5 of 5 runs
    here). The store is the one `init_process_group("env://")` would open: the agent's when torchrun
    says to use it, else one hosted by rank 0."""
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    base = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), size,
                         is_master=not agent and rank == 0, timeout=timedelta(minutes=10), multi_tenant=not agent,
                         wait_for_workers=False)
    return dist.PrefixStore(f"vae_core/attempt_{restart_count()}", base)


def shutdown(*, together: bool = False) -> None:
    """Leave the process group (the CLI calls it when a rank is done).

    `together`: wait for every rank first (a run that ended normally on every rank). A rank that tore
    its group down while rank 0 was still saving aborted at exit now and then ("terminate called
    without an active exception": 2 runs in 24 here, 0 in 16 with the wait). Not after an error: the
    other ranks may be inside a collective that would never match the wait."""
    global _WORLD
    if dist.is_available() and dist.is_initialized():
        if together:
            dist.barrier()
        dist.destroy_process_group()
    _WORLD = None

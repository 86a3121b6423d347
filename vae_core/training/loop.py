"""A training run: set up once, then the loop (whole dataset on the device, progress callbacks,
NaN guard, cancel).

`setup_run` is the one place a run starts: what is refusable (bad values, a model that does not
fit the data, a batch larger than the data, a resume under other settings) is refused there,
before the first step, and the model is built there. `train` never raises for what happens
during training: divergence and cancel come back as a status with the last good weights, so a
caller (the page, the CLI) always has a model to show and a message to print. `fit` is both in one
call. `vae_core.training.runs.finish_run` then evaluates and saves the result.

`train` reads top to bottom; each of its collaborators does one job: `Batches` (the images, their
order and binarisation draws), `TrainStep` (one optimiser step, ordinary or a replayed CUDA graph),
`DivergenceGuard` (the loss parts on the device, the weights to fall back on), `Reporter` (history
and callback), `CancelCheck` (the caller's cancel), `EpochEnd` (test loss, formation, snapshots),
`resume.Checkpointer` (the resume checkpoint) and `Ending` (how the run ended, and what to say).
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import distributed
from ..config import ConfigError, ModelConfig, TrainConfig, binarizes, check_compatible, run_inputs
from ..data import Dataset, Inputs, Split, binarize, eval_inputs, resolve_dataset, to_float
from ..analysis.formation import Formation
from ..model.networks import VAE, build_model
from ..objectives import OBJECTIVES, Objective, make_objective
from ..shards import Shard
from .resume import Checkpointer, ResumeState, check_same_run
from .runtime import Pacer, configure_cpu_numerics

COMPLETED, CANCELLED, DIVERGED = "completed", "cancelled", "diverged"


@dataclass(frozen=True)
class Progress:
    """What the callback sees, at most every `report_seconds` and at each epoch's end."""

    step: int
    total_steps: int
    epoch: float  # fractional epochs done
    elapsed: float  # seconds
    train: dict[str, float]  # mean loss parts since the last report
    test: dict[str, float] | None = None  # loss parts on the test subset (epoch ends only)
    rate: float | None = None  # steps/s over the last few seconds (runtime.Pacer)

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps if self.total_steps else 1.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the recent rate (a slowdown shows within seconds), else at the rate so far."""
        if self.rate:
            return (self.total_steps - self.step) / self.rate
        return self.elapsed * (1 - self.fraction) / self.fraction if self.fraction > 0 else None


@dataclass
class TrainResult:
    model: VAE
    model_config: ModelConfig
    train_config: TrainConfig
    status: str  # completed, cancelled or diverged
    message: str
    steps: int
    epochs: float
    seconds: float
    history: list[dict] = field(default_factory=list)  # rows: split, step, epoch, elapsed, loss parts
    dataset: Dataset | None = None  # the record of the data it was trained on
    world: dict = field(default_factory=lambda: {"world_size": 1, "backend": None})  # torchrun's group, if any
    resumed_at: list[int] = field(default_factory=list)  # the steps this run was resumed at
    formation: Formation | None = None  # the codes kept per epoch, saved as formation.npz
    cuda_graph: bool = False  # its full batches were replayed as a captured CUDA graph (GraphedStep)

    @property
    def ok(self) -> bool:
        return self.status == COMPLETED


@dataclass(frozen=True)
class Ending:
    """How a run ended: its status, the step it ended at and the message to show."""

    status: str  # completed, cancelled or diverged
    step: int
    message: str

    @classmethod
    def completed(cls, step: int, steps_per_epoch: int, seconds: float) -> Ending:
        return cls(COMPLETED, step, f"trained {step} steps ({step / steps_per_epoch:.2f} epochs) in {seconds:.1f} s")

    @classmethod
    def cancelled(cls, step: int, total_steps: int) -> Ending:
        return cls(CANCELLED, step, f"cancelled at step {step} of {total_steps}")

    @classmethod
    def diverged(cls, step: int, loss: float, good_step: int) -> Ending:
        return cls(DIVERGED, step, f"training diverged at step {step} (loss {loss}); kept the weights from step "
                                   f"{good_step}. Try a smaller learning rate.")


def _optimizer(model: VAE, cfg: TrainConfig, *, graphed: bool = False) -> torch.optim.Optimizer:
    """Adam (fused: the kernel cut the CPU epoch from 6.9 s to 5.3 s) or SGD. `graphed`: the step will be
    captured as a CUDA graph, so the optimiser keeps its step count and learning rate on the device."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    if graphed:
        lr = torch.tensor(cfg.lr, device=model.device)
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True, capturable=True)
    try:
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)


def _set_lr(opt: torch.optim.Optimizer, value: float) -> None:
    """Every group's learning rate: a capturable optimiser's in place, as a tensor on its parameters'
    device (a captured step reads it there; one restored from a checkpoint may bring a CPU tensor, set
    right before any capture), any other's as a float."""
    for group in opt.param_groups:
        lr = group["lr"]
        if not group.get("capturable"):
            group["lr"] = value
        elif isinstance(lr, torch.Tensor) and lr.device == group["params"][0].device:
            lr.fill_(value)
        else:
            group["lr"] = torch.tensor(value, device=group["params"][0].device)


class GraphedStep:
    """The whole training step (the loss, its backward, the optimiser's update) captured once as a CUDA
    graph and replayed for every full batch: a small model's step is otherwise bound by launching its
    hundred-odd kernels one at a time from Python (the 2-D MLP: 3.2 ms a step, 1.45 s an epoch, on an
    H200). The first `WARMUP` steps run as usual (CUDA's libraries set themselves up), the next is
    captured; a batch of another size (an epoch's last) runs as usual between replays. Used on one
    CUDA device, for objectives whose loss does not depend on the step, unless `cuda_graphs` is off;
    a capture that fails leaves the run on ordinary steps and says so."""

    WARMUP = 3

    def __init__(self, loss_of, opt: torch.optim.Optimizer, amp):
        self.loss_of, self.opt, self.amp = loss_of, opt, amp
        self.graph: torch.cuda.CUDAGraph | None = None
        self.x: torch.Tensor | None = None
        self.row: torch.Tensor | None = None
        self.names: list[str] = []
        self.eager_steps, self.failed = 0, None

    @staticmethod
    def applies(run: "RunSetup", objective: Objective) -> bool:
        cfg = run.train_config
        return (run.device.type == "cuda" and not run.world.distributed and cfg.cuda_graphs
                and cfg.optimizer == "adam" and not objective.step_dependent)

    def ready(self, x: torch.Tensor) -> bool:
        """Whether this batch can be replayed (capturing it first, once warm)."""
        if self.failed is not None:
            return False
        if self.graph is not None:
            return x.shape == self.x.shape
        if self.eager_steps < self.WARMUP:
            return False
        generator = torch.cuda.default_generators[x.device.index if x.device.index is not None
                                                  else torch.cuda.current_device()]
        fresh = generator.clone_state()  # the random state as it is before the capture registers it
        try:
            self._capture(x)
        except Exception as exc:  # a device or driver that cannot capture this step: train as usual
            self.failed = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
            self.graph = None
            # A capture that ends in an error leaves the generator marked as capturing, and every later
            # draw outside a graph would fail: hand it a copy of its state from before the capture.
            generator.graphsafe_set_state(fresh)
            self.opt.zero_grad(set_to_none=True)
            return False
        return True

    def _capture(self, x: torch.Tensor) -> None:
        torch.cuda.synchronize()
        self.x = x.clone()
        self.opt.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            with self.amp():
                parts = self.loss_of(self.x, 0)  # the loss does not depend on the step (`applies`)
            parts.total.backward()
            self.opt.step()
            named = parts.named()
            self.row = torch.stack([v.detach().float() for v in named.values()])
        self.names, self.graph = list(named), graph

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """One step by replay: the loss parts' row (a copy: the next replay overwrites the graph's)."""
        self.x.copy_(x)
        self.graph.replay()
        return self.row.clone()


def _lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    if cfg.schedule == "constant":
        return cfg.lr
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))


class TrainStep:
    """One optimiser step on a batch: the schedule's learning rate for the step, then the loss, its
    backward and the update, replayed from the captured graph where it applies (`GraphedStep`), else
    as usual (under torchrun in DDP, the loss weighted by the rank's shard). The loss parts go to the
    guard and stay on the device: no host sync per step."""

    def __init__(self, loss_of, opt: torch.optim.Optimizer, guard: DivergenceGuard, run: RunSetup,
                 total_steps: int, *, graphs: bool):
        cfg, device = run.train_config, run.device
        self.loss_of, self.opt, self.guard, self.world = loss_of, opt, guard, run.world
        self.cfg, self.total_steps = cfg, total_steps
        self.amp = (lambda: torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)) \
            if cfg.precision == "bf16" else contextlib.nullcontext
        self.graphed = GraphedStep(loss_of, opt, self.amp) if graphs else None

    def __call__(self, x: torch.Tensor, shard: Shard | None, step: int) -> None:
        _set_lr(self.opt, _lr_at(self.cfg, step, self.total_steps))
        graphed = self.graphed
        if graphed is not None and graphed.ready(x):
            self.guard.add_row(graphed(x), graphed.names)
            return
        with self.world.step(shard), self.amp():
            parts = self.loss_of(x, step)
        self.opt.zero_grad(set_to_none=graphed is None or graphed.graph is None)  # a graph's grads stay put
        (parts.total if shard is None or shard.weight == 1 else parts.total * shard.weight).backward()
        self.opt.step()
        self.guard.add(parts, shard)
        # Nothing may keep this step's autograd graph alive: its gradient accumulators belong to
        # this stream, and a capture that met them would have to synchronise with it (and fail).
        del parts
        if graphed is not None:
            graphed.eager_steps += 1

    @property
    def captured(self) -> bool:
        """Whether the full batches were replayed as a captured CUDA graph."""
        return self.graphed is not None and self.graphed.graph is not None

    def capture_note(self) -> str:
        """What the run's message adds when the capture failed (the run went on with ordinary steps)."""
        if self.graphed is not None and self.graphed.failed:
            return f" (the step could not be captured as a CUDA graph: {self.graphed.failed}; it ran as usual)"
        return ""


@torch.inference_mode()
def evaluate_loss(model: VAE, x: torch.Tensor, objective: Objective, step: int = 0,
                  batch_size: int = 1000) -> dict[str, float]:
    """The training objective's parts at `step`, averaged over fixed inputs `x` (already binarised or not)."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        for name, value in objective.loss(model, xb, step).as_floats().items():
            sums[name] = sums.get(name, 0.0) + value * len(xb)
    model.train(was_training)
    return {name: value / len(x) for name, value in sums.items()}


def _copy_state(model: VAE) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def check_fits(cfg: TrainConfig, n_train: int) -> None:
    """A batch must fit in the training images (after train_subset)."""
    if cfg.batch_size > n_train:
        where = "" if cfg.dataset in ("mnist", "fashion") else f" of {cfg.dataset}"
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than the {n_train} training images{where}")


def check_model_fits_data(model_cfg: ModelConfig, dataset: Dataset) -> None:
    if tuple(model_cfg.image_shape) != tuple(dataset.shape):
        raise ConfigError(f"the model takes {'×'.join(map(str, model_cfg.image_shape))} images but {dataset.title} "
                          f"({dataset.name}) has {'×'.join(map(str, dataset.shape))}: build the config with "
                          "ModelConfig.for_dataset")


@dataclass
class RunSetup:
    """A run made ready in one place (`setup_run`): settings checked, data resolved and read, the
    process group joined, the device picked, the generators seeded and the model built. The CLI, the
    page's jobs and torchrun's ranks all start here; `train` then runs the loop."""

    model_config: ModelConfig
    train_config: TrainConfig
    dataset: Dataset
    train_split: Split  # the whole split (the loop takes train_subset's first images; k-NN codes take all)
    test_split: Split
    world: distributed.World
    model: VAE
    resume: ResumeState | None = None
    formation: Formation | None = None  # the codes kept per epoch (vae_core.analysis.formation); rank 0's only

    @property
    def device(self) -> torch.device:
        return self.world.device


def setup_run(model_cfg: ModelConfig, train_cfg: TrainConfig, *, data_dir=None, train_split: Split | None = None,
              test_split: Split | None = None, model: VAE | None = None, resume: ResumeState | None = None,
              dataset: Dataset | None = None, download: bool = True, progress: bool = True) -> RunSetup:
    """Everything a run needs before its first step, checked and built once; raises ConfigError or
    DatasetError (nothing started) for what cannot run.

    - `model`: continue training these weights (same network; the objective may differ: ELBO, then
      the IWAE bound), instead of new ones seeded with `train_cfg.seed`.
    - `resume`: a run's resume checkpoint (`vae_core.training.resume.read_resume`): the configs must be the
      run's (a ConfigError names every setting that differs) and so must the data (its fingerprint).
    - `dataset`: the record of `train_cfg.dataset` when the caller resolved it already (the CLI
      builds the model's config from it).
    - `train_split`/`test_split`: splits already read (tests, benchmarks); else the dataset's,
      downloaded when missing only with `download` (a progress bar with `progress`).
    - Under torchrun (`vae_core.training.distributed`) this joins the process group and takes the rank's GPU.
    """
    check_compatible(model_cfg, train_cfg)
    if resume is not None:
        check_same_run(resume, model_cfg, train_cfg)
    world = distributed.setup(train_cfg.device)
    dataset = dataset or resolve_dataset(train_cfg.dataset, data_dir=data_dir, **train_cfg.folder_options)
    check_model_fits_data(model_cfg, dataset)
    if resume is not None and resume.state.get("data") not in (None, dataset.fingerprint):
        raise ConfigError(f"cannot resume {resume.tag!r}: its run trained on other data than {dataset.title} has now "
                          f"(fingerprint {resume.state['data']} then, {dataset.fingerprint} now)")
    read = dict(data_dir=data_dir, download=download, progress=progress)
    train_split = train_split or dataset.read("train", **read)
    test_split = test_split or dataset.read("test", **read)
    n_train = len(train_split.subset(train_cfg.train_subset))
    check_fits(train_cfg, n_train)
    world.check_batches(n_train, train_cfg.batch_size)
    if world.device.type == "cpu":
        configure_cpu_numerics()
    torch.manual_seed(train_cfg.seed)  # the weights, then every draw of the global generator
    if model is not None:
        if not model.config.same_network(model_cfg):
            raise ConfigError(f"the model to continue has another network ({model.config}) than {model_cfg}")
        model.config = model_cfg
    else:
        model = build_model(model_cfg, world.device)
        if resume is None:  # the decoder starts at the data's mean image, not at its random init's
            images = train_split.subset(train_cfg.train_subset).images
            model.init_output_bias(images.sum(0, dtype=torch.float64).div_(255.0 * len(images)).to(world.device))
    formation = Formation(test_split, run_inputs(model_cfg, train_cfg), n=train_cfg.formation_images) \
        if train_cfg.formation_images and world.is_main and len(test_split) else None
    return RunSetup(model_cfg, train_cfg, dataset, train_split, test_split, world, model, resume, formation)


def fit(model_cfg: ModelConfig, train_cfg: TrainConfig, *, data_dir=None,
        train_split: Split | None = None, test_split: Split | None = None,
        callback: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        snapshot_dir: Path | None = None, report_seconds: float = 0.5,
        model: VAE | None = None, resume: ResumeState | None = None,
        checkpoint: Path | str | None = None) -> TrainResult:
    """Train a model from scratch (or continue `model`) and return it with its history:
    `train(setup_run(...), ...)` in one call (see both)."""
    run = setup_run(model_cfg, train_cfg, data_dir=data_dir, train_split=train_split, test_split=test_split,
                    model=model, resume=resume)
    return train(run, callback=callback, should_stop=should_stop, snapshot_dir=snapshot_dir,
                 report_seconds=report_seconds, checkpoint=checkpoint)


class Batches:
    """The training images on the device and the two generators that draw from them: the order
    generator shuffles each epoch, the data generator binarises each batch. Both draw for the whole
    global batch under torchrun, which each rank then slices to its shard. It keeps the order
    generator's state from where the epoch's permutation was drawn: a resumed run draws that
    permutation again and goes on from its place inside it."""

    def __init__(self, run: RunSetup):
        model_cfg, cfg, device = run.model_config, run.train_config, run.device
        self.images = run.train_split.subset(cfg.train_subset).images.to(device)  # uint8 here; floats per batch
        self.n, self.size, self.seed = len(self.images), cfg.batch_size, cfg.seed
        self.steps_per_epoch = math.ceil(self.n / self.size)
        self.binary = binarizes(model_cfg, cfg)
        self.channels_last = model_cfg.arch == "conv" and device.type == "cpu"
        self.world, self.device = run.world, device
        self.data = torch.Generator(device=device).manual_seed(cfg.seed)
        self.order = torch.Generator().manual_seed(cfg.seed)
        self.epoch_start: torch.Tensor | None = None  # the order generator's state before this epoch's permutation
        self._permutation: torch.Tensor | None = None

    def some_images(self, k: int) -> torch.Tensor:
        """`k` training images picked by a generator of their own (the epochs' order stays as it was)."""
        g_init = torch.Generator().manual_seed(self.seed)
        pick = torch.randperm(self.n, generator=g_init)[:k].to(self.device)
        return to_float(self.images[pick])

    def epoch(self, step: int) -> range:
        """Draw the permutation of the epoch that `step` is in; the offsets of its batches from `step` on."""
        first = (step % self.steps_per_epoch) * self.size  # where a resumed run is inside its epoch
        if first == 0:
            self.epoch_start = self.order.get_state()
        self._permutation = torch.randperm(self.n, generator=self.order).to(self.device)
        return range(first, self.n, self.size)

    def batch(self, offset: int) -> tuple[torch.Tensor, Shard | None]:
        """The batch at `offset` of this epoch's permutation, as floats (binarised for a Bernoulli model),
        and this rank's shard of it (None in one process)."""
        x = to_float(self.images[self._permutation[offset:offset + self.size]])
        if self.binary:
            x = binarize(x, self.data)  # drawn for the whole global batch under torchrun, then sliced
        shard = self.world.shard(len(x))
        x = shard.take(x) if shard is not None else x
        x = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
        return x, shard

    def epoch_done(self, step: int) -> None:
        """After an epoch's last batch (not a run's end inside an epoch): the next epoch starts from here."""
        if step % self.steps_per_epoch == 0:
            self.epoch_start = self.order.get_state()

    def state(self) -> dict:
        """The resume checkpoint's record of both generators ("rng": data, data_device, order)."""
        return {"data": self.data.get_state(), "data_device": self.device.type,
                "order": self.epoch_start}  # the epoch's permutation is drawn again, the run goes on inside it

    def restore(self, rng: dict) -> None:
        if rng["data_device"] == self.device.type:  # a run moved to another kind of device draws anew from its seed
            self.data.set_state(rng["data"])
        self.order.set_state(rng["order"])
        self.epoch_start = rng["order"]


class EpochEnd:
    """What an epoch's end keeps besides the report, on rank 0: the training objective's parts on the
    fixed test subset (`evaluate_loss`), the formation's frame (the codes of its fixed images) and,
    every `snapshot_every` epochs and at the run's end, the PNG snapshots (`write_snapshot`)."""

    def __init__(self, run: RunSetup, objective: Objective, batches: Batches, total_steps: int,
                 snapshot_dir: Path | None):
        cfg = run.train_config
        self.run, self.model, self.objective, self.world, self.formation = \
            run, run.model, objective, run.world, run.formation
        self.steps_per_epoch, self.total_steps, self.snapshot_dir = batches.steps_per_epoch, total_steps, snapshot_dir
        self.test_x = eval_inputs(run.test_split.images[:cfg.eval_subset], binarized=batches.binary,
                                  seed=cfg.seed).to(run.device)
        if batches.channels_last:
            self.test_x = self.test_x.contiguous(memory_format=torch.channels_last)

    def test_loss(self, step: int) -> dict[str, float] | None:
        """None on other ranks and without test images."""
        if self.world.is_main and len(self.test_x):
            return evaluate_loss(self.model, self.test_x, self.objective, step)
        return None

    def record_formation(self, step: int) -> None:
        if self.formation is not None:
            self.formation.record(self.model, step / self.steps_per_epoch)

    def write_snapshots(self, step: int) -> None:
        cfg = self.run.train_config
        if self.snapshot_dir is None or not cfg.snapshot_every or not self.world.is_main:
            return
        epoch = math.ceil(step / self.steps_per_epoch)
        if epoch % cfg.snapshot_every == 0 or step >= self.total_steps:
            write_snapshot(self.model, self.run.test_split, Path(self.snapshot_dir), epoch,
                           inputs=run_inputs(self.run.model_config, cfg))


class DivergenceGuard:
    """The loss parts of the steps since the last report, kept on the device (no host sync per step),
    and the weights to fall back on when one turns out not finite.

    A copy of the weights counts as good only once a loss computed with it was finite (weights one
    step before a NaN loss can be finite and still give NaN): `propose` keeps a copy pending, and the
    next report's first finite loss makes it the good one."""

    def __init__(self, model: VAE, world: distributed.World):
        self.model, self.world = model, world
        self.rows: list[torch.Tensor] = []
        self.names: list[str] = []
        self.good, self.good_step = _copy_state(model), 0
        self.pending: tuple[dict, int] | None = None

    def add(self, parts, shard) -> None:
        named = parts.named()
        row = torch.stack([v.detach().float() for v in named.values()])
        self.add_row(row if shard is None else row * (shard.size / shard.total), list(named))  # summed over ranks

    def add_row(self, row: torch.Tensor, names: list[str]) -> None:
        """A step's loss parts as one row (a captured step's, `GraphedStep`)."""
        if not self.names:
            self.names = names
        self.rows.append(row)

    def propose(self, step: int) -> None:
        if step > self.good_step:
            self.pending = (_copy_state(self.model), step)

    def flush(self) -> tuple[dict[str, float], int | None, float | None]:
        """(mean loss parts of the finite steps since the last flush, index of the first non-finite
        step or None, its loss). On a non-finite loss the model is back at the last good weights."""
        if not self.rows:
            return {}, None, None
        table = self.world.sum_(torch.stack(self.rows)).tolist()  # (steps, parts); under torchrun summed over ranks
        self.rows = []
        bad = next((j for j, row in enumerate(table) if not all(math.isfinite(v) for v in row)), None)
        done = table if bad is None else table[:bad]
        means = {k: sum(r[j] for r in done) / len(done) for j, k in enumerate(self.names)} if done else {}
        if self.pending is not None and bad != 0:  # the first of these losses was computed with the pending copy
            self.good, self.good_step = self.pending
        self.pending = None
        if bad is None:
            return means, None, None
        self.model.load_state_dict(self.good)
        return means, bad, table[bad][0]

    def pending_count(self) -> int:
        return len(self.rows)

    def state(self) -> dict:
        """The resume checkpoint's record of the guard ("good", "good_step", "pending")."""
        return {"good": self.good, "good_step": self.good_step, "pending": self.pending is not None}

    def restore(self, state: dict, step: int) -> None:
        """The guard as the checkpoint left it; a pending copy was of the weights at `step` (proposed at its
        report), so it is taken again from the restored model."""
        self.good = {k: v.to(self.world.device) for k, v in state["good"].items()}
        self.good_step = int(state["good_step"])
        self.pending = (_copy_state(self.model), step) if state["pending"] else None

    def read(self, step: int) -> tuple[dict[str, float], Ending | None]:
        """The mean loss parts since the last read, for a report, and, when one was not finite, the run's
        end as diverged: back at the last good weights, at the step of that loss (the updates before it)."""
        first = self.pending_count()
        means, bad, loss = self.flush()
        if bad is None:
            return means, None
        return means, Ending.diverged(step - first + bad, loss, self.good_step)


class CancelCheck:
    """The caller's `should_stop` (the page's cancel, the CLI's Ctrl-C), asked where the run may stop:
    one process asks before every step; under torchrun the ranks decide together at reports (a
    collective), so that all stop at the same step."""

    def __init__(self, should_stop: Callable[[], bool] | None, world: distributed.World):
        self.should_stop, self.world = should_stop, world

    def _asked(self) -> bool:
        return self.should_stop is not None and self.should_stop()

    def before_step(self) -> bool:
        return not self.world.distributed and self._asked()

    def at_report(self) -> bool:
        return self.world.distributed and self.world.any(self._asked())


class Reporter:
    """The run's history and its callback: a report at most every `every` seconds (under torchrun,
    every 1/20 epoch) and at each epoch's end."""

    def __init__(self, callback, world: distributed.World, steps_per_epoch: int, total_steps: int, every: float,
                 seconds_before: float, history: list[dict], pacer: Pacer):
        self.callback, self.world, self.pacer = callback, world, pacer
        self.steps_per_epoch, self.total_steps, self.every = steps_per_epoch, total_steps, every
        self.seconds_before, self.history = seconds_before, history
        self.every_steps = max(steps_per_epoch // distributed.REPORTS_PER_EPOCH, 1) if world.distributed else None
        self.start = self.last = time.perf_counter()

    def elapsed(self) -> float:
        return self.seconds_before + time.perf_counter() - self.start

    def due(self, step: int) -> bool:
        if self.every_steps is not None:
            return step % self.every_steps == 0
        return time.perf_counter() - self.last >= self.every

    def report(self, step: int, means: dict, test: dict | None = None) -> None:
        elapsed, epoch = self.elapsed(), step / self.steps_per_epoch
        if means:
            self.history.append({"split": "train", "step": step, "epoch": epoch, "elapsed": elapsed, **means})
        if test is not None:
            self.history.append({"split": "test", "step": step, "epoch": epoch, "elapsed": elapsed, **test})
        self.last = time.perf_counter()
        if self.callback is not None and self.world.is_main:
            self.callback(Progress(step, self.total_steps, epoch, elapsed, means, test, rate=self.pacer.rate()))


def train(run: RunSetup, *, callback: Callable[[Progress], None] | None = None,
          should_stop: Callable[[], bool] | None = None, snapshot_dir: Path | None = None,
          report_seconds: float = 0.5, checkpoint: Path | str | None = None) -> TrainResult:
    """The loop over a run made ready by `setup_run`; returns the model with its history.

    - `checkpoint`: the file to keep the run's resume checkpoint in (`resume_file(model folder)`),
      written at every epoch's end, every `checkpoint_every` steps and at a cancel.
    - Under torchrun each rank trains its share of every global batch in DistributedDataParallel;
      rank 0 alone evaluates, reports, snapshots and checkpoints.
    - No host sync per step: the loss parts stay on the device and are read at each report, where the
      guard looks for a non-finite loss and, finding one, rolls back to the last weights whose loss
      was finite (the run ends as diverged).
    """
    model_cfg, cfg, world, model = run.model_config, run.train_config, run.world, run.model
    model.train()
    batches = Batches(run)
    if run.resume is None:  # a learned prior may start from the data (the VampPrior's pseudo-inputs, once per model)
        model.prior.init_from_data(batches.some_images(max(model_cfg.prior_components, 1)))
    graphs = GraphedStep.applies(run, OBJECTIVES[model_cfg.objective])
    opt = _optimizer(model, cfg, graphed=graphs)
    steps_per_epoch = batches.steps_per_epoch
    total_steps = min(steps_per_epoch * cfg.epochs, cfg.max_iters or math.inf)
    objective = make_objective(model_cfg.objective, cfg, total_steps=total_steps)
    epoch_end = EpochEnd(run, objective, batches, total_steps, snapshot_dir)
    guard = DivergenceGuard(model, world)
    checkpoints = Checkpointer(checkpoint, run, opt, guard, batches, total_steps)
    step, seconds_before, history = 0, 0.0, []
    if run.resume is not None:
        step, seconds_before, history = checkpoints.restore()  # weights, optimiser, generators, guard, formation
    else:
        epoch_end.record_formation(0)  # the untrained model's codes: where the space starts
    loss_of = world.loss_function(model, objective)  # under torchrun: the DDP-wrapped loss (after the restore)
    train_step = TrainStep(loss_of, opt, guard, run, total_steps, graphs=graphs)
    pacer = Pacer(run.device)  # times the steps: the recent rate; on a shared CPU, the thread count
    log = Reporter(callback, world, steps_per_epoch, total_steps, report_seconds, seconds_before, history, pacer)
    cancel = CancelCheck(should_stop, world)
    ended, means = None, {}  # ended: an Ending once the run is cancelled or diverges

    while step < total_steps and ended is None:
        for offset in batches.epoch(step):
            if step >= total_steps:
                break
            if cancel.before_step():
                ended = Ending.cancelled(step, total_steps)
                break
            x, shard = batches.batch(offset)
            train_step(x, shard, step)
            step += 1
            pacer.tick(step)
            checkpoint_due = cfg.checkpoint_every and step % cfg.checkpoint_every == 0
            if log.due(step) or checkpoint_due:
                means, ended = guard.read(step)
                if ended:
                    break
                log.report(step, means)
                guard.propose(step)
                if cancel.at_report():
                    ended = Ending.cancelled(step, total_steps)
                    break
                if checkpoint_due and step % steps_per_epoch:  # an epoch's end writes one anyway
                    checkpoints.save(step, log.elapsed(), history)
        if ended:
            break
        batches.epoch_done(step)
        means, ended = guard.read(step)
        if ended:
            break
        # An epoch's end, or the run's last step inside one (max_iters): a cancel or a divergence broke out above.
        test = epoch_end.test_loss(step)
        epoch_end.record_formation(step)
        log.report(step, means, test)
        guard.propose(step)
        epoch_end.write_snapshots(step)
        world.sync_rng()  # rank 0 drew for the evaluation: every rank goes on from its generator
        checkpoints.save(step, log.elapsed(), history)
    if ended and ended.status == CANCELLED:
        means, diverged = guard.read(step)  # a cancel after a non-finite loss is a divergence
        ended = diverged or ended
        if ended.status == CANCELLED:
            if not all(torch.isfinite(p).all() for p in model.parameters()):
                model.load_state_dict(guard.good)  # a cancelled run hands back finite weights, like a diverged one
            else:
                checkpoints.save(step, log.elapsed(), history)  # the run can go on from here
    if ended:
        step = ended.step  # a diverged run counts the updates that came before its first non-finite loss
        if callback is not None:
            log.report(step, means)  # the final report says where it stopped
    seconds = log.elapsed()
    ended = ended or Ending.completed(step, steps_per_epoch, seconds)
    pacer.close()
    model.eval()
    return TrainResult(model, model_cfg, cfg, ended.status, ended.message + train_step.capture_note(), step,
                       step / steps_per_epoch, seconds, history, run.dataset, world=world.describe(),
                       resumed_at=checkpoints.resumed_at, formation=run.formation, cuda_graph=train_step.captured)


def write_snapshot(model: VAE, test_split: Split, folder: Path, epoch: int, n_points: int = 5000, *,
                   inputs: Inputs | None = None) -> list[Path]:
    """Prior samples, the 20x20 grid and the latent scatter as PNG files, as the CVAE blog's loop does
    (the scatter's codes from `inputs`, by default `explore.default_inputs`)."""
    from ..analysis.explore import default_inputs, encode_means, manifold_grid, png_bytes, prior_samples, scatter_image, tile

    folder.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    codes = encode_means(model, (inputs or default_inputs(model)).of(test_split.images)[:n_points])
    center = codes.mean(0) if model.latent_dim > 2 else None
    files = {
        f"epoch{epoch:03d}-samples.png": tile(prior_samples(model, 64, seed=epoch), 8),
        f"epoch{epoch:03d}-grid.png": manifold_grid(model, 20, center=center)[0],
        f"epoch{epoch:03d}-scatter.png": scatter_image(codes, test_split.labels[:n_points].numpy()),
    }
    model.train(was_training)
    paths = []
    for name, image in files.items():
        (folder / name).write_bytes(png_bytes(image))
        paths.append(folder / name)
    return paths

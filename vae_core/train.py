"""The training loop: whole dataset on the device, progress callbacks, NaN guard, cancel.

`fit()` never raises for what happens during training: divergence and cancel
come back as a status with the last good weights, so a caller (the page, the
CLI) always has a model to show and a message to print. What is refusable (bad values,
a model that does not fit the data, a batch larger than the data) is refused before the
first step. `vae_core.runs.finish_run` then evaluates and saves the result.
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
from .config import ConfigError, ModelConfig, TrainConfig, binarizes, check_compatible
from .data import Dataset, Split, binarize, eval_inputs, load_split, resolve_dataset, to_float
from .models import VAE, build_model
from .objectives import Objective, make_objective
from .resume import ResumeState, check_same_run, write_resume
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

    @property
    def ok(self) -> bool:
        return self.status == COMPLETED


def _optimizer(model: VAE, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    try:  # the fused kernel cut the CPU epoch from 6.9 s to 5.3 s
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)


def _lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    if cfg.schedule == "constant":
        return cfg.lr
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))


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


def fit(model_cfg: ModelConfig, train_cfg: TrainConfig, *, data_dir=None,
        train_split: Split | None = None, test_split: Split | None = None,
        callback: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        snapshot_dir: Path | None = None, report_seconds: float = 0.5,
        model: VAE | None = None, resume: ResumeState | None = None,
        checkpoint: Path | str | None = None) -> TrainResult:
    """Train a model from scratch (or continue `model`) and return it with its history.

    - `resume`: a run's resume checkpoint (`vae_core.resume.read_resume`): the run goes on from
      where the checkpoint left it and ends as it would have without the stop. The configs must
      be the run's (a ConfigError names every setting that differs).
    - `checkpoint`: the file to keep the run's resume checkpoint in (`resume_file(model folder)`),
      written at every epoch's end, every `checkpoint_every` steps and at a cancel.
    - Under torchrun (`vae_core.distributed`) each rank trains its share of every global batch
      in DistributedDataParallel; rank 0 alone evaluates, reports, snapshots and checkpoints.
    - No host sync per step: the loss parts stay on the device and are read at each report
      (every `report_seconds`; under torchrun every 1/20 epoch), where the NaN guard looks for a
      non-finite loss and, finding one, rolls back to the last weights whose loss was finite.
    """
    check_compatible(model_cfg, train_cfg)
    world = distributed.setup(train_cfg.device)
    device = world.device
    if device.type == "cpu":
        configure_cpu_numerics()
    if resume is not None:
        check_same_run(resume, model_cfg, train_cfg)
    torch.manual_seed(train_cfg.seed)
    dataset = resolve_dataset(train_cfg.dataset, data_dir=data_dir, **train_cfg.folder_options)
    check_model_fits_data(model_cfg, dataset)
    if resume is not None and resume.state.get("data") not in (None, dataset.fingerprint):
        raise ConfigError(f"cannot resume {resume.tag!r}: its run trained on other data than {dataset.title} has now "
                          f"(fingerprint {resume.state['data']} then, {dataset.fingerprint} now)")
    train_split = train_split or dataset.read("train", data_dir=data_dir)
    test_split = test_split or dataset.read("test", data_dir=data_dir)
    train_split = train_split.subset(train_cfg.train_subset)
    n = len(train_split)
    check_fits(train_cfg, n)
    world.check_batches(n, train_cfg.batch_size)
    binary = binarizes(model_cfg, train_cfg)

    if model is not None:  # continue training, perhaps under another objective (ELBO, then the IWAE bound)
        if not model.config.same_network(model_cfg):
            raise ConfigError(f"the model to continue has another network ({model.config}) than {model_cfg}")
        model.config = model_cfg
    fresh = model is None and resume is None
    model = model if model is not None else build_model(model_cfg, device)
    model.train()
    images = train_split.images.to(device)  # uint8 on the device; floats made per batch
    if fresh:  # the decoder starts at the data's mean image (every rank computes the same)
        model.init_output_bias(images.sum(0, dtype=torch.float64).div_(255.0 * n))
    g_data = torch.Generator(device=device).manual_seed(train_cfg.seed)
    g_order = torch.Generator().manual_seed(train_cfg.seed)
    if resume is None:  # a learned prior may start from the data (the VampPrior's pseudo-inputs, once per model)
        g_init = torch.Generator().manual_seed(train_cfg.seed)
        pick = torch.randperm(n, generator=g_init)[:max(model_cfg.prior_components, 1)].to(device)
        model.prior.init_from_data(to_float(images[pick]))
    opt = _optimizer(model, train_cfg)

    test_x = eval_inputs(test_split.images[:train_cfg.eval_subset], binarized=binary, seed=train_cfg.seed)
    test_x = test_x.to(device)
    if model_cfg.arch == "conv" and device.type == "cpu":
        test_x = test_x.contiguous(memory_format=torch.channels_last)

    bs = train_cfg.batch_size
    steps_per_epoch = math.ceil(n / bs)
    total_steps = steps_per_epoch * train_cfg.epochs
    if train_cfg.max_iters is not None:
        total_steps = min(total_steps, train_cfg.max_iters)
    objective = make_objective(model_cfg.objective, train_cfg, total_steps=total_steps)

    history: list[dict] = []
    # The weights to fall back on: a copy counts as good only once a loss computed with it was
    # finite (weights one step before a NaN loss can be finite and still give NaN).
    good_state, good_step = _copy_state(model), 0
    pending: tuple[dict, int] | None = None
    step, seconds_before, resumed_at = 0, 0.0, []
    order_state = None  # the order generator's state before it drew the permutation of the next step's epoch
    if resume is not None:
        step, seconds_before, resumed_at, order_state, good_state, good_step, pending, history = _restore(
            resume, model, opt, g_data, g_order, device)
    loss_of = world.loss_function(model, objective)  # under torchrun: the DDP-wrapped loss (after the restore)
    amp = ((lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if train_cfg.precision == "bf16"
           else contextlib.nullcontext)
    rows: list[torch.Tensor] = []  # each step's loss parts, on the device until the next report
    names: list[str] = []
    means: dict[str, float] = {}
    report_every = max(steps_per_epoch // distributed.REPORTS_PER_EPOCH, 1) if world.distributed else None
    writes = checkpoint is not None and world.is_main
    status, message = COMPLETED, ""
    start = last_report = time.perf_counter()
    pacer = Pacer(device)  # times the steps: the recent rate; on a shared CPU, the thread count

    def flush() -> bool:
        """Read the loss parts of the steps since the last report (one host sync). False when one
        was not finite: the run is then marked diverged and the last good weights are back."""
        nonlocal rows, means, good_state, good_step, pending, status, message, step
        if not rows:
            means = {}
            return True
        table = world.sum_(torch.stack(rows)).tolist()  # (steps, parts); under torchrun summed over ranks
        first = len(rows)
        rows = []
        bad = next((j for j, row in enumerate(table) if not all(math.isfinite(v) for v in row)), None)
        done = table if bad is None else table[:bad]
        means = {k: sum(r[j] for r in done) / len(done) for j, k in enumerate(names)} if done else {}
        if pending is not None and bad != 0:  # the first of these losses was computed with the pending copy
            good_state, good_step = pending
        pending = None
        if bad is None:
            return True
        model.load_state_dict(good_state)
        step = step - first + bad  # the updates that came before the first non-finite loss
        status = DIVERGED
        message = (f"training diverged at step {step} (loss {table[bad][0]}); kept the weights from step "
                   f"{good_step}. Try a smaller learning rate.")
        return False

    def report(test: dict | None = None) -> None:
        nonlocal last_report, pending
        elapsed = seconds_before + time.perf_counter() - start
        if means:
            history.append({"split": "train", "step": step, "epoch": step / steps_per_epoch,
                            "elapsed": elapsed, **means})
        if test is not None:
            history.append({"split": "test", "step": step, "epoch": step / steps_per_epoch,
                            "elapsed": elapsed, **test})
        if status == COMPLETED and step > good_step:
            pending = (_copy_state(model), step)
        last_report = time.perf_counter()
        if callback is not None and world.is_main:
            callback(Progress(step, total_steps, step / steps_per_epoch, elapsed, means, test, rate=pacer.rate()))

    def save_checkpoint() -> None:
        if not writes:
            return
        write_resume(Path(checkpoint), {
            "model_config": model_cfg.to_dict(), "train_config": train_cfg.to_dict(), "data": dataset.fingerprint,
            "step": step, "total_steps": total_steps, "steps_per_epoch": steps_per_epoch,
            "seconds": seconds_before + time.perf_counter() - start, "world": world.describe(),
            "resumed_at": resumed_at, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "good": good_state, "good_step": good_step, "pending": pending is not None, "history": history,
            "rng": {"cpu": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                    "data": g_data.get_state(), "data_device": device.type,
                    "order": order_state}})  # the epoch's permutation is drawn again, the run goes on inside it

    first = (step % steps_per_epoch) * bs  # where a resumed run is inside its epoch
    while step < total_steps and status == COMPLETED:
        if first == 0:
            order_state = g_order.get_state()
        order = torch.randperm(n, generator=g_order).to(device)
        for i in range(first, n, bs):
            if step >= total_steps:
                break
            if should_stop is not None and not world.distributed and should_stop():
                status, message = CANCELLED, f"cancelled at step {step} of {total_steps}"
                break
            x = to_float(images[order[i:i + bs]])
            if binary:
                x = binarize(x, g_data)  # drawn for the whole global batch under torchrun, then sliced
            shard = world.shard(len(x))
            if shard is not None:
                x = shard.take(x)
            if model_cfg.arch == "conv" and device.type == "cpu":
                x = x.contiguous(memory_format=torch.channels_last)
            for group in opt.param_groups:
                group["lr"] = _lr_at(train_cfg, step, total_steps)
            with world.step(shard), amp():
                parts = loss_of(x, step)
            values = [v for v in parts if v is not None]
            if not names:
                names = [k for k, v in parts._asdict().items() if v is not None]
            opt.zero_grad(set_to_none=True)
            (parts.total if shard is None or shard.weight == 1 else parts.total * shard.weight).backward()
            opt.step()
            step += 1
            pacer.tick(step)
            row = torch.stack([v.detach().float() for v in values])
            rows.append(row if shard is None else row * (shard.size / shard.total))  # summed over ranks at reports
            checkpoint_due = train_cfg.checkpoint_every and step % train_cfg.checkpoint_every == 0
            if report_every is None:
                due = time.perf_counter() - last_report >= report_seconds
            else:
                due = step % report_every == 0
            if due or checkpoint_due:
                if not flush():
                    break
                report()
                if world.distributed and world.any(should_stop is not None and should_stop()):
                    status, message = CANCELLED, f"cancelled at step {step} of {total_steps}"
                    break
                if checkpoint_due and step % steps_per_epoch:
                    save_checkpoint()
        first = 0
        if status != COMPLETED:
            break
        if step % steps_per_epoch == 0:
            order_state = g_order.get_state()  # the next epoch starts from here
        if not flush():
            break
        epoch_done = step % steps_per_epoch == 0 or step >= total_steps
        test = evaluate_loss(model, test_x, objective, step) if epoch_done and world.is_main and len(test_x) else None
        report(test)
        if epoch_done and snapshot_dir is not None and train_cfg.snapshot_every and world.is_main:
            epoch = math.ceil(step / steps_per_epoch)
            if epoch % train_cfg.snapshot_every == 0 or step >= total_steps:
                write_snapshot(model, test_split, Path(snapshot_dir), epoch)
        world.sync_rng()  # rank 0 drew for the evaluation: every rank goes on from its generator
        save_checkpoint()
    if status == CANCELLED:
        if flush():  # a cancel after a non-finite loss is a divergence
            if not all(torch.isfinite(p).all() for p in model.parameters()):
                model.load_state_dict(good_state)  # a cancelled run hands back finite weights, like a diverged one
            else:
                save_checkpoint()  # the run can go on from here
    if status != COMPLETED and callback is not None:
        report()
    seconds = seconds_before + time.perf_counter() - start
    if not message:
        message = f"trained {step} steps ({step / steps_per_epoch:.2f} epochs) in {seconds:.1f} s"
    pacer.close()
    model.eval()
    return TrainResult(model, model_cfg, train_cfg, status, message, step, step / steps_per_epoch, seconds,
                       history, dataset, world=world.describe(), resumed_at=resumed_at)


def _restore(resume: ResumeState, model: VAE, opt: torch.optim.Optimizer, g_data: torch.Generator,
             g_order: torch.Generator, device: torch.device):
    """Put a run's state back from its resume checkpoint (the loop's variables are returned)."""
    s = resume.state
    model.load_state_dict(s["model"])
    opt.load_state_dict(s["optimizer"])
    rng = s["rng"]
    torch.set_rng_state(rng["cpu"])
    if device.type == "cuda" and rng.get("cuda") is not None:
        torch.cuda.set_rng_state(rng["cuda"], device)
    if rng["data_device"] == device.type:  # a run moved to another kind of device draws anew from its seed
        g_data.set_state(rng["data"])
    g_order.set_state(rng["order"])
    step = int(s["step"])
    good = {k: v.to(device) for k, v in s["good"].items()}
    pending = (_copy_state(model), step) if s["pending"] else None
    return (step, float(s["seconds"]), [*s["resumed_at"], step], rng["order"], good, int(s["good_step"]), pending,
            [dict(r) for r in s["history"]])


def write_snapshot(model: VAE, test_split: Split, folder: Path, epoch: int, n_points: int = 5000) -> list[Path]:
    """Prior samples, the 20x20 grid and the latent scatter as PNG files, as the CVAE blog's loop does."""
    from .explore import encode_means, manifold_grid, png_bytes, prior_samples, scatter_image, tile

    folder.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    codes = encode_means(model, test_split.images[:n_points])
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

"""Resume checkpoints: the whole state of a run in training, kept beside its model folder.

A run that will save to `<models>/<tag>` keeps `<models>/.<tag>.resume.pt` while it trains (a
dot-file: never listed as a model). `fit(checkpoint=...)` writes it atomically (a temporary file
renamed into place) at every epoch's end, every `checkpoint_every` steps, and when a run is
cancelled; `finish_run` removes it once the model is saved (a cancelled run keeps it, so it can be
continued). Under torchrun only rank 0 writes it. The loop's `Checkpointer` writes and restores it.

It holds what the loop needs to go on as if it had never stopped: both configs, the weights, the
optimiser's state, the step (the learning-rate schedule and an objective's schedule follow from
it), the state of every generator the loop draws from (the global CPU and CUDA generators, the
data generator of the binarisation, and the order generator as it was at the start of the epoch,
so the epoch's permutation is drawn again and the run goes on from its position in it), the
weights the NaN guard would fall back on, the history so far and the seconds trained. A resumed
run therefore ends with the weights of an uninterrupted one (tests/test_resume.py).

The page's "continue training": `resumable_runs()` lists the runs that can go on, `read_resume(tag)`
reads one, and `JobRegistry.start(..., resume=state)` (or `fit(..., resume=state)`) continues it.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .._version import __version__
from ..store.folders import tag_path
from ..config import ModelConfig, TrainConfig
from ..errors import CheckpointError, ConfigError

if TYPE_CHECKING:  # the loop's objects, which this module only uses
    from .loop import Batches, DivergenceGuard, RunSetup

FORMAT_VERSION = 1
SUFFIX = ".resume.pt"
# Settings that may change between a run and its resume: they change where and how often, not what.
FREE_FIELDS = ("checkpoint_every", "device")


def resume_file(model_path) -> Path:
    """The resume checkpoint of the run that saves to the folder `model_path`."""
    p = Path(model_path)
    return p.parent / f".{p.name}{SUFFIX}"


@dataclass
class ResumeState:
    """A run's resume checkpoint, read: what to show (configs, where it stopped) and the state the
    loop restores (`state`, tensors on the CPU)."""

    file: Path
    model_config: ModelConfig
    train_config: TrainConfig
    step: int
    total_steps: int
    steps_per_epoch: int
    seconds: float  # seconds trained so far
    world: dict  # {"world_size", "backend"} of the run that wrote it
    saved_at: float  # time.time() of the write
    state: dict

    @property
    def model_path(self) -> Path:
        """The model folder the run saves to."""
        return self.file.parent / self.file.name[1:-len(SUFFIX)]

    @property
    def tag(self) -> str:
        return self.model_path.name

    @property
    def epochs(self) -> float:
        return self.step / self.steps_per_epoch

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps if self.total_steps else 1.0

    def describe(self) -> str:
        return (f"step {self.step} of {self.total_steps} ({self.epochs:.2f} of {self.train_config.epochs} epochs, "
                f"{self.seconds:.0f} s trained)")


def _locate(where, models_root: Path | None) -> Path:
    p = Path(where)
    if p.name.endswith(SUFFIX):
        return p
    if isinstance(where, str) and "/" not in where and os.sep not in where:
        return resume_file(tag_path(where, models_root))
    return resume_file(p)


def read_resume(where, *, models_root: Path | None = None) -> ResumeState:
    """The resume checkpoint of a tag, of a model folder (it need not exist yet), or the file itself.
    Raises CheckpointError when there is none or it cannot be read."""
    file = _locate(where, models_root)
    if not file.exists():
        raise CheckpointError(f"no resume checkpoint for {file.name[1:-len(SUFFIX)]!r} ({file}): it finished "
                              "and was saved, or never wrote one")
    try:
        raw = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
        version = raw["format"]
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise CheckpointError(f"{file}: resume format {version!r} is newer than this vae_core reads")
        model_cfg = ModelConfig.from_dict(raw["model_config"])
        train_cfg = TrainConfig.from_dict(raw["train_config"])
        return ResumeState(file, model_cfg, train_cfg, int(raw["step"]), int(raw["total_steps"]),
                           int(raw["steps_per_epoch"]), float(raw["seconds"]), dict(raw["world"]),
                           float(raw["saved_at"]), raw)
    except CheckpointError:
        raise
    except ConfigError as exc:
        raise CheckpointError(f"{file}: {exc}") from None
    except Exception as exc:  # torch raises many kinds for damaged or unsafe files
        raise CheckpointError(f"{file}: cannot be read as a resume checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def write_resume(file: Path, state: dict) -> None:
    """Write `state` (fit builds it) to `file` atomically: all of the new file or none of it."""
    file = Path(file)
    state = {"format": FORMAT_VERSION, "library_version": __version__, "saved_at": time.time(), **_cpu(state)}
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{file.name}.", suffix=".tmp", dir=file.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, file)
    except OSError as exc:
        raise CheckpointError(f"{file}: the resume checkpoint could not be written ({exc})") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Checkpointer:
    """A run's resume checkpoint, written and read back in one place, so that `restore` reads what
    `save` wrote: the configs and the data's fingerprint, the weights and the optimiser, every
    generator the loop draws from (the global CPU and CUDA ones here, the data and order generators
    through `batches`), the NaN guard's weights, the formation's frames, the history and the seconds
    trained. `save` writes nothing without a file, nor on any rank but 0 (`write_resume`: atomically)."""

    def __init__(self, file, run: RunSetup, opt: torch.optim.Optimizer, guard: DivergenceGuard, batches: Batches,
                 total_steps: int):
        self.file, self.run, self.opt, self.guard, self.batches = file, run, opt, guard, batches
        self.total_steps = total_steps
        self.resumed_at: list[int] = []  # the steps the run was resumed at, this time's included

    def save(self, step: int, seconds: float, history: list[dict]) -> None:
        run, device = self.run, self.run.device
        if self.file is None or not run.world.is_main:
            return
        write_resume(Path(self.file), {
            "model_config": run.model_config.to_dict(), "train_config": run.train_config.to_dict(),
            "data": run.dataset.fingerprint, "step": step, "total_steps": self.total_steps,
            "steps_per_epoch": self.batches.steps_per_epoch, "seconds": seconds, "world": run.world.describe(),
            "resumed_at": self.resumed_at, "model": run.model.state_dict(), "optimizer": self.opt.state_dict(),
            **self.guard.state(), "history": history,
            "formation": run.formation.state() if run.formation is not None else None,
            "rng": {"cpu": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                    **self.batches.state()}})

    def restore(self) -> tuple[int, float, list[dict]]:
        """Put the run back where its checkpoint (`run.resume`) left it: the weights, the optimiser, the
        generators, the guard and the formation; returns (step, seconds trained, history)."""
        run, device = self.run, self.run.device
        s = run.resume.state
        run.model.load_state_dict(s["model"])
        self.opt.load_state_dict(s["optimizer"])
        rng = s["rng"]
        torch.set_rng_state(rng["cpu"])
        if device.type == "cuda" and rng.get("cuda") is not None:
            torch.cuda.set_rng_state(rng["cuda"], device)
        self.batches.restore(rng)
        step = int(s["step"])
        self.guard.restore(s, step)
        if run.formation is not None:
            run.formation.restore(s.get("formation"))
        self.resumed_at = [*s["resumed_at"], step]
        return step, float(s["seconds"]), [dict(r) for r in s["history"]]


def clear_resume(model_path) -> None:
    """Remove the resume checkpoint of the run that saves to `model_path` (if any)."""
    try:
        resume_file(model_path).unlink()
    except FileNotFoundError:
        pass


def differences(state: ResumeState, model_cfg: ModelConfig, train_cfg: TrainConfig) -> list[str]:
    """'field: then → now' for every setting that differs from the run's (FREE_FIELDS aside)."""
    out = []
    for then, now in ((state.model_config, model_cfg), (state.train_config, train_cfg)):
        for f in dataclasses.fields(then):
            a, b = getattr(then, f.name), getattr(now, f.name)
            if f.name not in FREE_FIELDS and a != b:
                out.append(f"{f.name}: {a!r} in the run, {b!r} now")
    return out


def check_same_run(state: ResumeState, model_cfg: ModelConfig, train_cfg: TrainConfig) -> None:
    """Refuse (ConfigError) to resume a run under other settings, naming each that differs."""
    diff = differences(state, model_cfg, train_cfg)
    if diff:
        raise ConfigError(f"cannot resume {state.tag!r} with other settings than its run's ({'; '.join(diff)}): "
                          "resume with the run's settings (leave them out), or start a new run under another tag")


def resumable_runs(models_root: Path | None = None) -> list[ResumeState]:
    """Every run in the models directory that can be continued, newest first: a resume checkpoint
    whose model folder is absent (killed, cancelled) or saved as cancelled. Unreadable files are
    skipped."""
    from ..store.folders import models_dir

    root = Path(models_root) if models_root is not None else models_dir()
    found = []
    for file in root.glob(f".*{SUFFIX}") if root.is_dir() else ():
        try:
            state = read_resume(file)
        except CheckpointError:
            continue
        if can_replace(state.model_path):
            found.append(state)
    return sorted(found, key=lambda s: s.saved_at, reverse=True)


def can_replace(model_path: Path) -> bool:
    """Whether a resumed run may save to `model_path`: nothing there, or a model saved as cancelled
    (the same run, stopped early with its weights kept)."""
    import json

    path = Path(model_path)
    if not path.exists():
        return True
    try:
        return json.loads((path / "metrics.json").read_text()).get("status") == "cancelled"
    except (OSError, ValueError, AttributeError):
        return False


def _cpu(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu(v) for v in value)
    return value

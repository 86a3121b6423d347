"""Training jobs that outlive a page run: background threads with a progress record.

Streamlit stops a script run the moment the user touches a widget, so a training
loop inside the run dies with it. A job runs `train()` in a daemon thread instead;
the page only reads `job.view()` (a consistent copy taken under a lock) and may ask
it to stop. Everything that can be refused (bad values, a taken tag, missing data,
this owner's job still running, the server at its cap) is refused in
`JobRegistry.start`, before a thread exists.

Several users: each owner (the page passes one id per browser session) runs at most one
job at a time, and the whole process runs at most `max_running` (default 2, one per core
of a small machine). Every job saves under its own tag: a tag taken on disk or by a
running job is refused at start, and the save itself never replaces a folder, so when
another process saves the same tag first this job ends as failed, saying so, and the
other model stays whole. No streamlit here: the registry is a plain object the page
keeps in `st.cache_resource`. The owner is whatever the page says identifies a person
across reloads (a browser cookie), so a reloaded page finds its running training again.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..store.folders import CheckpointError, tag_path
from ..config import ModelConfig, TrainConfig
from ..errors import VaeCoreError
from ..analysis.explore import prior_samples
from .resume import ResumeState, can_replace, clear_resume, resume_file
from .runs import PAGE_EVALUATION, finish_run
from .loop import CANCELLED, COMPLETED, DIVERGED, Progress, RunSetup, setup_run, train

RUNNING, FAILED = "running", "failed"
SAVING = "saving"
FINISHED = (COMPLETED, CANCELLED, DIVERGED, FAILED)


DEFAULT_MAX_RUNNING = 2
KEEP_FINISHED = 50  # finished jobs kept for their results; older ones are forgotten

# What a caller adds to a saved model folder before the job ends (the page: its map layers,
# explorer/layers/stored.py): after_save(path, progress) with progress(message).
AfterSave = Callable[[Path, Callable[[str], None]], object]
log = logging.getLogger(__name__)


class JobError(VaeCoreError, RuntimeError):
    """A training job that cannot start now (this owner's job still runs, or the server is busy)."""


@dataclass(frozen=True)
class JobView:
    """A snapshot of a job for drawing: plain values, safe to read while the thread runs."""

    id: int
    tag: str
    dataset: str
    objective: str
    state: str  # running, saving, completed, cancelled, diverged, failed
    message: str
    fraction: float
    step: int
    total_steps: int
    epoch: float
    elapsed: float
    eta: float | None
    history: tuple[dict, ...]  # rows as in TrainResult.history: split, step, epoch, elapsed, loss parts
    path: str | None  # the saved model folder, once saved (completed, or diverged with its last good weights)
    cancel_requested: bool
    preview: np.ndarray | None = None  # prior samples decoded at the last epoch's end (n, 28, 28)
    preview_epoch: float = 0.0
    # The fixed test subset's codes (vae_core.formation) at a recent report, its labels, and when.
    codes: np.ndarray | None = None  # (n, d)
    code_labels: np.ndarray | None = None  # (n,)
    codes_step: int = 0
    codes_epoch: float = 0.0

    @property
    def running(self) -> bool:
        return self.state not in FINISHED


@dataclass
class TrainJob:
    """One training run in a background thread; read it through `view()`."""

    id: int
    model_config: ModelConfig
    train_config: TrainConfig
    tag: str
    path: Path
    owner: str | None = None
    saved: bool = False
    keep_on_cancel: bool = False  # a cancel saves the last good weights (marked cancelled) when set
    resume: ResumeState | None = None  # continue this run from its resume checkpoint (vae_core.training.resume)
    replace: bool = False  # the run saved as cancelled is replaced by its resumed end
    evaluate: bool = False  # when done, the shipped models' evaluation, bounded in time (runs.PAGE_EVALUATION)
    after_save: AfterSave | None = None  # run on the saved folder before the job ends; a failure loses only its files
    preview: np.ndarray | None = None
    preview_epoch: float = 0.0
    codes: np.ndarray | None = None  # the formation subset's codes at a recent report (_live_codes)
    codes_step: int = 0
    codes_epoch: float = 0.0
    state: str = RUNNING
    message: str = "starting"
    progress: Progress | None = None
    history: list[dict] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _model: object = field(default=None, repr=False)  # the VAE being trained (read by the preview and live codes)
    _formation: object = field(default=None, repr=False)  # the run's analysis.formation.Formation, if it keeps one
    _watched: float = field(default=-1e9, repr=False)  # when a page last showed the live codes (watch())

    PREVIEW_SAMPLES = 16
    WATCH_SECONDS = 3.0  # live codes are encoded while a page asked for them this recently

    def _preview_images(self) -> np.ndarray:
        """Decode fixed prior draws with the weights as they are now (called between two steps,
        from the training thread, so the weights are not changing underneath)."""
        was_training = self._model.training
        try:
            return prior_samples(self._model, self.PREVIEW_SAMPLES, seed=0)
        finally:
            self._model.train(was_training)

    def watch(self) -> None:
        """A page shows the live codes now: encode them at the next reports (nobody watching, no encodes
        but the kept frames)."""
        with self._lock:
            self._watched = time.monotonic()

    def _live_codes(self, p: Progress) -> tuple[np.ndarray | None, float | None]:
        """The formation subset's codes now and, for a kept frame, its epoch: at an epoch's end the frame
        the loop has just recorded (before any codes were shown, the last one kept: the untrained
        model's), else, while a page watches, a live encode within Formation.live's time budget
        (None when over it: the last codes stay)."""
        formation = self._formation
        if formation is None or self._model is None:
            return None, None
        if (p.test is not None or self.codes is None) and formation.frames:
            return formation.frames[-1][1], formation.frames[-1][0]
        with self._lock:
            watched = time.monotonic() - self._watched < self.WATCH_SECONDS
        return (formation.live(self._model) if watched else None), None

    def cancel(self, *, keep: bool = False) -> None:
        """Ask the loop to stop at its next step; the job ends as 'cancelled'. With `keep`, the
        weights trained so far are saved under the job's tag (marked cancelled), else nothing is."""
        with self._lock:
            self.keep_on_cancel = self.keep_on_cancel or keep
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread (tests, shutdown); True when it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.view().state in FINISHED

    def view(self) -> JobView:
        with self._lock:
            p, r = self.progress, self.resume  # before the first report, a resumed run is where it stopped
            # A continued run counts the seconds it trained before it stopped, as its result message does.
            elapsed = (r.seconds if r else 0.0) + (self.finished or time.monotonic()) - self.started
            return JobView(
                id=self.id, tag=self.tag, dataset=self.train_config.dataset,
                objective=self.model_config.objective, state=self.state, message=self.message,
                fraction=1.0 if self.state == COMPLETED else (p.fraction if p else r.fraction if r else 0.0),
                step=p.step if p else r.step if r else 0, total_steps=p.total_steps if p else r.total_steps if r else 0,
                epoch=p.epoch if p else r.epochs if r else 0.0,
                elapsed=elapsed, eta=p.eta if p and self.state == RUNNING else None,
                history=tuple(self.history), path=str(self.path) if self.saved and self.state in FINISHED else None,
                cancel_requested=self._stop.is_set(), preview=self.preview, preview_epoch=self.preview_epoch,
                codes=self.codes, codes_step=self.codes_step, codes_epoch=self.codes_epoch,
                code_labels=self._formation.labels if self._formation is not None else None)

    def _on_progress(self, p: Progress) -> None:
        if p.test is not None and self._model is not None:  # an epoch's end: a live preview
            preview = self._preview_images()
            with self._lock:
                self.preview, self.preview_epoch = preview, p.epoch
        codes, frame_epoch = self._live_codes(p)
        with self._lock:
            if codes is not None:
                self.codes, self.codes_step, self.codes_epoch = codes, p.step, p.epoch
                if frame_epoch is not None and frame_epoch != p.epoch:  # a frame kept before this report
                    self.codes_epoch = frame_epoch
                    self.codes_step = round(p.step * frame_epoch / p.epoch) if p.epoch else 0
            self.progress = p
            for split, parts in (("train", p.train), ("test", p.test)):
                if parts:
                    self.history.append({"split": split, "step": p.step, "epoch": p.epoch,
                                         "elapsed": p.elapsed, **parts})
            self.message = f"epoch {p.epoch:.2f}, step {p.step} of {p.total_steps}"

    def _set(self, state: str, message: str) -> None:
        with self._lock:
            self.state, self.message = state, message
            if state in FINISHED:
                self.finished = time.monotonic()

    def _run(self, run: RunSetup) -> None:
        try:
            self._model, self._formation = run.model, run.formation
            # The run keeps a resume checkpoint beside its tag (a server restart can continue it);
            # finish_run removes it once the model is saved.
            result = train(run, callback=self._on_progress, should_stop=self._stop.is_set,
                           checkpoint=resume_file(self.path))
            train_split, test_split = run.train_split, run.test_split
            with self._lock:
                keep = self.keep_on_cancel
            if result.status == CANCELLED and not keep:
                clear_resume(self.path)
                self._set(result.status, result.message + "; nothing was saved")
                return
            # Completed, diverged (`fit` then handed back the last weights whose loss was finite), or
            # cancelled with "keep": saved like the CLI saves them, the status marked in metrics.json.
            self._set(SAVING, "encoding the test set and saving")
            try:  # refuses a tag someone took while we trained, before and at the final rename
                finish_run(result, self.path, test_split=test_split, train_split=train_split, overwrite=self.replace,
                           keep_cancelled=keep,
                           evaluate=PAGE_EVALUATION if self.evaluate and result.status == COMPLETED else False,
                           progress=lambda m: self._set(SAVING, m))
            except CheckpointError:
                if not self.path.exists():
                    raise
                clear_resume(self.path)
                self._set(FAILED, f"a model tagged {self.tag!r} was saved elsewhere while this one trained; "
                                  "this run was not saved and the other model was left as it is")
                return
            with self._lock:
                self.saved = True
            self._after_save()
            if result.status == DIVERGED:
                self._set(DIVERGED, f"{result.message} Those weights were saved as {self.tag!r} "
                                    "(marked diverged in its metrics).")
            elif result.status == CANCELLED:
                self._set(CANCELLED, f"{result.message}; the weights trained so far were saved as {self.tag!r} "
                                     "(marked cancelled in its metrics); it can be continued from where it stopped")
            else:
                self._set(COMPLETED, f"{result.message}; saved as {self.tag!r}")
        except Exception as exc:  # a thread has nobody to raise to: the page shows the message
            self._set(FAILED, f"training failed: {type(exc).__name__}: {exc}")


    def _after_save(self) -> None:
        if self.after_save is None:
            return
        try:
            self.after_save(self.path, lambda m: self._set(SAVING, m))
        except Exception:  # the model is saved: what this adds is made again when it is needed
            log.exception("after saving %s", self.path)


class JobRegistry:
    """Running jobs, one per owner and at most `max_running` in all; keeps the recent finished
    ones so their results can be shown."""

    def __init__(self, max_running: int = DEFAULT_MAX_RUNNING):
        if max_running < 1:
            raise ValueError(f"max_running must be at least 1; got {max_running}")
        self.max_running = max_running
        self._lock = threading.Lock()
        self._jobs: list[TrainJob] = []
        self._ids = itertools.count(1)

    def current(self, owner: str | None = None) -> TrainJob | None:
        """The owner's running job, else the owner's most recent one (owner None: any owner's)."""
        with self._lock:
            mine = [j for j in self._jobs if owner is None or j.owner == owner]
            running = [j for j in mine if j.view().running]
            return running[-1] if running else (mine[-1] if mine else None)

    def running(self) -> list[TrainJob]:
        """Every job still running, oldest first."""
        with self._lock:
            return [j for j in self._jobs if j.view().running]

    def start(self, model_config: ModelConfig, train_config: TrainConfig, tag: str, *, owner: str | None = None,
              data_dir=None, models_root: Path | None = None, resume: ResumeState | None = None,
              evaluate: bool = False, download: bool = True, after_save: AfterSave | None = None) -> TrainJob:
        """Check everything that can be checked, then start the thread; raises JobError, ConfigError,
        CheckpointError or DatasetError (nothing started) when the request cannot run.

        `resume` (`vae_core.training.resume.read_resume(tag)`, or one of `resumable_runs()`) continues that
        run ("continue training"): pass its own configs and tag; a model it saved as cancelled is
        replaced by the finished one. `download=False` refuses missing data files (DatasetError naming
        them) instead of fetching them: the page downloads only when the user asks. `after_save(path,
        progress)` adds files to the saved folder before the job ends (the page's map layers).

        The data is read (perhaps downloaded) outside the registry's lock, which every session's
        once-a-second progress read needs; the checks run again under the lock just before the
        thread starts, so two quick clicks still start one job."""
        path = tag_path(tag, models_root)
        replace = resume is not None and path.exists() and can_replace(path)
        with self._lock:
            self._refuse(owner, path, tag, replace)
        # The one set-up every run has (vae_core.training.loop.setup_run): settings, data (downloaded only when
        # asked), device and the seeded model, all checked before a thread exists.
        run = setup_run(model_config, train_config, data_dir=data_dir, resume=resume, download=download,
                        progress=False)
        with self._lock:
            self._refuse(owner, path, tag, replace)
            job = TrainJob(next(self._ids), model_config, train_config, tag, path, owner=owner, resume=resume,
                           replace=replace, evaluate=evaluate, after_save=after_save)
            job._thread = threading.Thread(target=job._run, args=(run,), name=f"vae-train-{tag}", daemon=True)
            finished = [j for j in self._jobs if not j.view().running]
            for old in finished[:max(0, len(finished) - KEEP_FINISHED)]:
                self._jobs.remove(old)
            self._jobs.append(job)
            job._thread.start()
            return job

    def _refuse(self, owner: str | None, path: Path, tag: str, replace: bool = False) -> None:
        """Raise when this owner already trains, the server is full, or the tag is taken (hold the lock)."""
        running = [j for j in self._jobs if j.view().running]
        mine = next((j for j in running if j.owner == owner), None)
        if mine is not None:
            v = mine.view()
            raise JobError(f"your training is already running ({v.tag!r}, {v.fraction:.0%}); "
                           "wait for it or cancel it first")
        if len(running) >= self.max_running:
            raise JobError(f"the server is busy: {len(running)} trainings are running, the most it runs at "
                           "once; try again when one has finished")
        if path.exists() and not replace:
            raise CheckpointError(f"a model tagged {tag!r} already exists ({path}); choose another tag")
        if any(j.path == path for j in running):
            raise CheckpointError(f"a model tagged {tag!r} is being trained right now; choose another tag")

"""Configuration dataclasses: defaults -> overrides -> constructors, one way.

A model folder stores both configs as JSON, so every saved model rebuilds itself
(nanoGPT's habit). Unknown keys and nonsense values are errors, raised before any
work starts.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .errors import ConfigError

OBJECTIVES = ("standard", "mmd")
ARCHS = ("mlp", "conv")
ACTIVATIONS = ("relu", "tanh", "elu", "leaky_relu")
DATASETS = ("mnist", "fashion")
ELBO_ESTIMATORS = ("analytic", "mc", "iwae")
MMD_RECONS = ("bce", "mse")
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")
DEVICES = ("auto", "cpu", "cuda")

MAX_EPOCHS = 1000
MAX_LATENT_DIM = 256


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")


def _positive_int(name: str, value, upper: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}")
    if upper is not None and value > upper:
        raise ConfigError(f"{name} must be at most {upper}; got {value}")


def _positive_float(name: str, value, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be a finite number {bound}; got {value!r}")


def _from_dict(cls, data: dict):
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object; got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} key(s): {', '.join(unknown)}")
    kwargs = dict(data)
    for f in dataclasses.fields(cls):
        if f.name in kwargs and isinstance(kwargs[f.name], list):
            kwargs[f.name] = tuple(kwargs[f.name])  # JSON has no tuples
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class ModelConfig:
    """What the network is: enough to rebuild it from a folder."""

    objective: str = "standard"  # "standard" (ELBO) or "mmd" (InfoVAE, deterministic encoder)
    arch: str = "mlp"
    latent_dim: int = 2
    hidden: tuple[int, ...] = (512, 512, 512)  # MLP only (the DIANNE example)
    activation: str = "relu"  # MLP only
    image_size: int = 28

    def __post_init__(self):
        _choice("objective", self.objective, OBJECTIVES)
        _choice("arch", self.arch, ARCHS)
        _choice("activation", self.activation, ACTIVATIONS)
        _positive_int("latent_dim", self.latent_dim, MAX_LATENT_DIM)
        if not isinstance(self.hidden, tuple) or not self.hidden:
            raise ConfigError(f"hidden must be a non-empty list of layer widths; got {self.hidden!r}")
        for width in self.hidden:
            _positive_int("hidden layer width", width, 8192)
        if self.image_size != 28:
            raise ConfigError(f"image_size must be 28 (MNIST-sized images); got {self.image_size!r}")

    @property
    def stochastic_encoder(self) -> bool:
        return self.objective == "standard"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        return _from_dict(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained, and on what."""

    dataset: str = "mnist"
    epochs: int = 10
    max_iters: int | None = None  # stop after this many steps, whatever `epochs` says
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "cosine"  # learning rate: constant or cosine decay to 0 over the run
    seed: int = 0
    device: str = "auto"
    binarize: bool = True  # dynamic binarisation, a fresh Bernoulli draw per batch
    train_subset: int | None = None  # use only the first N training images
    # standard VAE
    beta: float = 1.0
    samples: int = 1  # L latent samples per input (K for the IWAE bound)
    estimator: str = "analytic"  # analytic KL, Monte Carlo ELBO, or importance-weighted bound
    # MMD-VAE
    mmd_lambda: float = 1000.0
    mmd_recon: str = "bce"
    mmd_prior_samples: int = 200
    # reporting
    eval_subset: int = 2000  # test images scored at the end of each epoch
    snapshot_every: int = 0  # write PNG snapshots every N epochs (0: never)

    def __post_init__(self):
        _choice("dataset", self.dataset, DATASETS)
        _positive_int("epochs", self.epochs, MAX_EPOCHS)
        if self.max_iters is not None:
            _positive_int("max_iters", self.max_iters)
        _positive_int("batch_size", self.batch_size, 60000)
        _positive_float("lr", self.lr)
        if self.lr > 10:
            raise ConfigError(f"lr must be at most 10; got {self.lr}")
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be an integer ≥ 0; got {self.seed!r}")
        _choice("device", self.device, DEVICES)
        if not isinstance(self.binarize, bool):
            raise ConfigError(f"binarize must be true or false; got {self.binarize!r}")
        if self.train_subset is not None:
            _positive_int("train_subset", self.train_subset, 60000)
        _positive_float("beta", self.beta, allow_zero=True)
        _positive_int("samples", self.samples, 10000)
        _choice("estimator", self.estimator, ELBO_ESTIMATORS)
        _positive_float("mmd_lambda", self.mmd_lambda, allow_zero=True)
        _choice("mmd_recon", self.mmd_recon, MMD_RECONS)
        _positive_int("mmd_prior_samples", self.mmd_prior_samples, 100000)
        if isinstance(self.eval_subset, bool) or not isinstance(self.eval_subset, int) or self.eval_subset < 0:
            raise ConfigError(f"eval_subset must be an integer ≥ 0; got {self.eval_subset!r}")
        if isinstance(self.snapshot_every, bool) or not isinstance(self.snapshot_every, int) or self.snapshot_every < 0:
            raise ConfigError(f"snapshot_every must be an integer ≥ 0; got {self.snapshot_every!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        return _from_dict(cls, data)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

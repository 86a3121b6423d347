"""Configuration dataclasses: defaults -> overrides -> constructors, one way.

A model folder stores both configs as JSON, so every saved model rebuilds itself
(nanoGPT's habit). Unknown keys and nonsense values are errors, raised before any
work starts.

Each field carries its help text, bounds, choices and the members it applies to in its
metadata: that is the one list of settings. The core settings are written below; the rest are
the options the registries' members bring (`vae_core.registry.Option`, declared in each
objective's, prior's and likelihood's own file), added as fields of the same dataclasses, so a
new member's settings reach the CLI and the page's form with no line here. `settings()` hands
the list to the CLI (which builds its options from it) and to the page's training form.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from .registry import Registry

from .data import DATASETS, MAX_SIDE, MIN_SIDE, Inputs, is_path_spec
from .errors import ConfigError
from .model.likelihoods import LIKELIHOODS
from .objectives import OBJECTIVES
from .model.priors import PRIORS

ARCHS = ("mlp", "conv")  # vae_core.model.networks.ARCHITECTURES builds them
ACTIVATIONS = ("relu", "tanh", "elu", "leaky_relu")
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")
DEFAULT_IMAGE_SHAPE = DATASETS["mnist"].shape  # the default model is MNIST's

MAX_EPOCHS = 1000
MAX_LATENT_DIM = 256
MAX_BATCH = 60000
MAX_IMAGES = 10_000_000

__all__ = ["ConfigError", "ModelConfig", "TrainConfig", "Setting", "settings", "check_compatible"]


def setting(default, help: str, **meta) -> Any:
    """A dataclass field with its help text and checks. meta: choices (a tuple, or the name of a
    registry: "objectives", "priors", "likelihoods", "datasets"), min, max, strict (float bound
    excluded), optional (None allowed), applies ({"objective": (...), ...}), flags (CLI
    aliases), legacy (old values still read: a tuple, or {old: new}), label and main (the form's
    words, and whether it comes first), exposed (False: derived, not a user setting)."""
    return field(default=default, metadata={"help": help, **meta})


def _choice_titles(choices) -> dict:
    """The members' titles for a setting that picks a member; {} for a plain list of values."""
    registry = {"objectives": OBJECTIVES, "priors": PRIORS, "likelihoods": LIKELIHOODS}.get(choices) \
        if isinstance(choices, str) else None
    return {name: member.title for name, member in registry.items()} if registry is not None else {}


def _registry_choices(choices) -> tuple:
    if isinstance(choices, str):
        return {"objectives": lambda: tuple(OBJECTIVES), "priors": lambda: tuple(PRIORS),
                "likelihoods": lambda: tuple(LIKELIHOODS), "datasets": lambda: tuple(DATASETS)}[choices]()
    return tuple(choices) if choices is not None else None


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")


def _positive_int(name: str, value, upper: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}")
    if upper is not None and value > upper:
        raise ConfigError(f"{name} must be at most {upper}; got {value}")


def _check_int(name: str, value, lo: int, hi: int | None) -> None:
    if lo == 1:
        return _positive_int(name, value, hi)
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(f"{name} must be an integer ≥ {lo}; got {value!r}")
    if hi is not None and value > hi:
        raise ConfigError(f"{name} must be at most {hi}; got {value}")


def _check_float(name: str, value, lo: float, strict: bool, hi: float | None, hi_strict: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < lo or (value == lo and strict):
        raise ConfigError(f"{name} must be a finite number {'>' if strict else '≥'} {lo:g}; got {value!r}")
    if hi is not None and (value > hi or (value == hi and hi_strict)):
        raise ConfigError(f"{name} must be {'below' if hi_strict else 'at most'} {hi:g}; got {value}")


def _validate_fields(obj) -> None:
    """The checks every field's metadata asks for (types from the annotations)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        meta, value = f.metadata, getattr(obj, f.name)
        if "help" not in meta or meta.get("custom"):
            continue
        if value is None and meta.get("optional"):
            continue
        base = _base_type(hints[f.name])
        choices = _registry_choices(meta.get("choices"))
        if choices is not None:
            legacy = meta.get("legacy", ())
            _choice(f.name, value, choices + tuple(legacy))
            if isinstance(legacy, dict) and value in legacy:  # an old name of the same thing
                object.__setattr__(obj, f.name, legacy[value])
        elif base is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{f.name} must be true or false; got {value!r}")
        elif base is int:
            _check_int(f.name, value, meta.get("min", 1), meta.get("max"))
        elif base is float:
            _check_float(f.name, value, meta.get("min", 0.0), meta.get("strict", True), meta.get("max"),
                         meta.get("max_strict", False))


def _base_type(hint) -> type:
    """int for `int | None`, tuple for `tuple[int, ...]`, etc."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is typing.Union or (origin is not None and type(None) in typing.get_args(hint)):
        return _base_type(args[0])
    if origin is tuple:
        return tuple
    return hint


def _from_dict(cls, data: dict):
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object; got {type(data).__name__}")
    data = cls._migrate(dict(data))
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
class _ModelCore:
    """What the network is: enough to rebuild it from a folder (the core settings; `ModelConfig`
    adds the members' model options)."""

    objective: str = setting("standard", OBJECTIVES.describe("training objective"), choices="objectives",
                             flags=("--model",), label="Model", main=True)
    arch: str = setting("mlp", "network: mlp (fully connected, the DIANNE example) or conv (the TensorFlow CVAE "
                        "blog's, scaled to the image size)", choices=ARCHS, label="Architecture", main=True,
                        titles={"mlp": "MLP", "conv": "convolutional"})
    latent_dim: int = setting(2, "latent dimension d", max=MAX_LATENT_DIM, label="Latent dimension", main=True)
    hidden: tuple[int, ...] = setting((512, 512, 512), "hidden layer widths of the MLP encoder (the decoder mirrors "
                                      "them)", applies={"arch": ("mlp",)}, custom=True, label="MLP layer widths")
    activation: str = setting("relu", "MLP activation", choices=ACTIVATIONS, applies={"arch": ("mlp",)})
    image_shape: tuple[int, int, int] = setting(DEFAULT_IMAGE_SHAPE, "(channels, height, width) of the images; "
                                                "set from the dataset", exposed=False, custom=True)
    likelihood: str = setting("bernoulli", "p(x|z): bernoulli (binarised pixels), cbernoulli (continuous Bernoulli, "
                              "for grey or colour intensities) or gaussian (learned variance per pixel); default: "
                              "the dataset's (bernoulli, for MNIST, Fashion-MNIST and your own)",
                              choices="likelihoods")
    prior: str = setting("standard", PRIORS.describe("p(z)"), choices="priors", label="Prior p(z)", main=True)

    def __post_init__(self):
        _validate_fields(self)
        if not isinstance(self.hidden, tuple) or not self.hidden:
            raise ConfigError(f"hidden must be a non-empty list of layer widths; got {self.hidden!r}")
        for width in self.hidden:
            _positive_int("hidden layer width", width, 8192)
        shape = self.image_shape
        if (not isinstance(shape, tuple) or len(shape) != 3
                or not all(isinstance(s, int) and not isinstance(s, bool) for s in shape)):
            raise ConfigError(f"image_shape must be (channels, height, width); got {shape!r}")
        if shape[0] not in (1, 3) or not all(MIN_SIDE <= s <= MAX_SIDE for s in shape[1:]):
            raise ConfigError(f"image_shape must have 1 or 3 channels and sides of {MIN_SIDE} to {MAX_SIDE} pixels; "
                              f"got {shape!r}")
        if PRIORS[self.prior].needs_stochastic_encoder and not self.stochastic_encoder:
            raise ConfigError(f"prior {self.prior!r} needs a stochastic encoder; objective {self.objective!r} has a "
                              "deterministic one")

    @property
    def stochastic_encoder(self) -> bool:
        return OBJECTIVES[self.objective].stochastic_encoder

    def same_network(self, other: "ModelConfig") -> bool:
        """Whether `other` has the same weights' layout (everything but the objective): a model can
        continue training under another objective (e.g. ELBO, then the IWAE bound)."""
        return (dataclasses.replace(self, objective=other.objective) == other
                and self.stochastic_encoder == other.stochastic_encoder)

    @classmethod
    def for_dataset(cls, dataset, **fields) -> "ModelConfig":
        """A config whose image shape is the dataset record's, and whose likelihood is the dataset's
        unless `fields` names one."""
        fields = {k: v for k, v in fields.items() if v is not None}
        fields.setdefault("likelihood", dataset.likelihood)
        return cls(image_shape=tuple(dataset.shape), **fields)

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        return _from_dict(cls, data)

    @staticmethod
    def _migrate(data: dict) -> dict:
        """Format-1 configs: `image_size` (28) was the only shape, Bernoulli the only likelihood."""
        if "image_size" in data and "image_shape" not in data:
            size = data.pop("image_size")
            if isinstance(size, int) and not isinstance(size, bool):
                data["image_shape"] = (1, size, size)
            else:
                data["image_shape"] = size
        return data


@dataclass(frozen=True)
class _TrainCore:
    """How a model is trained, and on what (the core settings; `TrainConfig` adds the members'
    training options)."""

    dataset: str = setting("mnist", f"{', '.join(DATASETS)}, or the path of your own data: an .npz file (Keras layout: "
                           "x_train, y_train, x_test, y_test) or a folder with one subfolder of images per class",
                           custom=True, suggestions="datasets")
    epochs: int = setting(10, "passes over the training set", max=MAX_EPOCHS, label="Epochs", main=True)
    max_iters: int | None = setting(None, "stop after this many steps, whatever epochs says", optional=True,
                                    label="Stop after steps (0: never)")
    batch_size: int = setting(128, "images per step", max=MAX_BATCH, label="Batch size", main=True)
    lr: float = setting(1e-3, "learning rate", max=10.0, label="Learning rate", main=True)
    optimizer: str = setting("adam", "optimiser: adam, or sgd with momentum 0.9", choices=OPTIMIZERS)
    schedule: str = setting("cosine", "learning-rate schedule: constant, or cosine decay to 0 over the run",
                            choices=SCHEDULES)
    seed: int = setting(0, "seed of the weights, the batches and every random draw", min=0, label="Seed")
    device: str = setting("auto", "where to train: auto takes a CUDA GPU when PyTorch sees one", choices=DEVICES)
    precision: str = setting("fp32", "arithmetic of training: fp32, or bf16 (mixed precision: bfloat16 autocast for "
                             "the networks' matmuls and convolutions; losses, weights and evaluation in float32)",
                             choices=PRECISIONS)
    cuda_graphs: bool = setting(False, "on a CUDA GPU, capture the training step once as a CUDA graph and replay "
                                "it (the same updates, launched at once; docs/gpu.md); off: launch its kernels "
                                "one by one", label="CUDA graphs (GPU only)")
    binarize: bool | None = setting(None, "dynamic binarisation (a fresh Bernoulli draw of each image per batch); "
                                    "default: on for the bernoulli likelihood, off otherwise", optional=True,
                                    applies={"likelihood": ("bernoulli",)})
    train_subset: int | None = setting(None, "use only the first N training images", optional=True, max=MAX_IMAGES,
                                       label="Training images (0: all)")
    # reporting
    eval_subset: int = setting(2000, "test images scored at the end of each epoch", min=0,
                               label="Test images scored per epoch")
    snapshot_every: int = setting(0, "write PNG snapshots every N epochs (0: never)", min=0)
    formation_images: int = setting(2000, "test images whose codes are kept before training and at every epoch's "
                                    "end, to replay how the latent space formed (formation.npz; 0: none)", min=0,
                                    max=MAX_IMAGES, label="Test images whose codes are kept per epoch")
    checkpoint_every: int = setting(0, "write the resume checkpoint every N steps as well as at each epoch's end "
                                    "(0: at epoch ends only)", min=0)
    # image folders
    test_fraction: float = setting(0.2, "share of each class held out as the test split", max=1.0, max_strict=True,
                                   applies={"dataset": ("folder",)})
    split_seed: int = setting(0, "seed of the train/test split", min=0, applies={"dataset": ("folder",)})
    image_size: int | None = setting(None, "resize every image to N×N (default: the most common size)",
                                     optional=True, min=MIN_SIDE, max=MAX_SIDE, applies={"dataset": ("folder",)},
                                     label="Resize images to N×N (0: the most common size)")

    def __post_init__(self):
        if isinstance(self.dataset, str) and self.dataset not in DATASETS and not is_path_spec(self.dataset):
            raise ConfigError(f"dataset must be one of {', '.join(DATASETS)}, or the path of an .npz file or an "
                              f"image folder; got {self.dataset!r}")
        if not isinstance(self.dataset, str):
            raise ConfigError(f"dataset must be a name or a path; got {self.dataset!r}")
        _validate_fields(self)

    @property
    def folder_options(self) -> dict:
        """What a user's image folder is read with (ignored for other datasets)."""
        return {"test_fraction": self.test_fraction, "split_seed": self.split_seed, "image_size": self.image_size}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        return _from_dict(cls, data)

    @staticmethod
    def _migrate(data: dict) -> dict:
        return data

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


# --- the members' options become fields ----------------------------------------------------------

MEMBER_REGISTRIES: tuple[Registry, ...] = (OBJECTIVES, PRIORS)  # whose options are settings


def _member_fields(section: str) -> list[tuple]:
    """(name, type, field) of every option the registries' members bring to `section`, each applying
    to the members that declare it."""
    out = []
    for registry in MEMBER_REGISTRIES:
        for option, members in registry.options():
            if option.section != section:
                continue
            hint = option.value_type | None if option.optional else option.value_type
            meta = {**option.metadata(), "applies": {registry.key: members}}
            out.append((option.name, hint, field(default=option.default, metadata=meta)))
    return out


def _with_options(core: type, name: str, section: str, doc: str) -> type:
    """`core`'s dataclass with the members' `section` options as more fields (after the core ones)."""
    cls = dataclasses.make_dataclass(name, _member_fields(section), bases=(core,), frozen=True)
    cls.__module__, cls.__doc__ = __name__, doc
    return cls


ModelConfig = _with_options(_ModelCore, "ModelConfig", "model", "What the network is: enough to rebuild it from a "
                            "folder (the core settings and the members' model options, such as a prior's K).")
TrainConfig = _with_options(_TrainCore, "TrainConfig", "train", "How a model is trained, and on what (the core "
                            "settings and the members' training options, such as β or λ).")


def check_compatible(model_cfg: ModelConfig, train_cfg: TrainConfig) -> None:
    """What no single config can check alone; raises ConfigError before anything runs. Each chosen
    member checks the settings it cares about (`check`), then the rules between members."""
    OBJECTIVES[model_cfg.objective].check(model_cfg, train_cfg)
    if train_cfg.binarize and model_cfg.likelihood != "bernoulli":
        raise ConfigError(f"binarize applies to the bernoulli likelihood only; the {model_cfg.likelihood} likelihood "
                          "models the intensities themselves")


def binarizes(model_cfg: ModelConfig, train_cfg: TrainConfig) -> bool:
    """Whether training draws binary inputs: binarize, or by default whenever the likelihood is Bernoulli."""
    return model_cfg.likelihood == "bernoulli" if train_cfg.binarize is None else train_cfg.binarize


def run_inputs(model_cfg: ModelConfig, train_cfg: TrainConfig) -> Inputs:
    """The inputs a run's codes and figures are computed from (`vae_core.data.Inputs`)."""
    return Inputs(binarized=binarizes(model_cfg, train_cfg), seed=0)


MIN_DEFAULT_STEPS = 2000


def default_epochs(n_train: int, batch_size: int) -> int:
    """The epochs of a run that asked for no number (the command line without --epochs): the
    setting's default, 10, or as many as MIN_DEFAULT_STEPS steps take when the training images are
    too few for that many in 10 epochs (at most MAX_EPOCHS).

    10 epochs are 4,690 steps on MNIST but 120 on a user's 1,500 images (batch 128): too few for a
    VAE to learn more than the images' average (measured on red, green and blue shapes: every class
    reconstructed in one grey). With 1,000 steps each class took its colour in some runs and red and
    green shared one yellow in others; with 2,000, every run measured had the three colours.
    """
    epochs = TrainConfig.__dataclass_fields__["epochs"].default
    steps_per_epoch = max(math.ceil(n_train / batch_size), 1)
    return min(max(epochs, math.ceil(MIN_DEFAULT_STEPS / steps_per_epoch)), MAX_EPOCHS)


# --- the one list of settings -------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    """One user setting, as the CLI and the page's form show it."""

    name: str
    section: str  # "model" (ModelConfig) or "train" (TrainConfig)
    type: str  # "int", "float", "str", "bool", "ints" (a list of integers)
    default: Any
    help: str
    choices: tuple | None = None  # the allowed values, when there is a fixed list
    optional: bool = False  # None allowed (meaning: see help)
    minimum: float | None = None
    maximum: float | None = None
    applies_to: dict = field(default_factory=dict)  # {"objective": (...), "prior": ..., "arch": ..., "likelihood": ...,
    #                                                  "dataset": ("folder",)}; empty: always
    flags: tuple[str, ...] = ()  # the CLI's option strings
    suggestions: tuple | None = None  # known values of a free-text setting (the built-in datasets)
    label: str = ""  # the form's words for it
    main: bool = False  # among the form's first fields
    choice_titles: dict = field(default_factory=dict)  # the words for each choice, from the members' titles

    def applies(self, **current) -> bool:
        """Whether this setting matters for the current choices, e.g. applies(objective="mmd", prior="standard")."""
        return all(current.get(key) is None or current[key] in allowed for key, allowed in self.applies_to.items())


_TYPE_NAMES = {int: "int", float: "float", str: "str", bool: "bool", tuple: "ints"}


def settings(section: str | None = None) -> list[Setting]:
    """Every user setting of ModelConfig ("model") and TrainConfig ("train"), in declaration order,
    with name, type, default, help, choices, bounds and the members it applies to."""
    out = []
    for sec, cls in (("model", ModelConfig), ("train", TrainConfig)):
        if section not in (None, sec):
            continue
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if "help" not in meta or meta.get("exposed") is False:
                continue
            lo = meta.get("min", 1 if _base_type(hints[f.name]) is int else None)
            out.append(Setting(
                name=f.name, section=sec, type=_TYPE_NAMES[_base_type(hints[f.name])], default=f.default,
                help=meta["help"], choices=_registry_choices(meta.get("choices")),
                optional=bool(meta.get("optional")), minimum=lo, maximum=meta.get("max"),
                applies_to=dict(meta.get("applies", {})),
                flags=("--" + f.name.replace("_", "-"), *meta.get("flags", ())),
                suggestions=_registry_choices(meta.get("suggestions")),
                label=meta.get("label") or f.name.replace("_", " ").capitalize(), main=bool(meta.get("main")),
                choice_titles=meta.get("titles") or _choice_titles(meta.get("choices"))))
    return out

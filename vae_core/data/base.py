"""What every dataset is made of: its record (`Dataset`), its splits held whole (`Split`), and the
inputs a model sees (`to_float`, `binarize`, `Inputs`).

A record says what a dataset is — name, title, image shape (C, H, W), class names, the likelihood
that fits it — and where its train/test splits come from (`read`). Images stay uint8, (N, C, H, W);
`to_float` and `binarize` make model inputs per batch. A record's `fingerprint` identifies its
content, so a model can be checked against the data it is shown over.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from ..lazy import torch

ENV_DATA_DIR = "VAE_DATA_DIR"
SPLITS = ("train", "test")
MIN_SIDE, MAX_SIDE = 16, 64  # image sides the architectures take (the conv one scales with the size)


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """What a dataset is and where its splits come from; subclasses implement `read_arrays`."""

    name: str  # the registry key of a built-in dataset; the absolute path of a user's file or folder
    title: str
    shape: tuple[int, int, int]  # (C, H, W)
    classes: tuple[str, ...]
    likelihood: str = "bernoulli"  # the likelihood that fits its images by default
    notes: tuple[str, ...] = ()  # what reading it did that the user should know (resized images, ...)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def builtin(self) -> bool:
        """Whether it ships with the library (a registered record), not a user's file or folder."""
        return False

    @property
    def fingerprint(self) -> str:
        raise NotImplementedError

    def describe(self) -> dict:
        """What a model folder records about the data it was trained on."""
        return {"name": self.name, "title": self.title, "shape": list(self.shape), "classes": list(self.classes),
                "fingerprint": self.fingerprint}

    def read_arrays(self, split: str, *, data_dir=None, download: bool = True,
                    progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(images uint8 (N, C, H, W), labels int64 (N,)) of one split, read with numpy alone: what the page
        shows needs no torch (vae_core.lazy). Shared, not copied: never write into them."""
        raise NotImplementedError

    def read(self, split: str, *, data_dir=None, download: bool = True, progress: bool = True) -> "Split":
        """One split as tensors, over the same memory as `read_arrays`."""
        images, labels = self.read_arrays(split, data_dir=data_dir, download=download, progress=progress)
        key = (self.name, split, self.classes, id(images), id(labels))  # the Split holds the arrays: ids stay theirs
        if key not in _SPLITS:
            while len(_SPLITS) >= MAX_SPLITS:
                _SPLITS.pop(next(iter(_SPLITS)))
            _SPLITS[key] = Split(self.name, split, torch.from_numpy(images), torch.from_numpy(labels), self.classes)
        return _SPLITS[key]


MAX_SPLITS = 8
_SPLITS: dict[tuple, "Split"] = {}  # one Split per array pair read: every caller shares its tensors


@dataclass(frozen=True)
class Split:
    """One split held whole: uint8 images (N, C, H, W), int64 labels (N,) and the class names."""

    dataset: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, n: int | None) -> "Split":
        if n is None or n >= len(self):
            return self
        return Split(self.dataset, self.split, self.images[:n], self.labels[:n], self.classes)


def is_path_spec(spec: str) -> bool:
    """Whether a dataset name is meant as a path (a user's .npz file or image folder)."""
    return isinstance(spec, str) and ("/" in spec or os.sep in spec or spec.lower().endswith(".npz")
                                      or spec.startswith("~"))


def default_data_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "vae_explorer" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The option if given, else $VAE_DATA_DIR, else a user cache directory."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    return Path(env).expanduser() if env else default_data_dir()


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 in [0, 255] -> float32 in [0, 1]."""
    return images.to(torch.float32).div_(255.0)


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarisation: each pixel is a Bernoulli draw with its intensity as probability."""
    return torch.bernoulli(x, generator=generator)


def fixed_binarization(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One seeded Bernoulli draw of a whole split, so evaluations compare like with like."""
    g = torch.Generator().manual_seed(seed)
    return binarize(to_float(images.cpu()), g)


def eval_inputs(images: torch.Tensor, *, binarized: bool, seed: int = 0) -> torch.Tensor:
    """The fixed inputs an evaluation scores: one seeded binarisation for a Bernoulli model (as the
    shipped models are scored), the intensities in [0, 1] otherwise."""
    return fixed_binarization(images, seed=seed) if binarized else to_float(images.cpu())


@dataclass(frozen=True)
class Inputs:
    """What a model's codes and every figure about them are computed from: the images as the model
    was trained to see them. A model trained on binary draws (the Bernoulli likelihood) sees the
    split binarised once with `seed` (the same draw its test −ELBO scores); any other model sees the
    intensities in [0, 1]. The model folder records it (config.json, "inputs").

    Binarise whole splits, then index: `of(split.images)[i]`, never `of(split.images[i])` (a subset
    would get other draws)."""

    binarized: bool
    seed: int = 0

    def of(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (N, C, H, W) -> float32 model inputs (N, C, H, W) on the CPU."""
        return eval_inputs(torch.as_tensor(images), binarized=self.binarized, seed=self.seed)

    def describe(self) -> str:
        return f"binarised once (seed {self.seed})" if self.binarized else "intensities in [0, 1]"

    def to_dict(self) -> dict:
        return {"binarized": self.binarized, "seed": self.seed}

    @classmethod
    def from_dict(cls, raw) -> "Inputs":
        if not isinstance(raw, dict) or not isinstance(raw.get("binarized"), bool) \
                or not isinstance(raw.get("seed", 0), int):
            raise DatasetError(f"inputs must be {{'binarized': true|false, 'seed': int}}; got {raw!r}")
        return cls(raw["binarized"], raw.get("seed", 0))

"""Datasets as a registry of small records, and their splits as whole uint8 tensors.

A record (`Dataset`) says what a dataset is — name, title, image shape (C, H, W), class names,
the likelihood that fits it — and where its train/test splits come from (`read`). Everything
downstream (models, decoders, tiling, evaluation, claims) takes the shape and the class count
from the record. Members:

- `IdxDataset`: MNIST and Fashion-MNIST, read straight from the IDX gzip files in the layout
  torchvision uses (`<root>/MNIST/raw/*.gz`, `<root>/FashionMNIST/raw/*.gz`), downloaded from the
  same mirrors and checked against the same MD5 sums when missing; registered in `DATASETS`;
- a user's `.npz` (Keras layout) or image folder (ImageFolder layout), read by
  `vae_core.userdata` when `--dataset` is a path.

Images stay uint8, (N, C, H, W); `to_float` and `binarize` make model inputs per batch. A record's
`fingerprint` identifies its content, so a model can be checked against the data it is shown over.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DatasetError

ENV_DATA_DIR = "VAE_DATA_DIR"
SPLITS = ("train", "test")
MIN_SIDE, MAX_SIDE = 16, 64  # image sides the architectures take (the conv one scales with the size)


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """What a dataset is and where its splits come from; subclasses implement `read`."""

    name: str  # the registry key of a built-in dataset; the absolute path of a user's file or folder
    title: str
    shape: tuple[int, int, int]  # (C, H, W)
    classes: tuple[str, ...]
    likelihood: str = "bernoulli"  # the likelihood that fits its images by default
    notes: tuple[str, ...] = ()  # what reading it did that the user should know (resized images, ...)

    @property
    def key(self) -> str:
        return self.name

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def pixels(self) -> int:
        return int(np.prod(self.shape))

    @property
    def builtin(self) -> bool:
        return DATASETS.get(self.name) is self

    @property
    def fingerprint(self) -> str:
        raise NotImplementedError

    def describe(self) -> dict:
        """What a model folder records about the data it was trained on."""
        return {"name": self.name, "title": self.title, "shape": list(self.shape), "classes": list(self.classes),
                "fingerprint": self.fingerprint}

    def read(self, split: str, *, data_dir=None, download: bool = True, progress: bool = True) -> "Split":
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class IdxDataset(Dataset):
    """A dataset in MNIST's IDX format, found under the data directory or downloaded."""

    folder: str
    mirrors: tuple[str, ...]
    md5: dict  # file name -> MD5, as torchvision checks them
    prefixes: tuple[tuple[str, str], ...] = (("train", "train"), ("test", "t10k"))

    @property
    def fingerprint(self) -> str:
        # The published files, named by their MD5 sums (downloads are checked against them).
        digest = hashlib.sha256("".join(f"{k}={v};" for k, v in sorted(self.md5.items())).encode())
        return f"{self.name}:{digest.hexdigest()[:16]}"

    def read(self, split, *, data_dir=None, download=True, progress=True):
        raw = ensure_files(self, data_dir, download=download, progress=progress)
        return _read_idx_split(self, split, str(raw.resolve()))


DATASETS: dict[str, Dataset] = {
    "mnist": IdxDataset(
        name="mnist",
        title="MNIST",
        shape=(1, 28, 28),
        classes=tuple(str(d) for d in range(10)),
        folder="MNIST",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion": IdxDataset(
        name="fashion",
        title="Fashion-MNIST",
        shape=(1, 28, 28),
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        folder="FashionMNIST",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


@dataclass(frozen=True)
class Split:
    """One split held whole: uint8 images (N, C, H, W), int64 labels (N,) and the class names."""

    dataset: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.classes and self.dataset in DATASETS:
            object.__setattr__(self, "classes", DATASETS[self.dataset].classes)

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


def resolve_dataset(spec, *, data_dir=None, test_fraction: float = 0.2, split_seed: int = 0,
                    image_size: int | None = None) -> Dataset:
    """The record for a built-in name ("mnist"), a record itself, or a path to a user's `.npz`
    file or image folder (read once and cached; the folder options apply to folders only)."""
    if isinstance(spec, Dataset):
        return spec
    if isinstance(spec, str) and spec in DATASETS:
        return DATASETS[spec]
    if isinstance(spec, (str, os.PathLike)) and (not isinstance(spec, str) or is_path_spec(spec)):
        from .userdata import read_user_dataset

        return read_user_dataset(Path(spec).expanduser(), test_fraction=test_fraction, split_seed=split_seed,
                                 image_size=image_size)
    raise DatasetError(f"unknown dataset {spec!r}; choose one of {', '.join(DATASETS)}, or give the path of an "
                       ".npz file (Keras layout) or of an image folder (one subfolder per class)")


def dataset_info(name) -> Dataset:
    """The record of a dataset (kept for callers of the first version; same as `resolve_dataset`)."""
    return resolve_dataset(name)


def dataset_title(name: str) -> str:
    """A dataset's title for display, without reading anything: a built-in's title, else the
    file or folder name of a user's dataset."""
    if name in DATASETS:
        return DATASETS[name].title
    return Path(name).name or str(name)


def default_data_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "vae_explorer" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The option if given, else $VAE_DATA_DIR, else a user cache directory."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    return Path(env).expanduser() if env else default_data_dir()


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download_one(url: str, target: Path, md5: str, progress: bool) -> None:
    """Fetch into a temporary file beside the target; rename only once the MD5 matches."""
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            length = str(response.headers.get("Content-Length") or "0")
            total = int(length) if length.isdigit() else 0
            received = 0
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=total or None, unit="B", unit_scale=True, desc=target.name, file=sys.stderr)
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                received += len(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
        if total and received != total:
            raise DatasetError(f"{url}: the connection ended after {received} of {total} bytes; download discarded")
        got = _md5(Path(tmp))
        if got != md5:
            raise DatasetError(f"{url}: MD5 {got} does not match the expected {md5}; download discarded")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def ensure_files(name, data_dir=None, *, download: bool = True, progress: bool = True) -> Path:
    """Return the raw folder of an IDX dataset (name or record), downloading missing files when allowed."""
    info = resolve_dataset(name)
    if not isinstance(info, IdxDataset):
        raise DatasetError(f"{info.name}: not a downloadable dataset")
    raw = resolve_data_dir(data_dir) / info.folder / "raw"
    missing = [f for f in info.md5 if not (raw / f).is_file()]
    if not missing:
        return raw
    where = (f"Put the four files ({', '.join(info.md5)}) in {raw}, or point the data directory "
             f"at a folder holding {info.folder}/raw/ (option --data-dir or ${ENV_DATA_DIR}).")
    if not download:
        raise DatasetError(f"{info.title} files missing: {', '.join(missing)}. {where}")
    made = [folder for folder in (raw, *raw.parents) if not folder.exists()]  # deepest first
    raw.mkdir(parents=True, exist_ok=True)
    try:
        for fname in missing:
            errors = []
            for mirror in info.mirrors:
                try:
                    _download_one(mirror + fname, raw / fname, info.md5[fname], progress)
                    break
                except (urllib.error.URLError, OSError, http.client.HTTPException, DatasetError) as exc:
                    errors.append(f"{mirror}: {exc}")
            else:
                raise DatasetError(f"could not download {info.title} file {fname} ({'; '.join(errors)}). {where}")
    except DatasetError:
        _remove_empty(made)  # a failed download leaves no empty folders (files that arrived whole stay)
        raise
    return raw


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders (deepest first) that are still empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (a file that was downloaded whole), or already gone
            return


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read one gzipped IDX file, checking its magic number and its length against the header."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"{path}: not a readable gzip file ({exc}); delete it and download it again") from None
    if len(data) < 8:
        raise DatasetError(f"{path}: too short to be an IDX file ({len(data)} bytes)")
    got_magic = int.from_bytes(data[:4], "big")
    if got_magic != magic:
        raise DatasetError(f"{path}: wrong magic number {got_magic} (expected {magic}); not the right IDX file")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise DatasetError(f"{path}: header says {dims} ({expected} bytes) but the file holds {len(data)} bytes; "
                           "it is truncated or damaged")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_idx_split(info: IdxDataset, split: str, raw: str) -> Split:
    return _read_idx_split_cached(info.name, split, raw, info.shape, info.classes, dict(info.prefixes)[split])


@functools.lru_cache(maxsize=8)
def _read_idx_split_cached(name: str, split: str, raw: str, shape: tuple[int, int, int], classes: tuple[str, ...],
                           prefix: str) -> Split:
    images_file = Path(raw) / f"{prefix}-images-idx3-ubyte.gz"
    labels_file = Path(raw) / f"{prefix}-labels-idx1-ubyte.gz"
    images = read_idx(images_file, IMAGES_MAGIC)
    labels = read_idx(labels_file, LABELS_MAGIC)
    c, h, w = shape
    if images.ndim != 3 or images.shape[1:] != (h, w):
        raise DatasetError(f"{images_file}: images have shape {images.shape}, expected (N, {h}, {w})")
    if labels.ndim != 1:
        raise DatasetError(f"{labels_file}: labels have shape {labels.shape}, expected (N,)")
    if labels.shape[0] != images.shape[0]:
        raise DatasetError(f"{labels_file}: {split} split has {images.shape[0]} images "
                           f"({images_file.name}) but {labels.shape[0]} labels")
    if labels.size and labels.max() >= len(classes):
        raise DatasetError(f"{labels_file}: {split} labels hold {labels.max()}, beyond the {len(classes)} classes")
    return Split(
        dataset=name,
        split=split,
        images=torch.from_numpy(images.copy()).unsqueeze(1),  # (N, 1, H, W) uint8
        labels=torch.from_numpy(labels.astype(np.int64)),
        classes=classes,
    )


def load_split(name, split: str = "test", *, data_dir=None, download: bool = True, progress: bool = True,
               **folder_options) -> Split:
    """A whole split of a dataset (built-in name, path or record) as tensors; cached per process, so
    the page and training share one copy. `folder_options` (test_fraction, split_seed, image_size)
    apply to image folders only."""
    if split not in SPLITS:
        raise DatasetError(f"split must be 'train' or 'test'; got {split!r}")
    record = resolve_dataset(name, data_dir=data_dir, **folder_options)
    return record.read(split, data_dir=data_dir, download=download, progress=progress)


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

"""MNIST and Fashion-MNIST as whole-split tensors, read straight from the IDX files.

No torchvision: the files are found in the layout torchvision uses
(`<root>/MNIST/raw/*.gz`, `<root>/FashionMNIST/raw/*.gz`), downloaded from the same
mirrors and checked against the same MD5 sums when missing. Images stay uint8,
(N, 1, 28, 28); `to_float` and `binarize` make model inputs per batch.
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


@dataclass(frozen=True)
class DatasetInfo:
    key: str
    title: str
    folder: str
    mirrors: tuple[str, ...]
    md5: dict  # file name -> MD5, as torchvision checks them
    classes: tuple[str, ...]


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        key="mnist",
        title="MNIST",
        folder="MNIST",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        classes=tuple(str(d) for d in range(10)),
    ),
    "fashion": DatasetInfo(
        key="fashion",
        title="Fashion-MNIST",
        folder="FashionMNIST",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
}
SPLIT_PREFIX = {"train": "train", "test": "t10k"}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


@dataclass(frozen=True)
class Split:
    """One split held whole: uint8 images (N, 1, 28, 28) and int64 labels (N,)."""

    dataset: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor

    @property
    def classes(self) -> tuple[str, ...]:
        return DATASETS[self.dataset].classes

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, n: int | None) -> "Split":
        if n is None or n >= len(self):
            return self
        return Split(self.dataset, self.split, self.images[:n], self.labels[:n])


def dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}") from None


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


def ensure_files(name: str, data_dir=None, *, download: bool = True, progress: bool = True) -> Path:
    """Return the raw folder of `name`, downloading missing files when allowed."""
    info = dataset_info(name)
    raw = resolve_data_dir(data_dir) / info.folder / "raw"
    missing = [f for f in info.md5 if not (raw / f).is_file()]
    if not missing:
        return raw
    where = (f"Put the four files ({', '.join(info.md5)}) in {raw}, or point the data directory "
             f"at a folder holding {info.folder}/raw/ (option --data-dir or ${ENV_DATA_DIR}).")
    if not download:
        raise DatasetError(f"{info.title} files missing: {', '.join(missing)}. {where}")
    raw.mkdir(parents=True, exist_ok=True)
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
    return raw


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


@functools.lru_cache(maxsize=8)
def _load_split_cached(name: str, split: str, raw: str) -> Split:
    prefix = SPLIT_PREFIX[split]
    images_file = Path(raw) / f"{prefix}-images-idx3-ubyte.gz"
    labels_file = Path(raw) / f"{prefix}-labels-idx1-ubyte.gz"
    images = read_idx(images_file, IMAGES_MAGIC)
    labels = read_idx(labels_file, LABELS_MAGIC)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DatasetError(f"{images_file}: images have shape {images.shape}, expected (N, 28, 28)")
    if labels.ndim != 1:
        raise DatasetError(f"{labels_file}: labels have shape {labels.shape}, expected (N,)")
    if labels.shape[0] != images.shape[0]:
        raise DatasetError(f"{labels_file}: {split} split has {images.shape[0]} images "
                           f"({images_file.name}) but {labels.shape[0]} labels")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{labels_file}: {split} labels hold {labels.max()}, beyond the 10 classes")
    return Split(
        dataset=name,
        split=split,
        images=torch.from_numpy(images.copy()).unsqueeze(1),  # (N, 1, 28, 28) uint8
        labels=torch.from_numpy(labels.astype(np.int64)),
    )


def load_split(name: str, split: str = "test", *, data_dir=None, download: bool = True,
               progress: bool = True) -> Split:
    """A whole split as tensors; cached per process, so the page and training share one copy."""
    if split not in SPLIT_PREFIX:
        raise DatasetError(f"split must be 'train' or 'test'; got {split!r}")
    raw = ensure_files(name, data_dir, download=download, progress=progress)
    return _load_split_cached(name, split, str(raw.resolve()))


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

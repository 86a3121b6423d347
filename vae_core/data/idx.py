"""Datasets in MNIST's IDX format (`IdxDataset`): read straight from the gzip files in the layout
torchvision uses (`<root>/MNIST/raw/*.gz`), downloaded from the same mirrors and checked against the
same MD5 sums when missing. A member is a record of this kind in a file of its own (mnist.py,
fashion.py) and one line in `vae_core.data.DATASETS`.
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

from ..errors import DatasetError
from .base import ENV_DATA_DIR, Dataset, resolve_data_dir

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


@dataclass(frozen=True, kw_only=True)
class IdxDataset(Dataset):
    """A dataset in MNIST's IDX format, found under the data directory or downloaded."""

    folder: str
    mirrors: tuple[str, ...]
    md5: dict  # file name -> MD5, as torchvision checks them
    prefixes: tuple[tuple[str, str], ...] = (("train", "train"), ("test", "t10k"))

    @property
    def builtin(self) -> bool:
        return True

    @property
    def fingerprint(self) -> str:
        # The published files, named by their MD5 sums (downloads are checked against them).
        digest = hashlib.sha256("".join(f"{k}={v};" for k, v in sorted(self.md5.items())).encode())
        return f"{self.name}:{digest.hexdigest()[:16]}"

    def read_arrays(self, split, *, data_dir=None, download=True, progress=True):
        raw = raw_folder(self, data_dir, download=download, progress=progress)
        return _read_idx_split(self, split, str(raw.resolve()))


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


def raw_folder(info: "IdxDataset", data_dir=None, *, download: bool = True, progress: bool = True) -> Path:
    """Return the raw folder of an IDX dataset's record, downloading missing files when allowed."""
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


def _read_idx_split(info: IdxDataset, split: str, raw: str) -> tuple[np.ndarray, np.ndarray]:
    return _read_idx_split_cached(info.name, split, raw, info.shape, info.classes, dict(info.prefixes)[split])


@functools.lru_cache(maxsize=8)
def _read_idx_split_cached(name: str, split: str, raw: str, shape: tuple[int, int, int], classes: tuple[str, ...],
                           prefix: str) -> tuple[np.ndarray, np.ndarray]:
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
    return images[:, None].copy(), labels.astype(np.int64)  # (N, 1, H, W) uint8, writable (torch wants it so)

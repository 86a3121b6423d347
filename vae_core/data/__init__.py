"""Datasets as a registry of small records, and their splits as whole uint8 tensors.

Members: the built-ins, each a record in a file of its own (`mnist.py`, `fashion.py`: MNIST's IDX
format, `idx.py`) listed in `DATASETS`, and a user's own `.npz` (Keras layout) or image folder
(ImageFolder layout), read by `own.py` when the dataset is given as a path. What a record and a
split are, and the inputs a model sees, is `base.py`. A new built-in dataset is one file and one
line in `DATASETS` (docs/extending.md).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .base import (ENV_DATA_DIR, MAX_SIDE, MIN_SIDE, SPLITS, Dataset, Inputs, Split, binarize, default_data_dir,
                   eval_inputs, fixed_binarization, is_path_spec, resolve_data_dir, to_float)
from .fashion import FASHION
from .idx import IMAGES_MAGIC, LABELS_MAGIC, IdxDataset, raw_folder, read_idx
from .mnist import MNIST
from .own import read_user_dataset

DATASETS: dict[str, Dataset] = {record.name: record for record in (
    MNIST,
    FASHION,
)}


def resolve_dataset(spec, *, data_dir=None, test_fraction: float = 0.2, split_seed: int = 0,
                    image_size: int | None = None) -> Dataset:
    """The record for a built-in name ("mnist"), a record itself, or a path to a user's `.npz`
    file or image folder (read once and cached; the folder options apply to folders only)."""
    if isinstance(spec, Dataset):
        return spec
    if isinstance(spec, str) and spec in DATASETS:
        return DATASETS[spec]
    if isinstance(spec, (str, os.PathLike)) and (not isinstance(spec, str) or is_path_spec(spec)):
        return read_user_dataset(Path(spec).expanduser(), test_fraction=test_fraction, split_seed=split_seed,
                                 image_size=image_size)
    raise DatasetError(f"unknown dataset {spec!r}; choose one of {', '.join(DATASETS)}, or give the path of an "
                       ".npz file (Keras layout) or of an image folder (one subfolder per class)")


def dataset_title(name: str) -> str:
    """A dataset's title for display, without reading anything: a built-in's title, else the
    file or folder name of a user's dataset."""
    if name in DATASETS:
        return DATASETS[name].title
    return Path(name).name or str(name)


def ensure_files(name, data_dir=None, *, download: bool = True, progress: bool = True) -> Path:
    """The raw folder of a built-in dataset (name or record), its missing files downloaded when allowed
    (a DatasetError naming them otherwise)."""
    record = resolve_dataset(name)
    if not isinstance(record, IdxDataset):
        raise DatasetError(f"{record.name}: not a downloadable dataset")
    return raw_folder(record, data_dir, download=download, progress=progress)


def load_split(name, split: str = "test", *, data_dir=None, download: bool = True, progress: bool = True,
               **folder_options) -> Split:
    """A whole split of a dataset (built-in name, path or record) as tensors; cached per process, so
    the page and training share one copy. `folder_options` (test_fraction, split_seed, image_size)
    apply to image folders only."""
    return _record(name, split, data_dir, folder_options).read(split, data_dir=data_dir, download=download,
                                                               progress=progress)


def load_arrays(name, split: str = "test", *, data_dir=None, download: bool = True, progress: bool = True,
                **folder_options) -> tuple[np.ndarray, np.ndarray]:
    """`load_split` as numpy arrays, (images uint8 (N, C, H, W), labels int64 (N,)), read without torch."""
    return _record(name, split, data_dir, folder_options).read_arrays(split, data_dir=data_dir, download=download,
                                                                      progress=progress)


def _record(name, split: str, data_dir, folder_options: dict) -> Dataset:
    if split not in SPLITS:
        raise DatasetError(f"split must be 'train' or 'test'; got {split!r}")
    return resolve_dataset(name, data_dir=data_dir, **folder_options)




__all__ = ["DATASETS", "Dataset", "IdxDataset", "Split", "Inputs", "resolve_dataset", "dataset_title", "load_split",
           "load_arrays",
           "ensure_files", "read_idx", "to_float", "binarize", "fixed_binarization", "eval_inputs", "is_path_spec",
           "resolve_data_dir", "default_data_dir", "ENV_DATA_DIR", "SPLITS", "MIN_SIDE", "MAX_SIDE", "IMAGES_MAGIC",
           "LABELS_MAGIC", "DatasetError"]

"""A user's own images: an `.npz` in the Keras layout, or a folder of class subfolders.

- `.npz` (the layout of Keras's `mnist.npz`): `x_train`, `y_train`, `x_test`, `y_test`; images uint8
  (N, H, W) or (N, H, W, C) with C = 1 or 3; integer labels (N,) or (N, 1); optionally
  `class_names`, one string per class. Read with `allow_pickle=False`.
- a folder (the ImageFolder layout): one subfolder per class, named after it, holding image files
  (anything Pillow reads). Split into train and test per class by a seeded fraction. Images of
  another size than the most common one (or than `image_size`) are resized to it, and the record's
  `notes` say so; greyscale and colour mixed become colour.

Either becomes an `ArrayDataset`: both splits in memory as uint8 (N, C, H, W), with a
fingerprint of their content. Every image side must lie in 16..64 pixels. Bad input raises one
`DatasetError` whose message starts with the file or folder at fault.

Its likelihood is the Bernoulli, with dynamic binarisation, as for MNIST: on 1,500 32×32 red,
green and blue shapes on black, the continuous Bernoulli (the default until then) and the
Gaussian reconstructed every class in one grey, the Bernoulli in its colour (see
vae_core.model.likelihoods for why).
"""
from __future__ import annotations

import functools
import hashlib
import os
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .base import MAX_SIDE, MIN_SIDE, Dataset
from ..errors import DatasetError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
GREY_MODES = {"1", "L", "I", "I;16", "I;16B", "I;16L", "F", "LA"}
ASPECT_TOLERANCE = 0.1  # a resize may stretch an image by at most this much


@dataclass(frozen=True, kw_only=True)
class ArrayDataset(Dataset):
    """A user's dataset, read whole into memory."""

    arrays: dict = field(compare=False, repr=False)  # split -> (images uint8 (N, C, H, W), labels int64 (N,))
    digest: str = field(default="", compare=False)

    @property
    def fingerprint(self) -> str:
        return f"user:{self.digest}"

    def read_arrays(self, split, *, data_dir=None, download=True, progress=True):
        return self.arrays[split]


def _digest(arrays: dict, classes: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    h.update(repr(classes).encode())
    for split in ("train", "test"):
        images, labels = arrays[split]
        h.update(repr(images.shape).encode())
        h.update(np.ascontiguousarray(images).tobytes())
        h.update(np.ascontiguousarray(labels).tobytes())
    return h.hexdigest()[:16]


def _check_side(where, h: int, w: int, hint: str = "") -> None:
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise DatasetError(f"{where}: images are {h}×{w}; the models take {MIN_SIDE}×{MIN_SIDE} to "
                           f"{MAX_SIDE}×{MAX_SIDE} pixels{hint}")


def _make(path: Path, title: str, arrays: dict, classes: tuple[str, ...], notes: tuple[str, ...]) -> ArrayDataset:
    images = arrays["train"][0]
    return ArrayDataset(name=str(path), title=title, shape=tuple(int(s) for s in images.shape[1:]), classes=classes,
                        likelihood="bernoulli", notes=notes, arrays=arrays, digest=_digest(arrays, classes))


# --- .npz -----------------------------------------------------------------------------------------

def _npz_images(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        x = x[:, None]  # (N, 1, H, W)
    elif x.ndim == 4:
        if x.shape[-1] not in (1, 3):
            raise DatasetError(f"{path}: {key} has shape {x.shape}; the last axis must be 1 (grey) or 3 (RGB) "
                               "channels" + (" (drop the alpha channel of RGBA images)" if x.shape[-1] == 4 else ""))
        x = np.moveaxis(x, -1, 1)  # (N, H, W, C) -> (N, C, H, W)
    else:
        raise DatasetError(f"{path}: {key} has {x.ndim} dimensions (shape {x.shape}); expected images (N, H, W) "
                           "or (N, H, W, C)")
    if x.dtype != np.uint8:
        raise DatasetError(f"{path}: {key} has dtype {x.dtype}; expected uint8 intensities 0–255 "
                           "(for floats in [0, 1]: (x * 255).round().astype(np.uint8))")
    if len(x) == 0:
        raise DatasetError(f"{path}: {key} holds no images")
    _check_side(f"{path}: {key}", x.shape[2], x.shape[3])
    return np.ascontiguousarray(x)


def _npz_labels(path: Path, key: str, y: np.ndarray, n_images: int, images_key: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]  # Keras's CIFAR layout
    if y.ndim != 1:
        raise DatasetError(f"{path}: {key} has shape {y.shape}; expected one integer label per image (N,)")
    if not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{path}: {key} has dtype {y.dtype}; expected integer class labels")
    if len(y) != n_images:
        raise DatasetError(f"{path}: {key} holds {len(y)} labels for the {n_images} images in {images_key}")
    if len(y) and y.min() < 0:
        raise DatasetError(f"{path}: {key} holds the negative label {y.min()}")
    return y.astype(np.int64)


def read_npz(path: Path) -> ArrayDataset:
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path}: holds one array, not an .npz archive with {', '.join(NPZ_KEYS)}")
    with npz:
        missing = [k for k in NPZ_KEYS if k not in npz.files]
        if missing:
            raise DatasetError(f"{path}: missing {', '.join(missing)} (found {', '.join(npz.files) or 'nothing'}); "
                               f"expected the Keras layout {', '.join(NPZ_KEYS)}")
        raw = {}
        for key in NPZ_KEYS + (("class_names",) if "class_names" in npz.files else ()):
            try:
                raw[key] = npz[key]
            except ValueError as exc:  # object arrays need pickle, which is refused
                raise DatasetError(f"{path}: {key} cannot be read without unpickling ({exc}); "
                                   "store plain numeric or string arrays") from None
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise DatasetError(f"{path}: {key} is damaged ({exc})") from None
    arrays = {}
    for split in ("train", "test"):
        images = _npz_images(path, f"x_{split}", raw[f"x_{split}"])
        labels = _npz_labels(path, f"y_{split}", raw[f"y_{split}"], len(images), f"x_{split}")
        arrays[split] = (images, labels)
    (train_x, _), (test_x, _) = arrays["train"], arrays["test"]
    if train_x.shape[1:] != test_x.shape[1:]:
        c, h, w = train_x.shape[1:]
        c2, h2, w2 = test_x.shape[1:]
        raise DatasetError(f"{path}: x_test images are {c2}×{h2}×{w2} (channels×height×width) but x_train "
                           f"images {c}×{h}×{w}; both splits need one size")
    top = max(int(arrays[s][1].max()) for s in ("train", "test"))
    if "class_names" in raw:
        names = raw["class_names"]
        if names.ndim != 1 or not (names.dtype.kind in "US"):
            raise DatasetError(f"{path}: class_names must be a 1-D array of strings; got {names.dtype} {names.shape}")
        classes = tuple(str(n.decode() if isinstance(n, bytes) else n) for n in names)
        if top >= len(classes):
            raise DatasetError(f"{path}: labels go up to {top} but class_names names {len(classes)} classes")
    else:
        classes = tuple(str(i) for i in range(top + 1))
    return _make(path, path.name, arrays, classes, ())


# --- image folder ---------------------------------------------------------------------------------

def _open_image(file: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as im:
            im.load()
            return im.copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"{file}: not an image file ({type(exc).__name__}: {exc}); a class folder may hold "
                           "only images") from None


def read_folder(path: Path, *, test_fraction: float = 0.2, split_seed: int = 0,
                image_size: int | None = None) -> ArrayDataset:
    from PIL import Image

    if not 0 < test_fraction < 1:
        raise DatasetError(f"{path}: test_fraction must lie strictly between 0 and 1; got {test_fraction}")
    class_dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DatasetError(f"{path}: no class subfolders; put the images in one subfolder per class "
                           "(the ImageFolder layout)")
    files: list[tuple[Path, int]] = []
    for label, folder in enumerate(class_dirs):
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        nested = [p for p in entries if p.is_dir()]
        if nested:
            raise DatasetError(f"{nested[0]}: a folder inside the class folder {folder.name}; put the images "
                               "directly in the class folder")
        if not entries:
            raise DatasetError(f"{folder}: empty class folder; every class needs at least one image")
        files += [(p, label) for p in entries]
    images = [_open_image(p) for p, _ in files]
    colour = any(im.mode not in GREY_MODES for im in images)
    notes = []
    if colour and any(im.mode in GREY_MODES for im in images):
        notes.append(f"{sum(im.mode in GREY_MODES for im in images)} greyscale images were converted to RGB")
    sizes = Counter(im.size for im in images)  # (width, height)
    if image_size is not None:
        target = (image_size, image_size)
    else:
        target = max(sizes.items(), key=lambda kv: (kv[1], kv[0]))[0]  # the most common size
    _check_side(path, target[1], target[0], hint="; resize them first, or pass --image-size"
                if image_size is None else "")
    resized = 0
    arrays_list = []
    for (file, _), im in zip(files, images):
        im = im.convert("RGB" if colour else "L")
        if im.size != target:
            ratio, want = im.size[0] / im.size[1], target[0] / target[1]
            if abs(ratio - want) / want > ASPECT_TOLERANCE:
                raise DatasetError(f"{file}: {im.size[0]}×{im.size[1]} cannot be reconciled with the other images' "
                                   f"{target[0]}×{target[1]} (another aspect ratio; resizing would distort it): "
                                   "crop or pad it first")
            im = im.resize(target, Image.Resampling.BILINEAR)
            resized += 1
        a = np.asarray(im, np.uint8)
        arrays_list.append(a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0))  # (C, H, W)
    if resized:
        found = ", ".join(f"{w}×{h}: {n}" for (w, h), n in sizes.most_common())
        notes.append(f"resized {resized} of {len(files)} images to {target[0]}×{target[1]} (sizes found: {found})")
    x = np.stack(arrays_list)  # (N, C, H, W)
    y = np.array([label for _, label in files], np.int64)
    rng = np.random.default_rng(split_seed)
    test_idx = []
    for label in range(len(class_dirs)):
        idx = np.flatnonzero(y == label)
        n_test = int(round(len(idx) * test_fraction))
        n_test = min(max(n_test, 1), len(idx) - 1) if len(idx) >= 2 else 0
        test_idx.extend(rng.permutation(idx)[:n_test].tolist())
    is_test = np.zeros(len(y), bool)
    is_test[test_idx] = True
    if not is_test.any():
        raise DatasetError(f"{path}: too few images for a test split (each class needs at least two)")
    arrays = {"train": (x[~is_test], y[~is_test]), "test": (x[is_test], y[is_test])}
    return _make(path, path.name, arrays, tuple(d.name for d in class_dirs), tuple(notes))


# --- entry point ----------------------------------------------------------------------------------

def _signature(path: Path) -> tuple:
    """Sizes and modification times of every file: the cache key that notices edits."""
    if path.is_file():
        st = path.stat()
        return ((path.name, st.st_size, st.st_mtime_ns),)
    out = []
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for n in sorted(names):
            p = Path(root) / n
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((str(p.relative_to(path)), st.st_size, st.st_mtime_ns))
    return tuple(out)


@functools.lru_cache(maxsize=4)
def _read_cached(path: str, signature: tuple, test_fraction: float, split_seed: int,
                 image_size: int | None) -> ArrayDataset:
    p = Path(path)
    if p.is_dir():
        return read_folder(p, test_fraction=test_fraction, split_seed=split_seed, image_size=image_size)
    return read_npz(p)


def read_user_dataset(path: Path, *, test_fraction: float = 0.2, split_seed: int = 0,
                      image_size: int | None = None) -> ArrayDataset:
    """The record of a user's `.npz` file or image folder (cached until a file in it changes)."""
    path = Path(os.path.abspath(path))
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() != ".npz":
        raise DatasetError(f"{path}: not an .npz file; give an .npz file (Keras layout) or a folder of class "
                           "subfolders")
    if image_size is not None and not MIN_SIDE <= image_size <= MAX_SIDE:
        raise DatasetError(f"{path}: image_size must lie in {MIN_SIDE}..{MAX_SIDE}; got {image_size}")
    options = (test_fraction, split_seed, image_size) if path.is_dir() else (0.2, 0, None)
    return _read_cached(str(path), _signature(path), *options)

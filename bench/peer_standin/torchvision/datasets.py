"""MNIST as torchvision reads it: the IDX files once, then one PIL image per item, then the transform."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from PIL import Image

_FILES = {True: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          False: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class MNIST(torch.utils.data.Dataset):
    def __init__(self, root, train: bool = True, transform=None, target_transform=None, download: bool = False):
        raw = Path(root) / "MNIST" / "raw"
        images, labels = (raw / name for name in _FILES[bool(train)])
        if not images.is_file():
            raise RuntimeError(f"Dataset not found at {raw} (this stand-in never downloads)")
        self.data = torch.from_numpy(_read_idx(images).copy())
        self.targets = torch.from_numpy(_read_idx(labels).astype(np.int64))
        self.transform, self.target_transform = transform, target_transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        img, target = Image.fromarray(self.data[index].numpy(), mode="L"), int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

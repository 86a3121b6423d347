"""A small colour dataset made on the fly: one coloured square, disc or triangle on black per image.

For trying the library on colour images without any files, and for the tests and benchmarks that
need a colour dataset of their own (`np.savez` it in the Keras layout and pass the path as the
dataset).
"""
from __future__ import annotations

import numpy as np

SHAPE_CLASSES = ("square", "circle", "triangle")


def coloured_shapes(n: int, size: int = 32, seed: int = 0, *, class_colours: bool = False):
    """n RGB images (n, size, size, 3) uint8 of one coloured square, disc or triangle on black, and
    their labels (n,) int64. Each shape's colour is random; with `class_colours` squares are red,
    discs green and triangles blue (that channel 180–255, the other two 0–80), so the classes differ
    in colour as well as in shape."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = np.zeros((n, size, size, 3), np.uint8)
    labels = rng.integers(0, len(SHAPE_CLASSES), n)
    for i in range(n):
        colour = rng.integers(60, 256, 3)
        if class_colours:  # the same draws, mapped: the images without it stay as they were
            colour = np.where(np.arange(3) == labels[i], 180 + colour % 76, colour % 81)
        cx, cy = rng.uniform(0.35 * size, 0.65 * size, 2)
        r = rng.uniform(0.15 * size, 0.3 * size)
        if labels[i] == 0:
            mask = (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
        elif labels[i] == 1:
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r ** 2
        else:
            mask = (yy >= cy - r) & (yy <= cy + r) & (np.abs(xx - cx) <= (yy - (cy - r)) / 2)
        images[i][mask] = colour
    return images, labels.astype(np.int64)

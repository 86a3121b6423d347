"""Images as the page and the CLI hand them out: tiled, as uint8, as PNG bytes. numpy and Pillow only,
so the page's first view (files written when a model was saved, vae_core.lazy) needs no torch."""
from __future__ import annotations

import io

import numpy as np


def tile(images: np.ndarray, ncols: int, *, pad: int = 0) -> np.ndarray:
    """(K, H, W) or (K, H, W, C) -> one (rows·H, ncols·W[, C]) image, row-major."""
    images = np.asarray(images)
    k, h, w = images.shape[:3]
    channels = images.shape[3:]
    rows = -(-k // ncols)
    canvas = np.ones((rows * (h + pad) - pad, ncols * (w + pad) - pad, *channels), images.dtype) if pad else \
        np.zeros((rows * h, ncols * w, *channels), images.dtype)
    for i in range(k):
        r, c = divmod(i, ncols)
        canvas[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = images[i]
    return canvas


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """A float [0, 1] or uint8 image (H, W), (H, W, 1) or (H, W, 3) as PNG bytes."""
    from PIL import Image

    arr = image if image.dtype == np.uint8 else to_uint8(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()

"""save_image: images (B, C, H, W) in [0, 1] tiled with 2-pixel padding, saved as a PNG."""
from __future__ import annotations

import math

import torch
from PIL import Image


def save_image(tensor: torch.Tensor, fp, nrow: int = 8, padding: int = 2, **_) -> None:
    images = tensor.detach().cpu().clamp(0, 1)
    b, c, h, w = images.shape
    cols = min(nrow, b)
    rows = math.ceil(b / cols)
    grid = torch.zeros(c, rows * (h + padding) + padding, cols * (w + padding) + padding)
    for i in range(b):
        r, k = divmod(i, cols)
        top, left = r * (h + padding) + padding, k * (w + padding) + padding
        grid[:, top:top + h, left:left + w] = images[i]
    array = (grid * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    Image.fromarray(array[:, :, 0] if c == 1 else array).save(fp)

"""ToTensor: a PIL image to a float tensor (C, H, W) in [0, 1]."""
from __future__ import annotations

import numpy as np
import torch


class ToTensor:
    def __call__(self, pic) -> torch.Tensor:
        array = np.array(pic, dtype=np.uint8, copy=True)
        if array.ndim == 2:
            array = array[:, :, None]
        return torch.from_numpy(array).permute(2, 0, 1).contiguous().float().div(255)

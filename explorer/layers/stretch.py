"""Stretch: how fast the decoded image changes, the decoder's log magnification."""
from __future__ import annotations

import numpy as np

from vae_core.lazy import LazyModule

from .base import MapLayer, ramp

geometry = LazyModule("vae_core.analysis.geometry")  # imports torch: on first use (vae_core.lazy)


class Stretch(MapLayer):
    name, title = "stretch", "stretch"
    help = "Stretch: log magnification factor, where a small move in the latent space changes the image a lot."
    legend = "log magnification log √det(JᵀJ)"

    @classmethod
    def compute(cls, model, z, codes, plane, classifier):
        return {"values": geometry.stretch_layer(model, z, axes=plane.get("axes"))}

    @classmethod
    def paint(cls, layer, palette, scale):
        lo, hi = scale
        t = (np.nan_to_num(np.asarray(layer["values"], np.float64), nan=lo, posinf=hi) - lo) / max(hi - lo, 1e-9)
        return ramp(t), 0.15 + 0.75 * np.clip(t, 0, 1), {"kind": "scale", "lo": lo, "hi": hi,
                                                          "text": "dark = the image changes fast"}

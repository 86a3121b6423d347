"""Holes: where the prior puts mass the data never uses, log p(z) − log q(z) on a fixed scale."""
from __future__ import annotations

import numpy as np

from vae_core.lazy import LazyModule

from .base import MapLayer, ramp

geometry = LazyModule("vae_core.analysis.geometry")  # imports torch: on first use (vae_core.lazy)


class Holes(MapLayer):
    name, title = "holes", "holes"
    help = "Holes: log p(z) − log q(z), where the prior expects codes that the data never uses (Rosca et al. 2018)."
    legend = "log p(z) − log q(z), in nats"

    @classmethod
    def compute(cls, model, z, codes, plane, classifier):
        return {"values": geometry.hole_layer(model, codes["mu"], codes.get("logvar"), z)}

    @classmethod
    def scale(cls, layers):
        # A fixed scale: from 0 (the data as dense as the prior expects) to q 1000× rarer than p. Far
        # from the codes the ratio grows without bound, and a percentile scale there washed out the holes
        # that matter (q < p/10, at log 10 ≈ 2.3) inside the prior's bulk.
        return 0.0, float(np.log(1000))

    @classmethod
    def paint(cls, layer, palette, scale):
        lo, hi = scale
        t = (np.nan_to_num(np.asarray(layer["values"], np.float64), nan=hi, posinf=hi) - lo) / max(hi - lo, 1e-9)
        return ramp(t), np.clip(t, 0, 1) * 0.9, {"kind": "scale", "lo": lo, "hi": hi,
                                                  "text": "dark = prior mass the data never uses"}

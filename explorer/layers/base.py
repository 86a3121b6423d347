"""The contract of a latent-map layer: what a member computes on the map's lattice, how it is
coloured, and the words for it.

A layer is a member (`vae_core.registry.Member`): `name` (the page's state holds it), `title` (the
layer picker's words), `help` (one line under the picker) and `legend` (what the colour measures, in
its units). `compute` fills the lattice's values, `scale` puts every map on screen on one colour scale,
`paint` turns values into colour and opacity. The page's picker, its state, the cache, the pictures and
the downloads all go through `LAYERS` (explorer/layers/__init__.py), so a new layer is one file and its
registration (docs/extending.md).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from vae_core.registry import Member

# A light-to-dark purple ramp for one-sided quantities (holes, stretch): 0 -> transparent.
RAMP = np.array([[255, 255, 255], [218, 204, 235], [171, 138, 209], [117, 77, 168], [63, 25, 110]], np.float64)


def hex_rgb(color: str) -> np.ndarray:
    """"#rrggbb" -> RGB floats 0–255."""
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], np.float64)


def ramp(t: np.ndarray) -> np.ndarray:
    """t in [0, 1] -> RGB along the ramp."""
    x = np.clip(t, 0, 1) * (len(RAMP) - 1)
    i = np.minimum(x.astype(int), len(RAMP) - 2)
    f = (x - i)[..., None]
    return RAMP[i] * (1 - f) + RAMP[i + 1] * f


def percentile_scale(layers: list[dict], lo: float = 2, hi: float = 98) -> tuple[float, float]:
    """From the lowest `lo`th to the highest `hi`th percentile of the maps' finite values."""
    finite = [v[np.isfinite(v)] for v in (np.asarray(layer["values"], np.float64) for layer in layers)]
    finite = [v for v in finite if v.size]
    if not finite:
        return 0.0, 1.0
    return min(float(np.percentile(v, lo)) for v in finite), max(float(np.percentile(v, hi)) for v in finite)


class MapLayer(Member):
    """Base of the layers' registry."""

    legend: ClassVar[str]  # what the colour measures, in its units
    needs_classifier: ClassVar[bool] = False  # only for datasets with a shipped classifier

    @classmethod
    def compute(cls, model, z, codes: dict, plane: dict, classifier) -> dict:
        """Values at the lattice's points z (n·n, D), flat: {"values": (n·n,), and what `paint` needs}.
        `codes`: the model's test codes (mu, logvar); `plane`: {} for d = 2, else its PCA plane."""
        raise NotImplementedError

    @classmethod
    def scale(cls, layers: list[dict]) -> tuple[float, float] | None:
        """One colour scale for this layer on every map on screen (None: the layer has none)."""
        return percentile_scale(layers)

    @classmethod
    def paint(cls, layer: dict, palette, scale) -> tuple[np.ndarray, np.ndarray, dict]:
        """(RGB (n, n, 3) in 0–255, alpha (n, n) in 0–1, the legend's fields) for the values on `scale`."""
        raise NotImplementedError

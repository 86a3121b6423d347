"""The latent map's geometry without Streamlit: the codes' plane, the manifold grid's axes, and the
part of the plane a map (and a layer under it) shows first.

The page's cache and component draw from these, and so does `explorer.layers.stored` when a model is
saved: the layers it keeps cover exactly the first view the page will ask for.
"""
from __future__ import annotations

import numpy as np

import vae_core as vc
from vae_core.analysis import plane
from vae_core.lazy import LazyModule

from .settings import DEFAULT_GRID

explore = LazyModule("vae_core.analysis.explore")  # imports torch: on first use (vae_core.lazy)

# The map is drawn wider than tall (latent_map/layout.js: width/height from 1/0.82 to about 2 on a wide,
# short window), and its first view is the codes and the grid fitted to that shape: a layer is
# computed over the widest such view, with room to pan, so no white strip reads as "no hole".
MAP_ASPECTS = (1 / 0.82, 2.0)
LAYER_ROOM = 1.15
LAYER_SIDE = {"mlp": 100, "conv": 50}  # lattice points per side: a conv decoder costs ~20× an MLP per point
DEFAULT_LAYER_SIDE = 60


def codes_view(mu: np.ndarray, logvar: np.ndarray | None, labels: np.ndarray) -> dict:
    """The test codes as the map shows them: their 2-D view (PCA for d > 2) and the ranges the
    sliders cover."""
    plane = vc.latent_plane(mu)
    return {"mu": mu, "logvar": logvar, "labels": labels, "xy": plane.xy, "mean": plane.mean, "axes": plane.axes,
            "explained": plane.explained, "lo": np.percentile(mu, 0.5, axis=0), "hi": np.percentile(mu, 99.5, axis=0)}


def grid_axes(codes: dict, n: int, spacing: str, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """The manifold grid's coordinates along the map's two axes. `lo`/`hi` are percent: Gaussian
    probabilities for 'quantile' spacing, percentiles of the codes' view for 'range'."""
    if spacing == "quantile":
        xs = plane.grid_axis(n, spacing="quantile", limits=(lo / 100, hi / 100))
        return xs, xs
    xy = codes["xy"]
    return (plane.grid_axis(n, spacing="range", limits=tuple(np.percentile(xy[:, 0], [lo, hi]))),
            plane.grid_axis(n, spacing="range", limits=tuple(np.percentile(xy[:, 1], [lo, hi]))))


def decoded_grid(model, codes: dict, n: int, spacing: str, lo: float, hi: float) -> dict:
    """The n×n manifold grid `model` decodes in the map's plane: {"png", "xs", "ys"} (`grid_axes`'s
    settings; for d > 2 the plane passes through the codes' mean along their two principal axes)."""
    xs, ys = grid_axes(codes, n, spacing, lo, hi)
    points = plane.plane_points(xs, ys, mean=codes["mean"], axes=codes["axes"])
    return {"png": vc.png_bytes(vc.tile(explore.decode(model, points), n)), "xs": xs, "ys": ys}


def extent(codes: dict, grid: dict | None, margin: float = 0.05) -> list[float]:
    """What a map shows at first: the codes' 0.5–99.5 percentiles and the grid ({"xs", "ys"}), with a margin."""
    xy = codes["xy"]
    lo, hi = np.percentile(xy, 0.5, axis=0), np.percentile(xy, 99.5, axis=0)
    if grid is not None:
        lo = np.minimum(lo, [grid["xs"][0], grid["ys"][0]])
        hi = np.maximum(hi, [grid["xs"][-1], grid["ys"][-1]])
    pad = (hi - lo) * margin + 1e-6
    return [float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])]


def layer_extent(codes: dict, grid: dict) -> tuple[float, float, float, float]:
    """The part of the map's plane a layer covers: every first view the map can show, with room."""
    x0, x1, y0, y1 = extent(codes, grid)
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    hw, hh = max(hw, hh * MAP_ASPECTS[1]) * LAYER_ROOM, max(hh, hw / MAP_ASPECTS[0]) * LAYER_ROOM
    return (cx - hw, cx + hw, cy - hh, cy + hh)


def first_layer_extent(codes: dict) -> tuple[float, float, float, float]:
    """The layer extent of the page's first view: the map with the default manifold grid."""
    xs, ys = grid_axes(codes, *DEFAULT_GRID)
    return layer_extent(codes, {"xs": xs, "ys": ys})


def layer_side(arch: str) -> int:
    """Lattice points per side of a layer for this architecture."""
    return LAYER_SIDE.get(arch, DEFAULT_LAYER_SIDE)

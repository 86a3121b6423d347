"""The plane the page's map shows, the manifold grid's axes in it and paths between codes: numpy only,
so the page's first view (files written when a model was saved, vae_core.lazy) needs no torch."""
from __future__ import annotations

from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError

GRID_SPACINGS = ("quantile", "range")


def normal_quantiles(n: int, lo: float = 0.05, hi: float = 0.95) -> np.ndarray:
    """n evenly spaced probabilities in [lo, hi] through the Gaussian inverse CDF (K&W Figure 4b)."""
    standard = NormalDist()
    return np.array([standard.inv_cdf(p) for p in np.linspace(lo, hi, n)], np.float64)


def grid_axis(n: int, *, spacing: str = "quantile", codes: np.ndarray | None = None, dim: int = 0,
              limits: tuple[float, float] | None = None) -> np.ndarray:
    """The coordinates of one grid axis.

    'quantile': Gaussian quantiles of linspace(0.05, 0.95) (or of `limits` as probabilities);
    'range': evenly from min to max of the codes along `dim` (or `limits` as coordinates).
    """
    if n < 1:
        raise ConfigError(f"grid size must be ≥ 1; got {n}")
    if spacing == "quantile":
        lo, hi = limits or (0.05, 0.95)
        if not 0 < lo < hi < 1:
            raise ConfigError(f"quantile limits must satisfy 0 < lo < hi < 1; got {lo}, {hi}")
        return normal_quantiles(n, lo, hi)
    if spacing == "range":
        if limits is None:
            if codes is None or len(codes) == 0:
                raise ConfigError("range spacing needs the codes (or explicit limits)")
            limits = (float(codes[:, dim].min()), float(codes[:, dim].max()))
        lo, hi = limits
        if not lo < hi:
            raise ConfigError(f"range limits must satisfy lo < hi; got {lo}, {hi}")
        return np.linspace(lo, hi, n)
    raise ConfigError(f"spacing must be one of {GRID_SPACINGS}; got {spacing!r}")


def grid_points(xs: np.ndarray, ys: np.ndarray, *, latent_dim: int = 2, dims: tuple[int, int] = (0, 1),
                center: np.ndarray | None = None) -> np.ndarray:
    """Latent points of the grid, row-major with y decreasing down the rows (as plotted): (n*n, D).

    For D > 2 it is the 2-D slice through `center` (default the origin) along `dims`.
    """
    base = np.zeros(latent_dim, np.float32) if center is None else np.asarray(center, np.float32).copy()
    gx, gy = np.meshgrid(xs, ys[::-1])
    pts = np.repeat(base[None, :], gx.size, axis=0)
    pts[:, dims[0]] = gx.ravel()
    pts[:, dims[1]] = gy.ravel()
    return pts


def interpolation_path(z0: np.ndarray, z1: np.ndarray, steps: int, method: str = "linear") -> np.ndarray:
    """Points from z0 to z1: linear z = (1 − t) z0 + t z1, or spherical (slerp): (steps, D)."""
    if steps < 2:
        raise ConfigError(f"an interpolation needs at least 2 steps; got {steps}")
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if method == "linear":
        return ((1 - t) * z0 + t * z1).astype(np.float32)
    if method == "slerp":
        cos = np.dot(z0, z1) / max(np.linalg.norm(z0) * np.linalg.norm(z1), 1e-12)
        omega = np.arccos(np.clip(cos, -1.0, 1.0))
        if omega < 1e-6:  # nearly parallel: slerp degenerates to lerp
            return ((1 - t) * z0 + t * z1).astype(np.float32)
        return ((np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)).astype(np.float32)
    raise ConfigError(f"method must be 'linear' or 'slerp'; got {method!r}")


class LatentPlane(NamedTuple):
    """The plane the page's map shows: for d = 2 the latent plane itself, for d > 2 the plane
    through the codes' mean along their two principal axes (z = mean + x·axes[0] + y·axes[1])."""

    xy: np.ndarray  # (N, 2) float32: the codes' coordinates in the plane
    mean: np.ndarray  # (D,)
    axes: np.ndarray  # (2, D), orthonormal rows
    explained: np.ndarray  # (2,): share of the codes' variance along each axis (1, 1 for d = 2)


def latent_plane(codes: np.ndarray) -> LatentPlane:
    """Project codes onto their two principal axes (PCA); for D = 2 the codes as they are
    (identity axes, zero mean), so the map's coordinates are the latent coordinates."""
    codes = np.asarray(codes, np.float64)
    d = codes.shape[1]
    if d <= 2:
        return LatentPlane(codes.astype(np.float32), np.zeros(d), np.eye(d), np.ones(d))
    mean = codes.mean(0)
    _, s, vt = np.linalg.svd(codes - mean, full_matrices=False)
    explained = s[:2] ** 2 / max(float((s ** 2).sum()), 1e-300)
    return LatentPlane(((codes - mean) @ vt[:2].T).astype(np.float32), mean, vt[:2], explained)


def plane_points(xs: np.ndarray, ys: np.ndarray, *, mean: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Latent points of a grid drawn in a plane, row-major with y decreasing down the rows (as
    plotted): z = mean + x·axes[0] + y·axes[1], (len(xs)·len(ys), D) float32."""
    gx, gy = np.meshgrid(np.asarray(xs, np.float64), np.asarray(ys, np.float64)[::-1])
    axes = np.asarray(axes, np.float64)
    pts = np.asarray(mean, np.float64)[None, :] + gx.reshape(-1, 1) * axes[0] + gy.reshape(-1, 1) * axes[1]
    return pts.astype(np.float32)

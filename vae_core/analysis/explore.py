"""Latent-space tools for the page and the CLI: batched torch in, numpy out.

Every function decodes or encodes in as few forward passes as memory allows:
the 20x20 grid is one batch of 400, the test set is encoded in a handful of
passes. Images come back as float32 in [0, 1]: (..., H, W) for greyscale models,
(..., H, W, 3) for colour ones (channel-last, as PIL and the browser take them), each
pixel the likelihood's mean E[x|z] (`model.mean_image`).
"""
from __future__ import annotations

import io

import numpy as np
import torch

from ..data import Inputs, to_float
from ..errors import ConfigError
from ..model.networks import VAE
from .pictures import png_bytes, tile, to_uint8  # noqa: F401  (explore's names too)
from .plane import (GRID_SPACINGS, LatentPlane, grid_axis, grid_points, interpolation_path,  # noqa: F401
                    latent_plane, normal_quantiles, plane_points)

ENCODE_BATCH = 5000


def to_display(images: torch.Tensor) -> np.ndarray:
    """Model-layout images (B, C, H, W) -> numpy (B, H, W) for one channel, (B, H, W, C) otherwise."""
    if images.shape[1] == 1:
        return images.squeeze(1).float().cpu().numpy()
    return images.permute(0, 2, 3, 1).float().cpu().numpy()


def to_model_layout(images, shape: tuple[int, int, int]) -> torch.Tensor:
    """Images as a split holds them (N, C, H, W) or as `decode` returns them ((N, H, W) or
    (N, H, W, C)) -> a tensor (N, C, H, W) of the same dtype."""
    x = torch.as_tensor(images)
    c, h, w = shape
    if x.dim() == 3:
        x = x.unsqueeze(1)  # (N, 1, H, W)
    elif x.dim() == 4 and tuple(x.shape[1:]) != (c, h, w) and tuple(x.shape[1:]) == (h, w, c):
        x = x.permute(0, 3, 1, 2)  # channel-last -> channel-first
    if tuple(x.shape[1:]) != (c, h, w):
        raise ConfigError(f"images of shape {tuple(x.shape[1:])} do not fit a model of {c}×{h}×{w} images")
    return x


def _as_numpy_images(model: VAE, logits: torch.Tensor) -> np.ndarray:
    return to_display(model.mean_image(logits))


def default_inputs(model: VAE) -> Inputs:
    """The inputs of a model whose run settings are not at hand: binarised once (seed 0) for the
    Bernoulli likelihood, the intensities otherwise (a run's own: `config.run_inputs`)."""
    return Inputs(binarized=model.likelihood.binarized, seed=0)


def _as_model_input(images, model: VAE) -> torch.Tensor:
    """uint8 or float images, (N, C, H, W), (N, H, W) or (N, H, W, C) -> float on the model's device."""
    x = to_model_layout(images, model.image_shape)
    x = to_float(x) if x.dtype == torch.uint8 else x.float()
    return x.to(model.device)


@torch.inference_mode()
def encode_means(model: VAE, images, *, batch_size: int = ENCODE_BATCH) -> np.ndarray:
    """Latent means (the MMD-VAE's codes) of all `images`: (N, D) float32."""
    model.eval()
    out = [model.encode(_as_model_input(images[i:i + batch_size], model)).mu.float().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, model.latent_dim), np.float32)


@torch.inference_mode()
def decode(model: VAE, z) -> np.ndarray:
    """Decode latent points (K, D) -> mean images (K, H, W) or (K, H, W, 3), one forward pass."""
    model.eval()
    z = torch.as_tensor(np.asarray(z, dtype=np.float32), device=model.device)
    if z.dim() == 1:
        z = z.unsqueeze(0)
    if z.shape[1] != model.latent_dim:
        raise ConfigError(f"latent points have {z.shape[1]} coordinates; the model has {model.latent_dim}")
    return _as_numpy_images(model, model.decode(z))


def manifold_grid(model: VAE, n: int = 20, *, spacing: str = "quantile", codes: np.ndarray | None = None,
                  limits_x=None, limits_y=None, dims: tuple[int, int] = (0, 1),
                  center: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The n×n decoded manifold in one batch: (tiled image (H·n, W·n[, 3]), x axis, y axis)."""
    xs = grid_axis(n, spacing=spacing, codes=codes, dim=dims[0], limits=limits_x)
    ys = grid_axis(n, spacing=spacing, codes=codes, dim=dims[1], limits=limits_y)
    images = decode(model, grid_points(xs, ys, latent_dim=model.latent_dim, dims=dims, center=center))
    return tile(images, n), xs, ys


def interpolate(model: VAE, image0, image1, *, steps: int = 10, method: str = "linear"
                ) -> tuple[np.ndarray, np.ndarray]:
    """Encode two images, walk between their codes: (codes (steps, D), images (steps, H, W[, 3]))."""
    codes = encode_means(model, torch.stack([torch.as_tensor(image0), torch.as_tensor(image1)]))
    path = interpolation_path(codes[0], codes[1], steps, method)
    return path, decode(model, path)


@torch.inference_mode()
def prior_samples(model: VAE, n: int = 16, *, seed: int = 0) -> np.ndarray:
    """Decode n draws z ~ p(z), the model's prior (seeded, so a page rerun shows the same row):
    (n, H, W[, 3])."""
    g = torch.Generator().manual_seed(seed)
    model.eval()
    return decode(model, model.prior.sample(n, generator=g, device="cpu").float().numpy())


@torch.inference_mode()
def reconstruct(model: VAE, images) -> np.ndarray:
    """Decode the codes (means) of `images`: (N, H, W[, 3])."""
    model.eval()
    x = _as_model_input(images, model)
    return _as_numpy_images(model, model.decode(model.encode(x).mu))


# Ten distinct colours (the Tableau palette) for the scatter PNG, reused in turn beyond ten classes; the page
# uses plotly's.
CLASS_COLORS = np.array([
    [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
    [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]], np.uint8)


def scatter_image(codes: np.ndarray, labels: np.ndarray, size: int = 512, *,
                  limits: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """A plain raster scatter of 2-D codes coloured by class (for snapshots, no plotting library).
    `limits` (lo, hi) fixes the square shown (frames of an animation share one); default: the codes'."""
    xy = latent_plane(codes).xy if limits is None else np.asarray(codes, np.float64)[:, :2]
    lo, hi = (xy.min(0), xy.max(0)) if limits is None else (np.asarray(limits[0]), np.asarray(limits[1]))
    xy = np.clip(xy, lo, hi)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    pix = ((xy - lo) / span * (size - 3) + 1).astype(int)
    canvas = np.full((size, size, 3), 255, np.uint8)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            canvas[size - 1 - pix[:, 1] + dy, pix[:, 0] + dx] = CLASS_COLORS[np.asarray(labels) % len(CLASS_COLORS)]
    return canvas


def gif_bytes(frames: list[np.ndarray], *, duration_ms: int = 120, pause_ms: int = 0) -> bytes:
    """Frames (float [0, 1] or uint8; (H, W) or (H, W, 3)) as a looping animated GIF; `pause_ms` holds
    the last frame that much longer."""
    from PIL import Image

    images = [Image.fromarray(f if f.dtype == np.uint8 else to_uint8(f)) for f in frames]
    durations = [duration_ms] * len(images)
    durations[-1] += pause_ms
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0,
                   disposal=2)
    return buf.getvalue()


def formation_frames(codes: np.ndarray, labels: np.ndarray, epochs: np.ndarray, *, size: int = 400,
                     margin: float = 0.05) -> list[np.ndarray]:
    """One scatter per frame of a model's formation (codes (frames, n, d), `vae_core.analysis.formation`), all on
    the same axes (the final frame's PCA plane for d > 2, limits spanning every frame), each with its
    epoch written in the corner."""
    from PIL import Image, ImageDraw

    codes = np.asarray(codes, np.float32)
    plane = latent_plane(codes[-1])
    xy = [(c - plane.mean) @ plane.axes.T if codes.shape[2] > 2 else c for c in codes]
    lo, hi = np.min([p.min(0) for p in xy], 0), np.max([p.max(0) for p in xy], 0)
    pad = margin * (hi - lo)
    frames = []
    for points, epoch in zip(xy, epochs):
        canvas = Image.fromarray(scatter_image(points, labels, size, limits=(lo - pad, hi + pad)))
        ImageDraw.Draw(canvas).text((8, 6), f"epoch {epoch:g}", fill=(0, 0, 0))
        frames.append(np.asarray(canvas))
    return frames


def dimension_order(mu, logvar=None) -> tuple[np.ndarray, np.ndarray]:
    """The latent dimensions ordered by what they carry, most first: (order (D,), score (D,)).

    With posteriors, the score is each dimension's mean KL to N(0, 1) over the codes,
    ½(μ² + σ² − 1 − log σ²) (the KL term splits over dimensions); a deterministic encoder's is the
    variance of its codes along the dimension (an inactive one has none; Burda et al. 2016)."""
    mu = np.asarray(mu, np.float64)
    if logvar is None:
        score = mu.var(0)
    else:
        logvar = np.asarray(logvar, np.float64)
        score = 0.5 * (mu ** 2 + np.exp(logvar) - 1.0 - logvar).mean(0)
    return np.argsort(-score, kind="stable"), score


@torch.inference_mode()
def traversal(model: VAE, center, *, dims, scale, steps: int = 7, span: float = 3.0) -> np.ndarray:
    """The β-VAE figure: for each dimension in `dims`, `center` moved from −span·scale to +span·scale
    along it, decoded: (len(dims), steps, H, W[, 3]). `scale` is one step of σ per dimension (D,), e.g.
    the codes' standard deviation."""
    center = np.asarray(center, np.float32).ravel()
    if center.shape[0] != model.latent_dim:
        raise ConfigError(f"the centre has {center.shape[0]} coordinates; the model has {model.latent_dim}")
    if steps < 2:
        raise ConfigError(f"a traversal needs at least 2 steps; got {steps}")
    offsets = np.linspace(-span, span, steps, dtype=np.float32)
    scale = np.asarray(scale, np.float32)
    points = np.repeat(center[None, None, :], len(dims), 0).repeat(steps, 1)  # (rows, steps, D)
    for row, d in enumerate(dims):
        points[row, :, d] += offsets * scale[d]
    images = decode(model, points.reshape(-1, model.latent_dim))
    return images.reshape(len(dims), steps, *images.shape[1:])

"""Pictures built without Streamlit (plotly figures and numpy images), so each can be tested alone."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import vae_core as vc

from .settings import PALETTE

# How a loss part is named on the training curves: what each objective says its loss reports.
PART_TITLES = {"total": "total (what training minimises)",
               **{part: title for objective in vc.OBJECTIVES.values() for part, title in objective.reports.items()}}


def big(image: np.ndarray, k: int) -> np.ndarray:
    """Nearest-neighbour upscaling, so 28-pixel digits stay crisp instead of browser-blurred."""
    return np.repeat(np.repeat(image, k, axis=0), k, axis=1)


def axis_title(codes: dict, i: int, d: int) -> str:
    if d <= 2:
        return f"z{i + 1}"
    return f"PC{i + 1} ({codes['explained'][i]:.0%} of the variance)"


def loss_figure(history) -> go.Figure:
    """One panel per loss part on a linear axis (a log axis hid the reconstruction's fall), train
    as a line and test as dashed points, so every part can be read on its own scale."""
    parts = [p for p in ("total", "recon", "kl", "mmd") if any(r.get(p) is not None for r in history)]
    fig = make_subplots(rows=1, cols=len(parts), subplot_titles=[PART_TITLES[p] for p in parts],
                        horizontal_spacing=0.06)
    for col, part in enumerate(parts, start=1):
        for split, style in (("train", {"mode": "lines", "line": {"color": PALETTE[0]}}),
                             ("test", {"mode": "lines+markers", "line": {"color": PALETTE[1], "dash": "dash"}})):
            pts = [(r["epoch"], r[part]) for r in history if r["split"] == split and r.get(part) is not None]
            if pts:
                fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=split,
                                         legendgroup=split, showlegend=col == 1, **style), row=1, col=col)
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_layout(height=280, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend={"orientation": "h", "y": -0.25})
    fig.update_annotations(font_size=12)
    return fig


def latest(history, split: str) -> dict[str, float]:
    """The most recent loss parts of one split (empty before the first report)."""
    row = next((r for r in reversed(history) if r["split"] == split), None)
    return {k: v for k, v in (row or {}).items() if k not in ("split", "step", "epoch", "elapsed") and v is not None}


# ----------------------------------------------------------------------------------------------
# Geometry layers as pictures for the latent map (RGBA, top row = the highest y).
# ----------------------------------------------------------------------------------------------

# A light-to-dark purple ramp for one-sided quantities (holes, stretch): 0 -> transparent.
_RAMP = np.array([[255, 255, 255], [218, 204, 235], [171, 138, 209], [117, 77, 168], [63, 25, 110]], np.float64)


def _hex_rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], np.float64)


def _ramp(t: np.ndarray) -> np.ndarray:
    """t in [0, 1] -> RGB along the ramp."""
    x = np.clip(t, 0, 1) * (len(_RAMP) - 1)
    i = np.minimum(x.astype(int), len(_RAMP) - 2)
    f = (x - i)[..., None]
    return _RAMP[i] * (1 - f) + _RAMP[i + 1] * f


def layer_scale(kind: str, layers: list[dict]) -> tuple[float, float] | None:
    """One colour scale for a layer on every map on screen, so equal colours mean equal values: holes
    from 0 to log 1000 always; stretch from the lowest 2nd to the highest 98th percentile of the maps;
    classes have none (a class colour, paler where the classifier is less sure)."""
    if kind == "holes":
        # A fixed scale: from 0 (the data as dense as the prior expects) to q 1000× rarer than p. Far
        # from the codes the ratio grows without bound, and a percentile scale there washed out the holes
        # that matter (q < p/10, at log 10 ≈ 2.3) inside the prior's bulk.
        return 0.0, float(np.log(1000))
    if kind == "stretch":
        finite = [v[np.isfinite(v)] for v in (np.asarray(layer["values"], np.float64) for layer in layers)]
        finite = [v for v in finite if v.size]
        if not finite:
            return 0.0, 1.0
        return min(float(np.percentile(v, 2)) for v in finite), max(float(np.percentile(v, 98)) for v in finite)
    return None


LAYER_TITLES = {  # the legend's words: what the colour measures, in its units
    "classes": "classifier's confidence (top class probability)",
    "holes": "log p(z) − log q(z), in nats",
    "stretch": "log magnification log √det(JᵀJ)",
}


def layer_picture(kind: str, layer: dict, palette=PALETTE, scale: tuple[float, float] | None = None
                  ) -> tuple[np.ndarray, dict]:
    """(RGBA image (n, n, 4) uint8 with y up, legend) for a layer from cache.layer, coloured on `scale`
    (layer_scale's; for one map alone, its own).

    classes: the class colour, paler where the classifier is less sure (from chance, 1/K, to certain);
    holes: log p − log q from 0 (the data as dense as the prior expects) to log 1000; stretch: log
    magnification on the scale shared by the maps on screen."""
    values = np.asarray(layer["values"], np.float64)
    title = LAYER_TITLES.get(kind, kind)
    if kind == "classes":
        colours = np.array([_hex_rgb(c) for c in palette])[values.astype(int) % len(palette)]
        confidence = np.asarray(layer["confidence"], np.float64)[..., None]
        rgb = 255 * (1 - confidence) + colours * confidence
        alpha = np.full(values.shape, 0.9)
        legend = {"kind": "confidence", "lo": 1.0 / len(palette), "hi": 1.0, "title": title,
                  "text": "colour: the class the decoded image is taken for; pale: unsure"}
    elif kind in ("holes", "stretch"):
        lo, hi = scale if scale is not None else layer_scale(kind, [layer])
        t = (np.nan_to_num(values, nan=hi if kind == "holes" else lo, posinf=hi) - lo) / max(hi - lo, 1e-9)
        rgb = _ramp(t)
        alpha = np.clip(t, 0, 1) * 0.9 if kind == "holes" else 0.15 + 0.75 * np.clip(t, 0, 1)
        legend = {"kind": "scale", "lo": lo, "hi": hi, "title": title,
                  "text": "dark = prior mass the data never uses" if kind == "holes"
                  else "dark = the image changes fast"}
    else:
        raise ValueError(f"unknown layer {kind!r}")
    rgba = np.concatenate([rgb, 255 * alpha[..., None]], axis=-1)
    return np.clip(rgba[::-1] + 0.5, 0, 255).astype(np.uint8), legend  # rows: y up -> picture rows top down

"""Pictures built without Streamlit (plotly figures and numpy images), so each can be tested alone."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import vae_core as vc

from .layers import LAYERS
from .layers.base import hex_rgb, ramp
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

def layer_scale(kind: str, layers: list[dict]) -> tuple[float, float] | None:
    """One colour scale for a layer on every map on screen, so equal colours mean equal values (the
    layer's own rule: holes on a fixed scale, stretch on the maps' percentiles, classes none)."""
    return LAYERS[kind].scale(layers)


def layer_picture(kind: str, layer: dict, palette=PALETTE, scale: tuple[float, float] | None = None
                  ) -> tuple[np.ndarray, dict]:
    """(RGBA image (n, n, 4) uint8 with y up, legend) for a layer from cache.layer, coloured on `scale`
    (layer_scale's; for one map alone, its own) by the layer's `paint`."""
    member = LAYERS[kind]
    rgb, alpha, legend = member.paint(layer, palette, scale if scale is not None else member.scale([layer]))
    rgba = np.concatenate([rgb, 255 * np.asarray(alpha)[..., None]], axis=-1)
    legend = {**legend, "title": member.legend}
    return np.clip(rgba[::-1] + 0.5, 0, 255).astype(np.uint8), legend  # rows: y up -> picture rows top down


# ----------------------------------------------------------------------------------------------
# Codes as a plotly scatter, one trace per class (the legend): the training's live map and the
# epoch scrubber's frames.
# ----------------------------------------------------------------------------------------------

def plane_xy(codes: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    """Codes (n, d) in a plane: the latent plane itself for d ≤ 2, else their two principal axes, each
    signed so its largest coefficient is positive (the live map's axes do not flip from one report to
    the next when the plane barely moves). Returns (xy (n, 2), the axes' names)."""
    codes = np.asarray(codes, np.float32)
    if codes.shape[1] <= 2:
        return codes[:, :2], ("z1", "z2")
    plane = vc.latent_plane(codes)
    signs = np.sign(plane.axes[np.arange(2), np.abs(plane.axes).argmax(1)])
    return plane.xy * signs[None, :].astype(np.float32), \
        tuple(f"PC{i + 1} ({plane.explained[i]:.0%} of the variance)" for i in range(2))


def codes_figure(xy: np.ndarray, labels: np.ndarray, classes, *, title: str, axis_names=("z1", "z2"),
                 limits: tuple[np.ndarray, np.ndarray] | None = None, height: int = 360,
                 palette=PALETTE) -> go.Figure:
    """The codes coloured by class, with the classes as the legend; `limits` (lo, hi) fix the axes
    (frames of one replay share them), else plotly fits them."""
    labels = np.asarray(labels)
    fig = go.Figure()
    for k in np.unique(labels):
        at = labels == k
        name = classes[k] if 0 <= k < len(classes) else str(k)
        fig.add_trace(go.Scatter(x=xy[at, 0], y=xy[at, 1], mode="markers", name=str(name),
                                 marker={"size": 4, "color": palette[int(k) % len(palette)], "opacity": 0.75},
                                 hovertemplate=f"{name}<extra></extra>"))
    fig.update_layout(title={"text": title, "font": {"size": 13}}, height=height, uirevision="codes",
                      margin={"l": 10, "r": 10, "t": 36, "b": 10}, legend={"itemsizing": "constant"})
    fig.update_xaxes(title_text=axis_names[0], zeroline=False)
    fig.update_yaxes(title_text=axis_names[1], zeroline=False)
    if limits is not None:
        lo, hi = limits
        fig.update_xaxes(range=[float(lo[0]), float(hi[0])])
        fig.update_yaxes(range=[float(lo[1]), float(hi[1])])
    return fig


# ----------------------------------------------------------------------------------------------
# Pictures to take away (PIL, no plotting library): the map as shown, a traversal grid, a legend.
# ----------------------------------------------------------------------------------------------

def _font(size: int = 13):
    """DejaVu Sans where the system has it (it has σ and −), else Pillow's own font."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def _nice_ticks(lo: float, hi: float, target: int = 6) -> np.ndarray:
    span = max(hi - lo, 1e-12)
    raw = span / target
    base = 10 ** np.floor(np.log10(raw))
    step = base * min((m for m in (1, 2, 5, 10) if m * base >= raw), default=10)
    return np.arange(np.ceil(lo / step) * step, hi + step * 1e-9, step)


def legend_strip(classes, height: int, *, palette=PALETTE, width: int = 150) -> np.ndarray:
    """A white column (height, width, 3) naming each class beside its colour."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", (width, height), "white")
    draw, font = ImageDraw.Draw(canvas), _font(13)
    row = max(min(20, (height - 8) // max(len(classes), 1)), 10)
    for k, name in enumerate(classes):
        y = 8 + k * row
        if y + row > height:
            draw.text((8, y), "…", fill="black", font=font)
            break
        draw.rectangle([8, y + 2, 20, y + 14], fill=palette[k % len(palette)])
        draw.text((26, y), str(name)[:18], fill="black", font=font)
    return np.asarray(canvas)


def with_legend(frame: np.ndarray, classes, palette=PALETTE) -> np.ndarray:
    """A picture (H, W, 3) with the classes' legend to its right."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    return np.concatenate([frame, legend_strip(classes, frame.shape[0], palette=palette)], axis=1)


def map_picture(xy: np.ndarray, labels: np.ndarray, classes, view, *, title: str, axis_names=("z1", "z2"),
                layer: np.ndarray | None = None, layer_extent=None, layer_legend: dict | None = None,
                pinned: int | None = None, width: int = 640, palette=PALETTE) -> np.ndarray:
    """A latent map as a picture (H, W, 3) uint8: the codes coloured by class over `view` (x0, x1, y0, y1)
    on equal scales, the geometry layer under them (its RGBA picture, top row = highest y, covering
    `layer_extent`), the pinned code ringed, with axes, ticks, the classes' legend and the layer's."""
    from PIL import Image, ImageDraw

    x0, x1, y0, y1 = (float(v) for v in view)
    height = int(np.clip(width * (y1 - y0) / max(x1 - x0, 1e-12), 0.45 * width, 1.3 * width))
    # Equal scales: widen the range that the clipped height leaves short.
    scale = max((x1 - x0) / width, (y1 - y0) / height)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    x0, x1, y0, y1 = cx - scale * width / 2, cx + scale * width / 2, cy - scale * height / 2, cy + scale * height / 2
    plot = np.full((height, width, 3), 255.0)
    if layer is not None and layer_extent is not None:
        lx0, lx1, ly0, ly1 = layer_extent
        n_rows, n_cols = layer.shape[:2]
        xs = x0 + (np.arange(width) + 0.5) * scale
        ys = y1 - (np.arange(height) + 0.5) * scale  # picture rows top down
        cols = np.floor((xs - lx0) / (lx1 - lx0) * n_cols).astype(int)
        rows = np.floor((ly1 - ys) / (ly1 - ly0) * n_rows).astype(int)
        inside = (rows[:, None] >= 0) & (rows[:, None] < n_rows) & (cols[None] >= 0) & (cols[None] < n_cols)
        rgba = layer[np.clip(rows, 0, n_rows - 1)][:, np.clip(cols, 0, n_cols - 1)].astype(np.float64)
        alpha = rgba[..., 3:] / 255.0 * inside[..., None]
        plot = plot * (1 - alpha) + rgba[..., :3] * alpha
    plot = plot.astype(np.uint8)
    px = np.floor((np.asarray(xy[:, 0], np.float64) - x0) / scale).astype(int)
    py = np.floor((y1 - np.asarray(xy[:, 1], np.float64)) / scale).astype(int)
    colours = np.array([hex_rgb(c) for c in palette], np.uint8)[np.asarray(labels) % len(palette)]
    for dx in (0, 1):
        for dy in (0, 1):
            ok = (px + dx >= 0) & (px + dx < width) & (py + dy >= 0) & (py + dy < height)
            plot[py[ok] + dy, px[ok] + dx] = colours[ok]
    left, top, bottom, legend_w = 64, 34, 44, 170
    canvas = Image.new("RGB", (left + width + 12 + legend_w, top + height + bottom), "white")
    canvas.paste(Image.fromarray(plot), (left, top))
    draw, font = ImageDraw.Draw(canvas), _font(12)
    if pinned is not None and 0 <= pinned < len(xy):
        x, y = left + px[pinned], top + py[pinned]
        draw.ellipse([x - 8, y - 8, x + 8, y + 8], outline="black", width=2)
    draw.rectangle([left - 1, top - 1, left + width, top + height], outline="black")
    for t in _nice_ticks(x0, x1):
        x = left + (t - x0) / scale
        draw.line([x, top + height, x, top + height + 4], fill="black")
        draw.text((x, top + height + 6), f"{t:g}", fill="black", font=font, anchor="ma")
    for t in _nice_ticks(y0, y1):
        y = top + (y1 - t) / scale
        draw.line([left - 4, y, left, y], fill="black")
        draw.text((left - 6, y), f"{t:g}", fill="black", font=font, anchor="rm")
    draw.text((left + width / 2, top + height + 24), axis_names[0], fill="black", font=font, anchor="ma")
    draw.text((6, top - 16), axis_names[1], fill="black", font=font)
    draw.text((left, 6), title, fill="black", font=_font(14))
    canvas.paste(Image.fromarray(legend_strip(classes, min(height, 230), palette=palette, width=legend_w)),
                 (left + width + 12, top))
    if layer_legend:
        _draw_layer_legend(draw, layer_legend, left + width + 12, top + min(height, 230) + 10, legend_w)
    return np.asarray(canvas)


def _draw_layer_legend(draw, legend: dict, x: int, y: int, width: int) -> None:
    """The layer's scale under the classes: what it measures, and for a value scale its ramp from lo to hi."""
    font = _font(11)
    words, line = str(legend.get("title", "")).split(), ""
    for word in words:  # wrapped to the column
        if draw.textlength(f"{line} {word}", font=font) > width - 12 and line:
            draw.text((x + 4, y), line, fill="black", font=font)
            y, line = y + 14, word
        else:
            line = f"{line} {word}".strip()
    draw.text((x + 4, y), line, fill="black", font=font)
    y += 18
    if legend.get("kind") == "scale":
        colours = ramp(np.linspace(0, 1, width - 20))
        for i, c in enumerate(colours):
            draw.line([x + 4 + i, y, x + 4 + i, y + 10], fill=tuple(int(v) for v in c))
        draw.rectangle([x + 4, y, x + width - 16, y + 10], outline="grey")
        draw.text((x + 4, y + 13), f"{legend['lo']:.3g}", fill="black", font=font)
        draw.text((x + width - 16, y + 13), f"{legend['hi']:.3g}", fill="black", font=font, anchor="ra")
    elif legend.get("text"):
        draw.text((x + 4, y), str(legend["text"])[:40], fill="black", font=font)


def traversal_picture(images: np.ndarray, row_labels, column_labels, *, scale: int = 2, pad: int = 2) -> np.ndarray:
    """A traversal grid (rows, steps, H, W[, 3]) as one picture, each row named on its left and each
    column on top."""
    from PIL import Image, ImageDraw

    images = np.asarray(images)
    rows, steps, h, w = images.shape[:4]
    cell_h, cell_w = h * scale + pad, w * scale + pad
    left, top = 150, 22
    canvas = Image.new("RGB", (left + steps * cell_w, top + rows * cell_h), "white")
    draw, font = ImageDraw.Draw(canvas), _font(12)
    for r in range(rows):
        for c in range(steps):
            tile = np.clip(images[r, c], 0, 1) * 255 if images.dtype != np.uint8 else images[r, c]
            canvas.paste(Image.fromarray(big(tile.astype(np.uint8), scale)).convert("RGB"),
                         (left + c * cell_w, top + r * cell_h))
        draw.text((6, top + r * cell_h + cell_h / 2), str(row_labels[r]), fill="black", font=font, anchor="lm")
    for c, text in enumerate(column_labels):
        draw.text((left + c * cell_w + cell_w / 2, 4), str(text), fill="black", font=font, anchor="ma")
    return np.asarray(canvas)

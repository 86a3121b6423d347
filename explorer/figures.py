"""Pictures built without Streamlit (plotly figures and numpy images), so each can be tested alone."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .settings import PALETTE

# How a loss part is named on the training curves.
PART_TITLES = {"total": "total (what training minimises)", "recon": "reconstruction −log p(x|z)",
               "kl": "KL(q(z|x) ‖ p(z))", "mmd": "MMD² to the prior"}


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

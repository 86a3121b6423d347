"""The Latent space tab: each model's test codes, latent sliders decoding a point, the manifold grid."""
from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

import vae_core as vc

from .. import cache, state
from ..comparison import Slot
from ..figures import axis_title, big, scatter_figure
from ..page import Page

TITLE = "Latent space"


def draw(page: Page) -> None:
    live = page.live
    cols = st.columns(len(page.slots))
    for col, s in zip(cols, page.slots):
        with col:
            st.subheader(s.title)
            if not s.ok:
                st.error(s.error)
                continue
            if not s.codes:
                st.info("No stored test codes and no data files: the map needs one of the two.")
                continue
            st.caption("Test-set latent means; ★ the sliders' point, ● the interpolation path, "
                       "○ the picked image. Click a point to pick it.")
            draw_scatter(page, s)
    if not live:
        return
    draw_picked(page)
    st.divider()
    sliders_fragment(page.slots)
    st.divider()
    draw_grids(page)


def marks(page: Page, s: Slot) -> dict[str, np.ndarray]:
    d = s.latent_dim
    out = {"sliders": np.asarray(state.get(f"z_{s.side}") or [0.0] * d, np.float32)[None, :d]}
    path = page.interpolation(s)
    if path is not None:
        out["interpolation"] = path[0]
    if state.get("picked") is not None:
        out["picked"] = s.codes["mu"][state.get("picked")][None, :]
    return out


def draw_scatter(page: Page, s: Slot) -> None:
    key = f"scatter_{s.side}_{s.entry.name}"
    fig = scatter_figure(s.codes, page.info.classes, marks(page, s), s.latent_dim)
    labels = s.codes["labels"]

    def on_select():
        """Trace k holds class k's points in test-set order, so (curve, point) gives the index;
        overlay traces (curve ≥ number of classes) are ignored."""
        event = st.session_state.get(key) or {}
        n_classes = len(page.info.classes)
        found = [int(np.flatnonzero(labels == p["curve_number"])[p["point_index"]])
                 for p in event.get("selection", {}).get("points", [])
                 if p.get("curve_number", n_classes) < n_classes and p.get("point_index") is not None]
        if found and page.test is not None:
            state.pick(found[-1])

    st.plotly_chart(fig, key=key, on_select=on_select, selection_mode="points",
                    config={"displaylogo": False, "scrollZoom": True})


def draw_picked(page: Page) -> None:
    index = state.get("picked")
    if page.test is None:
        st.caption("Picking a point shows its test image and reconstructions once the data files are here "
                   "(see the note at the top).")
        return
    if index is None:
        st.caption("Click a point on a map to see that test image and its reconstructions.")
        return
    shown = [big(page.test.images[index] / 255.0, 4)]
    captions = [f"test #{index}: {page.info.classes[page.test.labels[index]]}"]
    for s in page.live:
        shown.append(big(cache.reconstructions(s.path, s.stamp, page.test, page.test_key, (index,))[0], 4))
        captions.append(f"model {s.side}")
    st.markdown("**Picked point** (○ on the maps): the test image and what each model makes of it")
    st.image(shown, caption=captions, width=112, output_format="PNG")


def slider_ranges(slots: list[Slot]) -> list[tuple[float, float]]:
    """Per latent dimension, a range centred on 0 (the prior's centre) that covers the 0.5–99.5
    percentiles of every given model's codes, rounded out to halves."""
    dims = max(s.latent_dim for s in slots)
    ranges = []
    for i in range(dims):
        reach = max([abs(float(v)) for s in slots if i < s.latent_dim for v in (s.codes["lo"][i], s.codes["hi"][i])]
                    + [1.0])
        r = float(np.ceil(reach * 2) / 2)
        ranges.append((-r, r))
    return ranges


def slider_groups(slots: list[Slot]) -> list[list[Slot]]:
    """One set of sliders for models whose latent spaces have the same dimension (one point, decoded
    by each), one set per model otherwise."""
    live = [s for s in slots if s.ok and s.codes]
    if len({s.latent_dim for s in live}) == 1:
        return [live]
    return [[s] for s in live]


def latent_sliders_ui(group: list[Slot], prefix: str) -> list[float]:
    """Sliders for one group; a move writes the point to the page state before the rerun, so
    everything drawn from it (the ★) sees the new point."""
    ranges = slider_ranges(group)
    ident = hashlib.sha1("|".join(s.identity for s in group).encode()).hexdigest()[:8]
    keys = [f"zs_{group[0].side}_{i}_{ident}" for i in range(len(ranges))]

    def moved():
        z = [float(st.session_state[k]) for k in keys]
        for s in group:
            state.set(f"z_{s.side}", z[:s.latent_dim])

    first = state.get(f"z_{group[0].side}") or []
    z = []
    for i, ((lo, hi), key) in enumerate(zip(ranges, keys)):
        start = float(np.clip(first[i] if i < len(first) else 0.0, lo, hi))
        z.append(st.slider(f"{prefix}z{i + 1}", lo, hi, start, step=round((hi - lo) / 200, 4) or 0.01, key=key,
                           on_change=moved))
    return z


@st.fragment
def sliders_fragment(slots: list[Slot]) -> None:
    """Sliders and the point they decode: only this part reruns while a slider moves."""
    groups = slider_groups(slots)
    for group in groups:
        cols = st.columns([2] + [1] * len(group))
        with cols[0]:
            who = "both models" if len(group) > 1 else f"model {group[0].side}"
            st.markdown(f"**Latent sliders** for {who} (the ★ on the maps)")
            z = latent_sliders_ui(group, "" if len(groups) == 1 else f"{group[0].side}: ")
        for col, s in zip(cols[1:], group):
            with col:
                point = tuple(z[:s.latent_dim])
                image = cache.decode_point(s.path, s.stamp, point)
                st.image(big(image, 5), caption=f"{s.side}: z = ({', '.join(f'{v:.2f}' for v in point)})",
                         width=140, output_format="PNG")


def grid_ui() -> tuple[int, str, float, float]:
    st.markdown("**Manifold grid**: decoded points on a lattice of the map's plane")
    c1, c2, c3 = st.columns([2, 2, 3])
    n = c1.slider("Grid size n (n × n images)", 5, 30, key="grid_n")
    spacing = c2.radio("Spacing", vc.explore.GRID_SPACINGS, key="grid_spacing", horizontal=True,
                       format_func={"quantile": "Gaussian quantiles", "range": "range of the codes"}.get,
                       help="Quantiles: Kingma & Welling, Fig. 4b. Range: evenly over the test codes.")
    if spacing == "quantile":
        lo, hi = c3.slider("Prior probability covered (%)", 1, 99, key="grid_q")
    else:
        lo, hi = c3.slider("Percentiles of the test codes", 0, 100, key="grid_r")
    return n, spacing, float(lo), float(hi)


def draw_grids(page: Page) -> None:
    n, spacing, lo, hi = grid_ui()
    cols = st.columns(len(page.slots))
    for col, s in zip(cols, page.slots):
        with col:
            if not (s.ok and s.codes):
                continue
            grid = cache.manifold(s.path, s.stamp, n, spacing, lo, hi, s.codes)
            xs, ys = grid["xs"], grid["ys"]
            x_name, y_name = (axis_title(s.codes, i, s.latent_dim) for i in (0, 1))
            how = "Gaussian quantiles" if spacing == "quantile" else "evenly spaced"
            st.image(grid["image"], output_format="PNG", width="stretch",
                     caption=f"{s.side}: {n}×{n} manifold, {how}: {x_name} from {xs[0]:.2f} to {xs[-1]:.2f} "
                             f"(left to right), {y_name} from {ys[0]:.2f} to {ys[-1]:.2f} (bottom to top)")
            st.download_button("Download PNG", grid["png"], file_name=f"{s.entry.name}-grid-{n}x{n}-{spacing}.png",
                               mime="image/png", key=f"grid_png_{s.side}", on_click="ignore")

"""The Latent space tab: the latent map (codes, hover decoding, sliders, grids) and its grid settings."""
from __future__ import annotations

import streamlit as st

import vae_core as vc

from ..latent_map import latent_map
from ..page import Page

TITLE = "Latent space"


def grid_ui() -> tuple[int, str, float, float]:
    """The manifold grid's settings: they act on this tab only, so they live here (folded away, so
    the map and its decoded images fill the first screen)."""
    c1, c2, c3 = st.expander("Manifold grid: size, spacing, range").columns([2, 2, 3])
    n = c1.slider("Grid size n (n × n images)", 5, 30, key="grid_n")
    spacing = c2.radio("Grid spacing", vc.explore.GRID_SPACINGS, key="grid_spacing", horizontal=True,
                       format_func={"quantile": "Gaussian quantiles", "range": "range of the codes"}.get,
                       help="Quantiles: Kingma & Welling, Fig. 4b (even in probability, uneven in z). "
                            "Range: evenly over the test codes.")
    if spacing == "quantile":
        lo, hi = c3.slider("Prior probability covered (%)", 1, 99, key="grid_q")
    else:
        lo, hi = c3.slider("Percentiles of the test codes", 0, 100, key="grid_r")
    return n, spacing, float(lo), float(hi)


def draw(page: Page) -> None:
    for s in page.slots:
        if not s.ok:
            st.error(f"{s.title}: {s.error}")
        elif not s.codes:
            st.info(f"{s.title}: no stored test codes and no data files, so there is nothing to map.")
    if not page.live:
        return
    st.caption("Move over a map: every model decodes the point under the cursor (in your browser). Drag to pan, "
               "wheel to zoom, double-click to reset. Click a point to pin it; shift-click two points for the "
               "interpolation's ends. Grey lines: the manifold grid's lattice; hover a grid cell to find it.")
    settings = grid_ui()
    latent_map(page, page.live, settings)

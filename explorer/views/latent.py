"""The Latent space tab: the latent map (codes, hover decoding, sliders, grids) and its grid settings."""
from __future__ import annotations

import streamlit as st

from vae_core.analysis import explore
from vae_core.analysis import geometry

from .. import cache, state
from ..figures import big
from ..latent_map import latent_map
from ..page import Page
from ..settings import GRID_PERCENTILE_RANGE, GRID_QUANTILE_RANGE

TITLE = "Latent space"


def grid_ui() -> tuple[int, str, float, float]:
    """The manifold grid's settings: they act on this tab only, so they live here (folded away, so
    the map and its decoded images fill the first screen)."""
    c1, c2, c3 = st.expander("Manifold grid: size, spacing, range").columns([2, 2, 3])
    n = c1.slider("Grid size n (n × n images)", 5, 30, key="grid_n")
    spacing = c2.radio("Grid spacing", explore.GRID_SPACINGS, key="grid_spacing", horizontal=True,
                       format_func={"quantile": "Gaussian quantiles", "range": "range of the codes"}.get,
                       help="Quantiles: Kingma & Welling, Fig. 4b (even in probability, uneven in z). "
                            "Range: evenly over the test codes.")
    if spacing == "quantile":
        lo, hi = c3.slider("Prior probability covered (%)", *GRID_QUANTILE_RANGE, key="grid_q",
                           help="Both handles on one value leave no range: they are kept one step apart.")
    else:
        lo, hi = c3.slider("Percentiles of the test codes", *GRID_PERCENTILE_RANGE, key="grid_r",
                           help="Both handles on one value leave no range: they are kept one step apart.")
    return n, spacing, float(lo), float(hi)


# Each layer's one-line explanation is the first line of the vae_core function that computes it.
LAYERS = {"none": None, "classes": geometry.decoded_class_layer, "holes": geometry.hole_layer,
          "stretch": geometry.stretch_layer}
LAYER_TITLES = {"none": "codes only", "classes": "what it decodes to", "holes": "holes", "stretch": "stretch"}


def layer_ui(page: Page) -> str | None:
    kind = st.radio("Layer under the codes", list(LAYERS), key="layer", horizontal=True,
                    format_func=LAYER_TITLES.get,
                    help="Computed on a lattice over each map by vae_core.analysis.geometry, once per model version.")
    if kind == "none":
        return None
    st.caption(LAYERS[kind].__doc__.strip().splitlines()[0])
    if kind == "classes" and cache.classifier(page.dataset) is None:
        st.info("There is no classifier for this dataset (they ship for MNIST and Fashion-MNIST only).")
        return None
    return kind


def draw_hole_samples(page: Page) -> None:
    """Prior samples drawn where the data never goes: what the model makes of them."""
    st.markdown("**Prior samples that fell into holes** (q(z) < p(z)/10): what each model decodes there")
    for s in page.live:
        images = cache.hole_samples(s.path, s.stamp, 8, s.codes)
        if len(images):
            st.caption(s.title)  # above its row: a caption under one 56-px image was squeezed into it
            st.image([big(im, 2) for im in images], width=56, output_format="PNG")
        else:
            st.caption(f"{s.title}: none of 100,000 prior samples fell into a hole.")


def draw_uncertainty_note(page: Page) -> None:
    """The ellipses need a stochastic encoder: say so for the models that have none."""
    if state.get("picked") is None:
        return
    deterministic = [s.title for s in page.live if s.codes.get("logvar") is None]
    st.caption("Around the pinned image: the 1σ (solid) and 2σ (dashed) ellipses of q(z|x), where the encoder "
               "could put its code." + (f" {', '.join(deterministic)}: a deterministic encoder, so no ellipse."
                                        if deterministic else ""))


def draw(page: Page) -> None:
    for s in page.slots:
        if not s.ok:
            st.error(f"{s.title}: {s.error}")
        elif not s.codes:
            st.info(f"{s.title}: no stored test codes and no data files, so there is nothing to map.")
    if not page.live:
        return
    clicks = ("Click a point to pin it; shift-click two points for the interpolation's ends." if page.test is not None
              else "Pinning a point and choosing the interpolation's ends need the test images (see the note above).")
    st.caption("Move over a map: every model decodes the point under the cursor (in your browser). Drag to pan, "
               f"wheel to zoom, double-click to reset. {clicks} Grey lines: the manifold grid's lattice; hover a grid "
               "cell to find it.")
    settings = grid_ui()
    kind = layer_ui(page)
    latent_map(page, page.live, settings, kind)
    draw_uncertainty_note(page)  # below the maps: a pin must not move them under the cursor
    if kind == "holes":
        draw_hole_samples(page)

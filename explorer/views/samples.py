"""The Samples tab: decoded prior samples, and test images with each model's reconstruction."""
from __future__ import annotations

import numpy as np
import streamlit as st

import vae_core as vc

from .. import cache, state
from ..figures import big
from ..page import Page

TITLE = "Samples"
SCALE = 2  # each image drawn at twice its pixels, as wide as the page allows (a row of 30 is narrowed to fit)


def bump(key: str) -> None:
    state.set(key, state.get(key) + 1)


def row(images: np.ndarray, n: int) -> np.ndarray:
    """One row of n images, each at SCALE× its pixels: shown at that size, or narrowed to the page's width
    (st.image's "content" width), never a fixed 600 px that made 30 digits 18 px wide."""
    return big(vc.tile(images, n, pad=2), SCALE)


def draw(page: Page) -> None:
    rows(page)


@st.fragment
def rows(page: Page) -> None:
    """Its buttons and slider rerun only this fragment: new samples cost the server their decoding,
    not a run of the whole page."""
    n = st.slider("Images per row", 4, 30, key="row_n")
    c1, c2, _ = st.columns([1, 1, 3])
    c1.button("New samples", key="new_samples", on_click=bump, args=("sample_seed",),
              help="Draw new points z ~ p(z), each model's prior; the test images stay")
    c2.button("New test images", key="new_test_images", on_click=bump, args=("recon_seed",),
              disabled=page.test is None, help="Pick other test images to reconstruct; the samples stay")
    seed = state.get("sample_seed")
    st.markdown("**Prior samples** z ~ p(z) (N(0, I), or the model's learned prior), decoded")
    for s in page.live:
        st.image(row(cache.samples(s.path, s.stamp, n, seed), n), caption=f"{s.title}: samples (seed {seed})",
                 output_format="PNG")
    st.markdown("**Test images and their reconstructions** (the decoded code of each)")
    if page.test is None:
        st.info("Reconstructions need the test images (see the note at the top).")
        return
    recon_seed = state.get("recon_seed")
    idx = tuple(int(i) for i in np.random.default_rng(recon_seed).choice(len(page.test.labels), n, replace=False))
    st.image(row(page.test.images[list(idx)] / 255.0, n), caption=f"test images (draw {recon_seed})",
             output_format="PNG")
    for s in page.live:
        st.image(row(cache.reconstructions(s.path, s.stamp, page.test, page.test_key, idx), n),
                 caption=f"{s.title}: reconstructions", output_format="PNG")

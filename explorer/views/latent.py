"""The Latent space tab: the latent map (codes, hover decoding, sliders, grids) and its grid settings."""
from __future__ import annotations

import numpy as np
import streamlit as st

import vae_core as vc
from vae_core.analysis import plane
from vae_core.lazy import LazyModule

from .. import cache, figures, keep, state
from ..figures import axis_title, big
from ..latent_map import extent, latent_map, layer_extent
from ..layers import LAYERS
from ..page import Page
from ..settings import GRID_PERCENTILE_RANGE, GRID_QUANTILE_RANGE
from ..text import plain

explore = LazyModule("vae_core.analysis.explore")  # imports torch: on first use (vae_core.lazy)

TITLE = "Latent space"


def grid_ui() -> tuple[int, str, float, float]:
    """The manifold grid's settings: they act on this tab only, so they live here (folded away, so
    the map and its decoded images fill the first screen)."""
    c1, c2, c3 = st.expander("Manifold grid: size, spacing, range").columns([2, 2, 3])
    n = c1.slider("Grid size n (n × n images)", 5, 30, key="grid_n")
    spacing = c2.radio("Grid spacing", plane.GRID_SPACINGS, key="grid_spacing", horizontal=True,
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


def layer_ui(page: Page) -> str | None:
    """The layer picker, from the layers' registry (explorer/layers): its title, its one-line help."""
    kind = st.radio("Layer under the codes", ["none", *LAYERS], key="layer", horizontal=True,
                    format_func=lambda k: "codes only" if k == "none" else LAYERS[k].title,
                    help="Computed on a lattice over each map by vae_core.analysis.geometry, once per model version.")
    if kind == "none":
        return None
    st.caption(LAYERS[kind].help)
    if LAYERS[kind].needs_classifier and cache.classifier(page.dataset) is None:
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
    downloads_ui(page, settings, kind)
    draw_formation(page)
    draw_traversals(page)


# ----------------------------------------------------------------------------------------------
# Take it with you: the maps as shown, the grids, the model folders
# ----------------------------------------------------------------------------------------------

def downloads_ui(page: Page, settings: tuple, kind: str | None) -> None:
    """Per model: its map as shown (drawn here: the codes, the layer under them, the pin), its manifold
    grid and its folder. Each file is built when its button is pressed."""
    n, spacing, lo, hi = settings
    grids = {s.side: cache.manifold(s.path, s.stamp, n, spacing, lo, hi, s.codes) for s in page.live}
    layers = {}
    if kind is not None:  # the layers the map has just drawn (cached), on the scale the maps share
        layers = {s.side: cache.layer(s.path, s.stamp, kind, page.dataset, layer_extent(s, grids[s.side]), s.codes)
                  for s in page.live}
    scale = figures.layer_scale(kind, list(layers.values())) if layers else None
    classes, picked = page.info.classes, state.get("picked")
    with st.expander("Take it with you: the maps, the grids, the model folders"):
        for s in page.live:
            name = s.entry.name
            cols = st.columns([2, 1, 1, 1], vertical_alignment="center")
            cols[0].markdown(f"**{s.title}**")
            keep.button(cols[1], "map (PNG)", lambda s=s: keep.map_png(
                s.codes, classes, extent(s, grids[s.side]), title=f"{s.title}" + (f", layer: {kind}" if kind else ""),
                axis_names=[axis_title(s.codes, i, s.latent_dim) for i in (0, 1)], layer=layers.get(s.side),
                kind=kind, scale=scale, pinned=picked), keep.file_stem(name, "map", kind) + ".png", keep.PNG,
                key=f"dl_map_{s.side}", help="The test codes over the map's first view, drawn on the server" +
                (", with the layer under them" if kind else "") + (" and the pinned image ringed" if picked is not None
                                                                  else ""))
            keep.button(cols[2], "grid (PNG)", lambda png=grids[s.side]["png"]: png,
                        keep.file_stem(name, f"grid{n}x{n}", spacing) + ".png", keep.PNG, key=f"dl_grid_{s.side}",
                        help=f"The {n} × {n} manifold grid, as set above")
            keep.button(cols[3], "folder (.zip)", lambda path=s.path: keep.model_zip(path),
                        keep.file_stem(name) + ".zip", keep.ZIP, key=f"dl_zip_{s.side}",
                        help="The model folder (config, weights, metrics, codes): unzipped, the page and vae-core "
                             "open it")


# ----------------------------------------------------------------------------------------------
# How the space formed: an epoch scrubber for each model that kept its formation
# ----------------------------------------------------------------------------------------------

def draw_formation(page: Page) -> None:
    kept = []
    for s in page.live:
        try:
            formation = cache.formation(s.path, s.stamp)
        except vc.CheckpointError as exc:
            st.caption(f"{s.title}: its formation cannot be replayed ({plain(exc)})")
            continue
        if formation is not None:
            kept.append((s, formation))
    if kept:
        formation_fragment(page, kept)


@st.fragment
def formation_fragment(page: Page, kept: list) -> None:
    """A scrub reruns this fragment only: the frames come from the cache (one read per model version)."""
    st.markdown("**How the space formed**: the codes of the same test images before training (epoch 0) and "
                "after each epoch, on the same axes")
    classes = page.info.classes
    for col, (s, formation) in zip(st.columns(len(kept)), kept):
        epochs = formation["epochs"]
        key = f"scrub_{s.side}"
        if state.get(key) not in range(len(epochs)):
            state.set(key, len(epochs) - 1)
        with col:
            i = st.select_slider(f"{s.side}: epoch", options=list(range(len(epochs))), key=key,
                                 format_func=lambda k, e=epochs: f"{e[k]:g}",
                                 help="Drag to replay how this model's latent space formed while it trained")
            when = "before training" if epochs[i] == 0 else f"after epoch {epochs[i]:g}"
            st.plotly_chart(figures.codes_figure(
                formation["xy"][i], formation["labels"], classes, limits=formation["limits"],
                axis_names=formation["axis_names"],
                title=f"{s.side}: {len(formation['labels']):,} test codes {when}"), key=f"formation_{s.side}")
            keep.button(st, "formation (GIF)", lambda f=formation: keep.formation_gif(f, classes),
                        keep.file_stem(s.entry.name, "formation") + ".gif", keep.GIF, key=f"dl_formation_{s.side}",
                        help="Every kept epoch as one frame of an animation")


# ----------------------------------------------------------------------------------------------
# Traversals of models with more than two latent dimensions
# ----------------------------------------------------------------------------------------------

CENTRES = {"pin": "the pinned image", "mean": "the codes' mean", "origin": "the origin"}
TRAVERSAL_STEPS = 7  # −3σ … +3σ, one σ apart


def traversal_center(s, choice: str, picked: int | None) -> tuple[np.ndarray, str]:
    """The point a model's traversals start from, and its name (the origin when nothing is pinned)."""
    if choice == "pin" and picked is not None and picked < len(s.codes["mu"]):
        return s.codes["mu"][picked], f"the code of the pinned test #{picked}"
    if choice == "mean":
        return s.codes["mu"].mean(0), "the codes' mean"
    return np.zeros(s.latent_dim, np.float32), "the origin" + (" (nothing is pinned)" if choice == "pin" else "")


def draw_traversals(page: Page) -> None:
    deep = [s for s in page.live if s.latent_dim > 2]
    if not deep:
        return
    st.markdown("**Traversals** (models with more than two latent dimensions): one row per dimension, the most "
                "informative first; each row moves one point from −3σ to +3σ along that dimension alone")
    choice = st.radio("Traversals start from", list(CENTRES), key="trav_center", horizontal=True,
                      format_func=CENTRES.get)
    picked = state.get("picked")
    steps = np.linspace(-cache.TRAVERSAL_SPAN, cache.TRAVERSAL_SPAN, TRAVERSAL_STEPS)
    for col, s in zip(st.columns(len(deep)), deep):
        center, said = traversal_center(s, choice, picked)
        t = cache.traversal(s.path, s.stamp, tuple(float(v) for v in center), TRAVERSAL_STEPS, s.codes)
        what = "KL" if t["kl"] else "var"
        labels = [f"z{d + 1}  {what} {t['score'][d]:.2f}" + ("" if t["active"][d] else " (inactive)")
                  for d in t["order"]]
        picture = figures.traversal_picture(t["images"], labels, [f"{v:+g}σ" for v in steps])
        active = int(t["active"].sum())
        col.image(picture, output_format="PNG", width=int(picture.shape[1]), caption=(  # its own pixels, never blown up
            f"{s.title}: from {said}; {active} of {s.latent_dim} dimensions active. "
            + ("KL: each dimension's mean KL(q(z|x) ‖ N(0, 1)) in nats; " if t["kl"] else
               "var: the codes' variance along it (a deterministic encoder has no KL); ")
            + "σ: the spread of the codes along it (√(Var μ + E σ²))"))
        keep.button(col, "traversals (PNG)", lambda p=picture: vc.png_bytes(p),
                    keep.file_stem(s.entry.name, "traversals") + ".png", keep.PNG, key=f"dl_traversal_{s.side}")

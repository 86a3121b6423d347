"""The latent map component: every model's test codes, decoded under the cursor in the browser.

map.js is the entry that wires its modules (docs/page.md lists them: one model's map, the grids, the
layers, the sliders, the drawing pad, the decoded panel, the view's maths); it decodes with decoder.js
and encodes the drawing with encoder.js (plain JavaScript forward passes, exact to torch's within 1e-4;
bundle.py joins the modules into the one the component runs). This module
prepares what it needs: small JSON on every run, and files the browser fetches once per model
version (explorer/webcache.py): the decoder's and the encoder's weights, the test codes in the
map's plane, the test images as one atlas, the grid pictures. When a decoder cannot be exported the map says so and
the images come from the server instead (decoded when a slider is released).
"""
from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import streamlit as st

import vae_core as vc

from .. import cache, figures, firstview, mapview, state, warmup, webcache
from ..comparison import Slot
from ..figures import axis_title
from ..layers import LAYERS
from ..settings import PALETTE
from .bundle import component_js


HERE = Path(__file__).resolve().parent
_component = st.components.v2.component(
    "vae_latent_map",
    html="",
    css=(HERE / "map.css").read_text(),
    js=component_js(),  # map.js with the modules it imports (decoder.js, encoder.js, pad.js, ...)
)


# ----------------------------------------------------------------------------------------------
# Files fetched once per model version
# ----------------------------------------------------------------------------------------------

def _published(path: str, stamp: float, codes: dict, net: str) -> dict:
    """The browser's copy of a network ("decoder", or "encoder" for the drawing pad) as two static files
    the browser fetches, or why it cannot run there: kept in the folder (explorer.firstview), else made now."""
    kept = cache.kept_view(path, stamp, codes)
    made = kept[net] if kept is not None else firstview.export(cache.load_model(path, stamp).model, net)
    if "error" in made:
        return {"error": made["error"]}
    try:
        return {"spec": webcache.publish(made["spec"], ".json"), "weights": webcache.publish(made["weights"], ".bin")}
    except OSError as exc:
        return {"error": f"cannot write the browser's copy of the {net} ({exc})"}


@st.cache_data(show_spinner=False, max_entries=16)
def decoder_files(path: str, stamp: float, _codes: dict) -> dict:
    """The decoder's export as two static files, or why it cannot run in the browser."""
    return _published(path, stamp, _codes, "decoder")


@st.cache_data(show_spinner=False, max_entries=16)
def encoder_files(path: str, stamp: float, _codes: dict) -> dict:
    """The encoder's export (for the drawing pad) as two static files, or why it cannot run in the browser."""
    return _published(path, stamp, _codes, "encoder")


@st.cache_data(show_spinner=False, max_entries=16)
def points_file(path: str, stamp: float, _codes: dict) -> str:
    """The test codes in the map's plane (float32 x, y pairs) followed by their labels (uint16)."""
    xy = np.ascontiguousarray(_codes["xy"], dtype="<f4")
    labels = np.asarray(_codes["labels"], dtype="<u2")
    return webcache.publish(xy.tobytes() + labels.tobytes(), ".bin")


ATLAS_COLUMNS = 100


@st.cache_data(show_spinner=False, max_entries=4)
def atlas_file(test_key: str, _test: cache.TestSet) -> dict:
    """Every test image in one PNG (100 per row), for the map's hover preview and the pinned image."""
    images = _test.images  # (N, H, W) uint8
    n, h, w = images.shape[:3]
    rows = -(-n // ATLAS_COLUMNS)
    canvas = np.zeros((rows * h, ATLAS_COLUMNS * w) + images.shape[3:], np.uint8)
    for i in range(n):
        r, c = divmod(i, ATLAS_COLUMNS)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = images[i]
    return {"url": webcache.publish(vc.png_bytes(canvas), ".png"), "columns": ATLAS_COLUMNS, "width": w, "height": h}


@st.cache_data(show_spinner=False, max_entries=32)
def grid_file(path: str, stamp: float, n: int, spacing: str, lo: float, hi: float, _codes: dict) -> dict:
    grid = cache.manifold(path, stamp, n, spacing, lo, hi, _codes)
    return {"url": webcache.publish(grid["png"], ".png"), "xs": grid["xs"].tolist(), "ys": grid["ys"].tolist()}


# ----------------------------------------------------------------------------------------------
# What the map is told on every run (small)
# ----------------------------------------------------------------------------------------------

def slider_ranges(slots: list[Slot]) -> list[tuple[float, float]]:
    """Per latent dimension, a range centred on 0 (the prior's centre) that covers the 0.5–99.5
    percentiles of every given model's codes, rounded out to halves."""
    ranges = []
    for i in range(max(s.latent_dim for s in slots)):
        reach = max([abs(float(v)) for s in slots if i < s.latent_dim for v in (s.codes["lo"][i], s.codes["hi"][i])]
                    + [1.0])
        r = float(np.ceil(reach * 2) / 2)
        ranges.append((-r, r))
    return ranges


def slider_groups(slots: list[Slot]) -> list[dict]:
    """One set of sliders when the models' latent spaces have the same dimension (one point,
    decoded by each), else one set per model."""
    groups = [slots] if len({s.latent_dim for s in slots}) == 1 else [[s] for s in slots]
    out = []
    for group in groups:
        ranges = slider_ranges(group)
        z = state.get(f"z_{group[0].side}") or [0.0] * len(ranges)
        z = [float(np.clip(z[i] if i < len(z) else 0.0, lo, hi)) for i, (lo, hi) in enumerate(ranges)]
        together = len(group) > 1
        out.append({"id": "".join(s.side for s in group), "sides": [s.side for s in group], "ranges": ranges, "z": z,
                    "prefix": "" if len(groups) == 1 else f"{group[0].side}: ",
                    "title": "Latent sliders (the ★): one point, decoded by " +
                             ("every model" if together else f"model {group[0].side}")})
    return out


def grid_caption(s: Slot, grid: dict, spacing: str) -> str:
    how = "Gaussian quantiles" if spacing == "quantile" else "evenly spaced over the codes"
    xs, ys = grid["xs"], grid["ys"]
    return (f"{axis_title(s.codes, 0, s.latent_dim)}: {xs[0]:.2f} … {xs[-1]:.2f} left to right; "
            f"{axis_title(s.codes, 1, s.latent_dim)}: {ys[0]:.2f} … {ys[-1]:.2f} bottom to top ({how})")


def geodesic_path(page, s: Slot) -> list | None:
    """The geodesic between the interpolation's ends, when the Interpolation tab asked for it."""
    if not state.get("geodesic") or page.test is None:
        return None
    found = page.geodesic(s)
    return None if found is None else found["path"].tolist()


def extent(s: Slot, grid: dict | None, margin: float = 0.05) -> list[float]:
    """What a map shows at first: the codes and the grid, with a margin (explorer.mapview.extent)."""
    return mapview.extent(s.codes, grid, margin)


def layer_extent(s: Slot, grid: dict) -> tuple[float, float, float, float]:
    """The part of the map's plane a layer covers (explorer.mapview.layer_extent)."""
    return mapview.layer_extent(s.codes, grid)


def layer_files(page, slots: list[Slot], kind: str | None, grid_settings: tuple) -> dict[str, dict | None]:
    """Each model's geometry layer as a picture under its map ({url, extent, legend}), all on one colour
    scale (so the same colour means the same value on every map)."""
    if kind is None or (LAYERS[kind].needs_classifier and cache.classifier(page.dataset) is None):
        return {s.side: None for s in slots}
    n, spacing, lo, hi = grid_settings
    extents = {s.side: layer_extent(s, grid_file(s.path, s.stamp, n, spacing, lo, hi, s.codes)) for s in slots}
    layers = [cache.layer(s.path, s.stamp, kind, page.dataset, extents[s.side], s.codes) for s in slots]
    scale = figures.layer_scale(kind, layers)
    return {s.side: layer_picture_file(s.path, s.stamp, kind, page.dataset, extents[s.side], scale, s.codes)
            for s in slots}


@st.cache_data(show_spinner=False, max_entries=48)
def layer_picture_file(path: str, stamp: float, kind: str, dataset: str, ext: tuple, scale: tuple | None,
                       _codes: dict) -> dict:
    """The layer's picture, drawn, encoded and published once per model version, layer, extent and scale."""
    layer = cache.layer(path, stamp, kind, dataset, ext, _codes)
    picture, legend = figures.layer_picture(kind, layer, PALETTE, scale)
    # The picture's pixels are the lattice's points: its edges lie half a cell outside them.
    xs, ys = layer["xs"], layer["ys"]
    dx, dy = (xs[1] - xs[0]) / 2, (ys[1] - ys[0]) / 2
    return {"url": webcache.publish(vc.png_bytes(picture), ".png"), "kind": kind, "legend": legend,
            "extent": [float(xs[0] - dx), float(xs[-1] + dx), float(ys[0] - dy), float(ys[-1] + dy)]}


def ellipses(s: Slot, index: int | None) -> list[dict]:
    """The 1σ and 2σ ellipses of q(z|x) for the picked test image, in the map's plane (none for a
    deterministic encoder, or without stored log-variances)."""
    logvar = s.codes.get("logvar")
    if index is None or logvar is None or index >= len(logvar):
        return []
    from vae_core.analysis import geometry  # torch's: a pin is a person's click, never the first view

    plane = {} if s.latent_dim <= 2 else {"mean": s.codes["mean"], "axes": s.codes["axes"]}
    return [{"sigma": k, "points": geometry.posterior_ellipse(s.codes["mu"][index], logvar[index], n_sigma=k,
                                                               **plane).tolist()} for k in (1, 2)]


def model_data(page, s: Slot, grid_settings: tuple, layer: dict | None) -> dict:
    n, spacing, lo, hi = grid_settings
    grid = grid_file(s.path, s.stamp, n, spacing, lo, hi, s.codes)
    path = page.interpolation_path(s)
    picked = state.get("picked")
    out = {
        "side": s.side, "title": s.title, "key": s.identity, "count": int(len(s.codes["labels"])),
        "points": points_file(s.path, s.stamp, s.codes), "extent": extent(s, grid),
        "plane": {"mean": np.asarray(s.codes["mean"], float).tolist(), "axes": np.asarray(s.codes["axes"], float).tolist()},
        "axisNames": [axis_title(s.codes, i, s.latent_dim) for i in (0, 1)],
        "grid": {**grid, "n": n, "caption": grid_caption(s, grid, spacing)},
        "path": path.tolist() if path is not None else None,
        "pickedCode": s.codes["mu"][picked].tolist() if picked is not None and picked < len(s.codes["mu"]) else None,
        "ellipses": ellipses(s, picked),
        "geodesic": geodesic_path(page, s),
        "layer": layer,
    }
    files = decoder_files(s.path, s.stamp, s.codes)
    if "error" in files:
        out["decoder"], out["decoderError"] = None, files["error"]
    else:
        out["decoder"] = files
    files = encoder_files(s.path, s.stamp, s.codes)
    out["encoder"], out["encoderError"] = (None, files["error"]) if "error" in files else (files, None)
    return out


def server_images(slots: list[Slot], groups: list[dict]) -> dict[str, str]:
    """The sliders' point decoded here, for maps whose decoder cannot run in the browser: the export
    failed here, or the browser said it could not load it (the map's `serverDecode` state)."""
    asked = (st.session_state.get("latent_map") or {}).get("serverDecode") or []
    out = {}
    for s in slots:
        if "error" not in decoder_files(s.path, s.stamp, s.codes) and s.side not in asked:
            continue
        z = next(g["z"] for g in groups if s.side in g["sides"])[:s.latent_dim]
        png = vc.png_bytes(cache.decode_point(s.path, s.stamp, tuple(z)))
        out[s.side] = "data:image/png;base64," + base64.b64encode(png).decode()
    return out


# ----------------------------------------------------------------------------------------------
# Events from the map (one message per click, shift-click or slider release)
# ----------------------------------------------------------------------------------------------

def _on_picked() -> None:
    index = (st.session_state.get("latent_map") or {}).get("picked")
    if isinstance(index, int):
        state.pick(index)


def _on_z() -> None:
    z = (st.session_state.get("latent_map") or {}).get("z") or {}
    for side, values in z.items():
        if f"z_{side}" in state.VARS and isinstance(values, list):
            state.set(f"z_{side}", [float(v) for v in values])


def _on_end(page) -> None:
    end = (st.session_state.get("latent_map") or {}).get("end") or {}
    index = end.get("index") if isinstance(end, dict) else None
    if isinstance(index, int) and page.test is not None and 0 <= index < len(page.test.labels):
        state.shift_end(index, int(page.test.labels[index]))


# The browser tests and benchmarks read the map's counters and the map itself from the page
# (window.__vaeLatentMap); the server they start sets this. Off in production.
TEST_HOOKS = os.environ.get("VAE_TEST_HOOKS") == "1"


def _on_drawing(page) -> None:
    """'Pin the drawing': keep the pad's image (checked: finite, in [0, 1], a C*H*W list), for this dataset."""
    drawing = (st.session_state.get("latent_map") or {}).get("drawing")
    if not isinstance(drawing, dict):
        return
    shape, pixels = drawing.get("shape"), drawing.get("pixels")
    if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(v, int) and 0 < v <= 256 for v in shape)
            and isinstance(pixels, list) and len(pixels) == int(np.prod(shape))):
        return
    image = np.asarray(pixels, np.float32).reshape(shape)
    if np.isfinite(image).all():
        st.session_state[state.PINNED_DRAWING] = (page.dataset, np.clip(image, 0, 1))


def pinned_drawing(page, slots: list[Slot]) -> dict | None:
    """The pinned drawing's code (mean of q(z|x)) under each model of its dataset (one image: ms)."""
    image = state.pinned_drawing(page.dataset)
    if image is None:
        return None
    codes = {}
    for s in slots:
        model = cache.load_model(s.path, s.stamp).model
        if tuple(model.image_shape) == image.shape:
            codes[s.side] = vc.encode_means(model, image[None])[0].tolist()
    return {"codes": codes}


def latent_map(page, slots: list[Slot], grid_settings: tuple, layer_kind: str | None = None) -> None:
    """Mount the map for `slots` (models with test codes), with a geometry layer under the codes."""
    groups = slider_groups(slots)
    layers = layer_files(page, slots, layer_kind, grid_settings)
    data = {
        "classes": list(page.info.classes), "palette": list(PALETTE),
        "models": [model_data(page, s, grid_settings, layers[s.side]) for s in slots],
        "canPin": page.test is not None,  # a pin shows the test image: no data files, nothing to pin
        "sliders": groups, "picked": state.get("picked"),
        # The interpolation's ends as test indices, None for an end that is the pinned drawing.
        "ends": [key if kind == "test" else None for kind, key in page.interpolation_sources()]
        if page.test is not None else [],
        "atlas": atlas_file(page.test_key, page.test) if page.test is not None else None,
    }
    data["serverImages"] = server_images(slots, groups)
    data["pinnedDrawing"] = pinned_drawing(page, slots)
    data["testHooks"] = TEST_HOOKS
    data["warmAfterDraw"] = not warmup.torch_ready()  # drawn without torch: say when, and it is imported
    # A list of one, not the dict: Streamlit looks for dataframes among a dict's values, which imports
    # pandas and pyarrow (0.3 s of a fresh server's first view) for a page that sends none.
    _component(data=[data], key="latent_map", on_picked_change=_on_picked, on_z_change=_on_z,
               on_end_change=lambda: _on_end(page), on_serverDecode_change=lambda: None,
               on_drawing_change=lambda: _on_drawing(page), on_drawn_change=warmup.start)

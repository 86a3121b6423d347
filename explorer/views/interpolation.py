"""The Interpolation tab: walk between two test images' codes and decode each step, for every model."""
from __future__ import annotations

import numpy as np
import streamlit as st

from .. import cache, keep, state
from ..figures import big
from ..page import Page

TITLE = "Interpolation"
METHODS = {"linear": "linear", "slerp": "spherical (slerp)"}
FRAME_PX = 64  # each frame drawn at least this wide, so a digit stays readable


def set_end(page: Page, end: str, index: int) -> None:
    state.set(f"interp_{end}_class", int(page.test.labels[index]))
    state.set(f"interp_{end}_index", int(index))


def random_pair(page: Page) -> None:
    for end, index in zip("ab", np.random.default_rng().choice(len(page.test.labels), 2, replace=False)):
        set_end(page, end, int(index))


def use_picks(page: Page) -> None:
    picks = state.get("picks")
    for end, index in zip("ab", picks[-2:] if len(picks) >= 2 else picks[-1:]):
        set_end(page, end, index)


def ends_ui(page: Page) -> None:
    """Each end chosen by class, then among that class's test images (a list cannot hold a bad value;
    type a number to find it)."""
    classes = page.info.classes
    cols = st.columns(2)
    for col, end, word in ((cols[0], "a", "Start"), (cols[1], "b", "End")):
        with col:
            c1, c2 = st.columns([1, 1])
            cls = c1.selectbox(f"{word} class", range(len(classes)), key=f"interp_{end}_class",
                               format_func=lambda k: classes[k])
            members = page.class_members(cls).tolist()
            c2.selectbox(f"{word} image", members, key=f"interp_{end}_index",
                         format_func=lambda i: f"test #{i}", help="Any test image of that class, by its index")
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    c1.slider("Steps k", 2, 30, key="interp_steps")
    c2.radio("Path", list(METHODS), key="interp_method", horizontal=True, format_func=METHODS.get,
             help="Linear: z = (1 − t)·z0 + t·z1. Spherical: along the great circle between the two codes.")
    c3.button("Random pair", key="interp_random", on_click=random_pair, args=(page,))
    c4.button("Use the map picks", key="interp_from_scatter", disabled=not state.get("picks"),
              on_click=use_picks, args=(page,), help="The last two test images picked on a map")


def draw(page: Page) -> None:
    if page.test is None:
        st.info("The interpolation walks between two test images, so it needs the data files "
                "(see the note at the top).")
        return
    ends_ui(page)
    i0, i1 = page.interpolation_ends()
    classes, labels = page.info.classes, page.test.labels
    st.image([big(page.test.images[i] / 255.0, 3) for i in (i0, i1)],
             caption=[f"start: test #{i0} ({classes[labels[i0]]})", f"end: test #{i1} ({classes[labels[i1]]})"],
             width=84, output_format="PNG")
    steps, method = state.get("interp_steps"), state.get("interp_method")
    t = np.linspace(0.0, 1.0, steps)
    geodesic = st.checkbox("Also the geodesic: the path along which the decoded image changes least (drawn dashed "
                           "on the maps)", key="geodesic")
    for s in page.live:
        _, frames = page.interpolation(s)
        st.markdown(f"**{s.title}**: {steps} steps, {METHODS[method]}")
        # One image per frame: the row wraps to the column's width instead of running off it.
        st.image([big(f, 2) for f in frames], caption=[f"t = {v:.2f}" for v in t], width=FRAME_PX,
                 output_format="PNG")
        strip_buttons(s, frames, keep.file_stem(s.entry.name, f"test{i0}-to-test{i1}", method, f"{steps}steps"),
                      "interp")
        if geodesic:
            draw_geodesic(page, s, i0, i1)


def draw_geodesic(page: Page, s, i0: int, i1: int) -> None:
    """The geodesic's strip and how much shorter it is than the straight line (in decoded-image distance)."""
    g = cache.geodesic(s.path, s.stamp, page.test, page.test_key, i0, i1, s.codes)
    ratio = g["length"] / g["line_length"] if g["line_length"] > 0 else float("nan")
    st.markdown(f"{s.side}, geodesic ({len(g['frames'])} points): the images travel **{g['length']:.1f}** "
                f"against **{g['line_length']:.1f}** along the straight line (ratio {ratio:.2f}, the shortest path "
                "found from several starts: the true geodesic can only be shorter; lengths are Σ‖f(zᵢ₊₁) − f(zᵢ)‖ "
                "of the decoded images, each segment measured in 16 pieces)")
    st.image([big(f, 2) for f in g["frames"]], width=FRAME_PX, output_format="PNG",
             caption=[f"s = {v:.2f}" for v in np.linspace(0, 1, len(g["frames"]))])
    strip_buttons(s, g["frames"], keep.file_stem(s.entry.name, f"test{i0}-to-test{i1}", "geodesic"), "geodesic")


def strip_buttons(s, frames: np.ndarray, stem: str, what: str) -> None:
    """The strip as one picture and as an animation (each built when its button is pressed)."""
    c1, c2, _ = st.columns([1, 1, 4])
    keep.button(c1, "strip (PNG)", lambda: keep.strip_png(frames), stem + ".png", keep.PNG,
                key=f"dl_{what}_png_{s.side}",
                help="The frames in one row")
    keep.button(c2, "animation (GIF)", lambda: keep.strip_gif(frames), stem + ".gif", keep.GIF,
                key=f"dl_{what}_gif_{s.side}", help="The frames as a looping animation, there and back")

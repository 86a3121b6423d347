"""The Interpolation tab: walk between two ends' codes (test images, or the drawing pinned on the map) and
decode each step, for every model."""
from __future__ import annotations

import numpy as np
import streamlit as st

from .. import keep, state
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
    drawn = page.drawing() is not None
    cols = st.columns(2)
    for col, end, word in ((cols[0], "a", "Start"), (cols[1], "b", "End")):
        with col:
            mine = drawn and col.checkbox(f"{word}: your pinned drawing", key=f"interp_{end}_drawing",
                                          help="The drawing pinned on the Latent space tab's drawing pad, "
                                               "encoded by each model")
            c1, c2 = st.columns([1, 1])
            cls = c1.selectbox(f"{word} class", range(len(classes)), key=f"interp_{end}_class",
                               format_func=lambda k: classes[k], disabled=mine)
            members = page.class_members(cls).tolist()
            c2.selectbox(f"{word} image", members, key=f"interp_{end}_index", disabled=mine,
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
    sources = page.interpolation_sources()
    st.image([end_picture(page, end) for end in sources],
             caption=[f"{word}: {end_words(page, end)}" for word, end in zip(("start", "end"), sources)],
             width=84, output_format="PNG")
    steps, method = state.get("interp_steps"), state.get("interp_method")
    t = np.linspace(0.0, 1.0, steps)
    geodesic = st.checkbox("Also the geodesic: the path along which the decoded image changes least (drawn dashed "
                           "on the maps)", key="geodesic")
    route = "-to-".join("drawing" if kind == "drawing" else f"test{key}" for kind, key in sources)
    for s in page.live:
        walked = page.interpolation(s)
        st.markdown(f"**{s.title}**: {steps} steps, {METHODS[method]}")
        if walked is None:
            st.caption("This model sees images of another size than the drawing: draw on its own pad.")
            continue
        # One image per frame: the row wraps to the column's width instead of running off it.
        st.image([big(f, 2) for f in walked[1]], caption=[f"t = {v:.2f}" for v in t], width=FRAME_PX,
                 output_format="PNG")
        strip_buttons(s, walked[1], keep.file_stem(s.entry.name, route, method, f"{steps}steps"), "interp")
        if geodesic:
            draw_geodesic(page, s, route)


def end_picture(page: Page, end: tuple) -> np.ndarray:
    """An end as shown above the strips: the test image, or the pinned drawing (channels last)."""
    kind, key = end
    if kind == "test":
        return big(page.test.images[key] / 255.0, 3)
    drawing = page.drawing()
    return big(drawing[0] if drawing.shape[0] == 1 else drawing.transpose(1, 2, 0), 3)


def end_words(page: Page, end: tuple) -> str:
    kind, key = end
    return "your pinned drawing" if kind == "drawing" else f"test #{key} ({page.info.classes[page.test.labels[key]]})"


def draw_geodesic(page: Page, s, route: str) -> None:
    """The geodesic's strip and how much shorter it is than the straight line (in decoded-image distance)."""
    g = page.geodesic(s)
    if g is None:
        return
    ratio = g["length"] / g["line_length"] if g["line_length"] > 0 else float("nan")
    st.markdown(f"{s.side}, geodesic ({len(g['frames'])} points): the images travel **{g['length']:.1f}** "
                f"against **{g['line_length']:.1f}** along the straight line (ratio {ratio:.2f}, the shortest path "
                "found from several starts: the true geodesic can only be shorter; lengths are Σ‖f(zᵢ₊₁) − f(zᵢ)‖ "
                "of the decoded images, each segment measured in 16 pieces)")
    st.image([big(f, 2) for f in g["frames"]], width=FRAME_PX, output_format="PNG",
             caption=[f"s = {v:.2f}" for v in np.linspace(0, 1, len(g["frames"]))])
    strip_buttons(s, g["frames"], keep.file_stem(s.entry.name, route, "geodesic"), "geodesic")


def strip_buttons(s, frames: np.ndarray, stem: str, what: str) -> None:
    """The strip as one picture and as an animation (each built when its button is pressed)."""
    c1, c2, _ = st.columns([1, 1, 4])
    keep.button(c1, "strip (PNG)", lambda: keep.strip_png(frames), stem + ".png", keep.PNG,
                key=f"dl_{what}_png_{s.side}",
                help="The frames in one row")
    keep.button(c2, "animation (GIF)", lambda: keep.strip_gif(frames), stem + ".gif", keep.GIF,
                key=f"dl_{what}_gif_{s.side}", help="The frames as a looping animation, there and back")

"""Draw your own input (issue 17 §1), in the real page: strokes drawn with the mouse on the pad are
encoded by every model in the browser, with no message to the server while drawing; "Use an image
file" reads a PNG as the model will; "Pin the drawing" goes to the server once and comes back as a
point on every map.
"""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch
from PIL import Image
from playwright.sync_api import expect

import vae_core as vc
from vae_core.analysis import geometry
from browser_steps import ARTIFACTS, MAP, SentFrames, click_tab, open_page, screenshot, wait_idle

pytestmark = pytest.mark.browser

TOL = 1e-4
MODELS = {"A": "mnist-vae", "B": "mnist-mmd"}  # what the test server shows first (tests/e2e/conftest.py)


def drawn_state(page) -> dict:
    """Per model: the drawing's code (mu, logvar), where its marker is, and its reconstruction's pixels."""
    return page.evaluate(f"""() => {{
        const m = {MAP}.instance, out = {{}};
        for (const [side, map] of m.maps) {{
            const code = m.drawnCode(side), c = m.drawTiles.get(side).canvas.canvas;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, grey = [];
            for (let i = 0; i < d.length; i += 16) grey.push(d[i]);
            out[side] = {{mu: code && Array.from(code.mu), logvar: code && code.logvar && Array.from(code.logvar),
                          px: map.drawnPx, recon: grey}};
        }}
        return out;
    }}""")


def pad_image(page) -> np.ndarray:
    return np.asarray(page.evaluate(f"Array.from({MAP}.instance.pad.values)"), np.float32).reshape(1, 28, 28)


def stroke(page, box, points) -> None:
    """One stroke with the mouse: down at the first point, through the others, up at the last."""
    at = lambda fx, fy: (box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)  # noqa: E731
    page.mouse.move(*at(*points[0]))
    page.mouse.down()
    for (ax, ay), (bx, by) in zip(points[:-1], points[1:]):
        for k in range(1, 7):
            page.mouse.move(*at(ax + (bx - ax) * k / 6, ay + (by - ay) * k / 6))
    page.mouse.up()


def torch_codes(x: np.ndarray) -> dict:
    out = {}
    for side, name in MODELS.items():
        model = vc.load_bundle(vc.PRETRAINED_DIR / name, with_latents=False).model.eval()
        with torch.no_grad():
            post = model.encode(torch.as_tensor(x[None]))
        out[side] = (post.mu[0].numpy(), None if post.logvar is None else post.logvar[0].numpy())
    return out


def assert_codes_match(state: dict, x: np.ndarray) -> None:
    for side, (mu, logvar) in torch_codes(x).items():
        np.testing.assert_allclose(state[side]["mu"], mu, rtol=0, atol=TOL)
        if logvar is None:
            assert state[side]["logvar"] is None
        else:
            np.testing.assert_allclose(state[side]["logvar"], logvar, rtol=0, atol=TOL)


def test_drawing_is_encoded_by_every_model_in_the_browser(streamlit_server, page):
    sent = SentFrames(page)  # before the page opens its websocket
    open_page(page, streamlit_server)
    pad = page.get_by_role("img", name="Drawing pad")
    pad.scroll_into_view_if_needed()
    expect(pad).to_be_visible()
    page.wait_for_function(f"{MAP}.instance.pad && {MAP}.instance.drawTiles.size === 2")
    assert drawn_state(page)["A"]["mu"] is None  # nothing drawn yet: no marker
    assert sent.count > 0  # the page's own messages are counted
    before = sent.count
    box = pad.bounding_box()

    # A "7": a bar and a diagonal, as two strokes.
    stroke(page, box, [(0.25, 0.22), (0.75, 0.22)])
    page.wait_for_function(f"{MAP}.instance.drawnCode('A') && {MAP}.instance.drawnCode('B')")
    first = drawn_state(page)
    stroke(page, box, [(0.75, 0.22), (0.45, 0.8)])
    second = drawn_state(page)
    assert sent.count == before, f"drawing sent {sent.count - before} messages to the server"
    for side in MODELS:
        assert first[side]["px"] is not None and second[side]["px"] is not None, side
        assert np.hypot(*np.subtract(first[side]["px"], second[side]["px"])) > 0.5, f"{side}'s marker did not move"
        assert first[side]["recon"] != second[side]["recon"], f"{side}'s reconstruction did not change"
    assert second["A"]["logvar"] is not None and second["B"]["logvar"] is None  # a VAE and an MMD-VAE
    x = pad_image(page)
    assert 20 < (x > 0.5).sum() < 300 and x.max() == 1.0  # the strokes, as ink
    assert_codes_match(second, x)  # the browser's codes are torch's for the same pixels
    # A's q(z|x) 1σ and 2σ ellipses on its map are vae_core's (B is deterministic: none).
    ellipses = page.evaluate(f"[...{MAP}.instance.maps.values()].map(m => m.drawnEllipses)")
    assert len(ellipses[0]) == 2 and ellipses[1] == []
    for k, drawn in zip((1, 2), ellipses[0]):
        want = geometry.posterior_ellipse(second["A"]["mu"], second["A"]["logvar"], n_sigma=k, points=len(drawn))
        np.testing.assert_allclose(drawn, want, rtol=0, atol=1e-4)
    frames = page.evaluate(f"{MAP}.frames.filter(f => f.reason === 'draw').length")
    assert frames >= 2 * 6 + 2, frames  # a redraw per pointer down and move (6 a segment), not per stroke
    page.get_by_text("Draw your own input").scroll_into_view_if_needed()
    screenshot(page, "draw-strokes", full_page=False)
    page.locator(".vlm-draw").screenshot(path=str(ARTIFACTS / "draw-pad.png"))

    # The eraser takes ink away: fewer lit pixels, codes still torch's.
    page.get_by_role("button", name="Eraser").click()
    stroke(page, pad.bounding_box(), [(0.2, 0.22), (0.8, 0.22)])  # the click may have scrolled the page
    page.get_by_role("button", name="Eraser").click()
    erased = pad_image(page)
    assert (erased > 0.5).sum() < (x > 0.5).sum()
    assert_codes_match(drawn_state(page), erased)
    assert sent.count == before

    # "Pin the drawing": one message, and the page sends back each model's code of it (torch's).
    page.get_by_role("button", name="Pin the drawing").click()
    page.wait_for_function(f"{MAP}.instance.data.pinnedDrawing && "
                           f"Object.keys({MAP}.instance.data.pinnedDrawing.codes).length === 2")
    assert sent.count > before
    pinned = page.evaluate(f"{MAP}.instance.data.pinnedDrawing.codes")
    now = drawn_state(page)
    for side in MODELS:
        np.testing.assert_allclose(pinned[side], now[side]["mu"], rtol=0, atol=TOL)

    # A shift-click on the pinned drawing (◇) makes it the interpolation's end on the maps: each model's
    # path runs from the page's end (test #b) to the drawing's code, decoded in the browser, no message.
    over = page.locator("canvas.vlm-over").first
    over.scroll_into_view_if_needed()
    mbox, px = over.bounding_box(), page.evaluate(f"{MAP}.instance.maps.get('A').pinnedDrawingPx")
    asked = sent.count
    page.keyboard.down("Shift")
    page.mouse.click(mbox["x"] + px[0], mbox["y"] + px[1])
    page.keyboard.up("Shift")
    page.wait_for_function(f"{MAP}.instance.drawingEnd && {MAP}.instance.drawPathFrames.size === 2")
    assert sent.count == asked
    for side, name in MODELS.items():
        path, start, last = page.evaluate(f"""side => {{
            const m = {MAP}.instance, f = m.drawPathFrames.get(side), c = f.frames[f.frames.length - 1].canvas;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, grey = [];
            for (let i = 0; i < d.length; i += 4) grey.push(d[i]);
            const model = m.data.models.find(x => x.side === side);
            return [f.path.map(z => Array.from(z)), model.path[model.path.length - 1], grey];
        }}""", side)
        np.testing.assert_allclose(path[0], start, rtol=0, atol=1e-6)
        np.testing.assert_allclose(path[-1], pinned[side], rtol=0, atol=1e-6)
        want = vc.decode(vc.load_bundle(vc.PRETRAINED_DIR / name, with_latents=False).model,
                         np.asarray([pinned[side]], np.float32))[0]
        np.testing.assert_allclose(np.asarray(last, float).reshape(56, 56)[::2, ::2], want * 255, atol=1.0)
    page.locator(".vlm-draw-path").screenshot(path=str(ARTIFACTS / "draw-path.png"))
    page.locator(".vlm-maps").screenshot(path=str(ARTIFACTS / "draw-maps.png"))

    # Clear: no drawing, no marker (the pinned one stays).
    page.get_by_role("button", name="Clear").click()
    page.wait_for_function(f"!{MAP}.instance.drawnCode('A')")
    assert pad_image(page).max() == 0
    assert page.evaluate(f"!!{MAP}.instance.pinnedDrawingCode('A')")

    # The Interpolation tab takes the pinned drawing as its start: every model's strip walks from its code
    # of the drawing, and back on the maps the path starts there.
    click_tab(page, "Interpolation")
    page.get_by_text("Start: your pinned drawing", exact=True).click()
    wait_idle(page)
    expect(page.get_by_text("start: your pinned drawing", exact=True)).to_be_visible()
    screenshot(page, "draw-interpolation", full_page=False)
    click_tab(page, "Latent space")
    page.wait_for_function(f"""pinned => {{
        const m = {MAP} && {MAP}.instance;  // the map mounted again for this tab, with the page's new path
        return !!m && m.data.models.length === 2 && m.data.models.every(x => x.path &&
            Math.hypot(x.path[0][0] - pinned[x.side][0], x.path[0][1] - pinned[x.side][1]) < {TOL});
    }}""", arg=pinned)
    expect(page.get_by_text("the Interpolation tab's path, your drawing ◇ → test #", exact=False)).to_be_visible()
    assert not page.page_errors


def test_a_drawing_is_encoded_again_by_a_model_chosen_after_it(streamlit_server, page):
    """Draw, then put another model on side B: the drawing stays, and B's code of it is the new model's
    (torch's for the same pixels), not the old one's; back to the first model, its code again."""
    open_page(page, streamlit_server)
    pad = page.get_by_role("img", name="Drawing pad")
    pad.scroll_into_view_if_needed()
    page.wait_for_function(f"{MAP}.instance.pad && {MAP}.instance.drawTiles.size === 2")
    stroke(page, pad.bounding_box(), [(0.5, 0.15), (0.5, 0.85)])  # a "1"
    page.wait_for_function(f"{MAP}.instance.drawnCode('B')")
    x = pad_image(page)
    assert drawn_state(page)["B"]["logvar"] is None  # mnist-mmd: a deterministic encoder
    page.get_by_role("combobox", name="Model B").click()
    page.get_by_role("option", name=re.compile(r"^mnist-vae · ")).click()
    wait_idle(page)
    # mnist-vae on both sides now: B's code has a log-variance, and it is A's, the same model's.
    page.wait_for_function(f"{MAP}.instance.drawnCode('B') && {MAP}.instance.drawnCode('B').logvar")
    assert np.array_equal(pad_image(page), x)  # the drawing itself is kept
    state = drawn_state(page)
    want_mu, want_logvar = torch_codes(x)["A"]
    for side in ("A", "B"):
        np.testing.assert_allclose(state[side]["mu"], want_mu, rtol=0, atol=TOL)
        np.testing.assert_allclose(state[side]["logvar"], want_logvar, rtol=0, atol=TOL)
    page.get_by_role("combobox", name="Model B").click()
    page.get_by_role("option", name=re.compile(r"^mnist-mmd · ")).click()
    wait_idle(page)
    page.wait_for_function(f"{MAP}.instance.drawnCode('B') && !{MAP}.instance.drawnCode('B').logvar")
    assert_codes_match(drawn_state(page), x)
    assert not page.page_errors


def test_an_image_file_is_read_as_the_model_reads_it(streamlit_server, page, mnist_test, tmp_path):
    """A test image saved as a 112x112 PNG (4x, nearest) comes back on the pad as the 28x28 image
    (to 1/255: the PNG's bytes), and every model encodes it as torch does."""
    open_page(page, streamlit_server)
    page.wait_for_function(f"{MAP}.instance.pad")
    original = mnist_test.images[0].numpy().reshape(28, 28)
    png = tmp_path / "digit.png"
    buffer = io.BytesIO()
    Image.fromarray(np.kron(original, np.ones((4, 4), np.uint8))).save(buffer, format="PNG")
    png.write_bytes(buffer.getvalue())
    encodes = page.evaluate(f"{MAP}.encodes || 0")
    page.get_by_label("Use an image file").set_input_files(str(png))
    page.wait_for_function(f"({MAP}.encodes || 0) > {encodes} && {MAP}.instance.drawnCode('A')")
    x = pad_image(page)
    assert np.abs(x[0] * 255 - original).max() <= 1.0
    assert_codes_match(drawn_state(page), x)
    assert not page.page_errors

"""The page in a real browser: `streamlit run` + headless Chromium (Playwright).

What AppTest cannot see: the latent map decodes under the pointer and while a slider is dragged,
in the browser, without a message to the server; its images equal vae_core's; the ★ follows the
sliders; a click pins a test image; the page falls back to the server when the browser cannot
decode; and a person's own order of clicks (switch, come back, reload during a training, a d = 8
model) leaves no error. Screenshots land in tests/artifacts/ (git-ignored).
"""
from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

import vae_core as vc  # noqa: E402
from browser_steps import (MAP, SentFrames, choose_option, click_tab, fill, map_box, open_page,  # noqa: E402
                           screenshot, tile_pixels, wait_idle)

pytestmark = pytest.mark.browser


def test_the_latent_map_decodes_in_the_browser(streamlit_server, page):
    sent = SentFrames(page)
    open_page(page, streamlit_server)
    expect(page.get_by_role("heading", name="VAE Explorer · MNIST")).to_be_visible()
    assert page.evaluate(f"{MAP}.mode") == "browser"
    expect(page.locator("canvas.vlm-over")).to_have_count(2)
    expect(page.locator(".vlm-legend-item")).to_have_count(10)
    expect(page.locator(".vlm-grid-image")).to_have_count(2)

    # A hover sweep over map A: both models decode every point, and nothing goes to the server.
    box = map_box(page, 0)
    before = {s: tile_pixels(page, s) for s in "AB"}
    decodes, frames = page.evaluate(f"{MAP}.decodes"), sent.count
    for k in range(40):
        page.mouse.move(box["x"] + box["width"] * (0.2 + 0.6 * k / 39), box["y"] + box["height"] * (0.3 + 0.01 * k))
    assert sent.count == frames, "hovering sent messages to the server"
    assert page.evaluate(f"{MAP}.decodes") - decodes >= 2 * 40
    after = {s: tile_pixels(page, s) for s in "AB"}
    assert before["A"] != after["A"] and before["B"] != after["B"]
    assert page.evaluate(f"{MAP}.instance.hoverPointFor({MAP}.instance.maps.get('B'))") is not None  # crosshair on B

    # What the browser drew equals vae_core's decode of the same z (to the canvas's 8 bits).
    z = page.evaluate(f"Array.from({MAP}.instance.hover.z)")
    for side, name in (("A", "mnist-vae"), ("B", "mnist-mmd")):
        expected = vc.decode(vc.load_bundle(vc.PRETRAINED_DIR / name).model, np.asarray(z, np.float32))[0]
        drawn = np.asarray(tile_pixels(page, side), np.float64).reshape(112, 112)[::4, ::4]
        assert np.abs(drawn - expected * 255).max() <= 1.0, side

    # Dragging a slider: many decoded images before the release, one message at the release.
    page.mouse.move(5, 5)
    slider = page.get_by_role("slider", name="z1")
    sbox = slider.bounding_box()
    y = sbox["y"] + sbox["height"] / 2
    page.evaluate(f"{MAP}.frames.length = 0")
    frames = sent.count
    page.mouse.move(sbox["x"] + sbox["width"] / 2, y)
    page.mouse.down()
    for k in range(30):
        page.mouse.move(sbox["x"] + sbox["width"] * (0.5 + 0.4 * (k + 1) / 30), y)
    assert sent.count == frames, "dragging sent messages before the release"
    drawn = page.evaluate(f"{MAP}.frames.filter(f => f.reason === 'slider').length")
    assert drawn >= 20, drawn
    star_during = page.evaluate(f"{MAP}.instance.maps.get('A').starPx")
    page.mouse.up()
    page.wait_for_timeout(500)
    assert sent.count > frames  # the release tells the server
    wait_idle(page)
    # The ★ is where the sliders are, on both maps, also after the server's rerun.
    for side in "AB":
        star, expected = page.evaluate(f"""side => {{
            const inst = {MAP}.instance, map = inst.maps.get(side);
            return [map.starPx, map.toPx(...map.project(inst.sliderPoint(side)))];
        }}""", side)
        assert star == pytest.approx(expected, abs=0.5)
    assert page.evaluate(f"{MAP}.instance.sliderPoint('A')[0]") > 0.5
    assert star_during == pytest.approx(page.evaluate(f"{MAP}.instance.maps.get('A').starPx"), abs=0.5)

    # A click on a point pins it: its test image and both reconstructions, and one message.
    frames = sent.count
    index = page.evaluate(f"{MAP}.instance.maps.get('A').nearest({box['width'] / 2}, {box['height'] / 2}, 40)")
    assert index >= 0
    px = page.evaluate(f"{MAP}.instance.maps.get('A').toPx(...Array.from({MAP}.instance.maps.get('A').points.slice(2 * {index}, 2 * {index} + 2)))")
    page.mouse.click(box["x"] + px[0], box["y"] + px[1])
    expect(page.locator(".vlm-pin .vlm-panel-heading")).to_have_text(f"Pinned: test #{index}")
    assert sent.count == frames + 1
    wait_idle(page)
    page.mouse.move(5, 5)
    screenshot(page, "latent-map")
    assert not page.page_errors, page.page_errors


def test_the_server_decodes_when_the_browser_cannot(streamlit_server, page):
    """The decoder's files cannot be fetched: the map says so once, and the sliders' point is
    decoded on the server when a slider is released."""
    page.route(re.compile(r".*/app/static/cache/.*\.json$"), lambda route: route.abort())
    open_page(page, streamlit_server)
    page.wait_for_function(f"{MAP}.mode === 'server'")
    expect(page.locator(".vlm-notice")).to_contain_text("Decoding in the browser is off")
    wait_idle(page)
    # The server's picture of the sliders' point reaches the panel.
    page.wait_for_function(f"""() => {{
        const d = {MAP}.instance.data;
        return d.serverImages && d.serverImages.A && d.serverImages.B;
    }}""")
    page.wait_for_timeout(500)
    assert max(tile_pixels(page, "A")) > 0
    assert not page.page_errors, page.page_errors


def test_a_person_s_walk_through_the_page(streamlit_server, page, e2e_models_dir):
    """Choose, switch, come back, click everything, reload during a training and cancel it from the
    reloaded page, open a d = 8 model: no error box, no JavaScript error, state that follows."""
    open_page(page, streamlit_server)
    # The order that used to crash the page.
    click_tab(page, "Interpolation")
    choose_option(page, "Start class", "7")
    choose_option(page, "Dataset", "Fashion-MNIST")
    expect(page.get_by_role("heading", name="VAE Explorer · Fashion-MNIST")).to_be_visible()
    click_tab(page, "Samples")
    page.get_by_role("button", name="New samples").click()
    wait_idle(page)
    page.get_by_role("button", name="New test images").click()
    wait_idle(page)
    click_tab(page, "Interpolation")
    expect(page.get_by_role("combobox", name="Start class")).to_have_value(re.compile(r"T-shirt/top"))
    page.get_by_role("button", name="Random pair").click()
    wait_idle(page)
    # Back to MNIST: pick a point and two interpolation ends on the map.
    choose_option(page, "Dataset", "MNIST")
    click_tab(page, "Latent space")
    page.wait_for_function(f"{MAP} && [...{MAP}.instance.maps.values()].every(m => m.points && m.model.title.includes('mnist'))")
    box = map_box(page, 0)
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.wait_for_function(f"{MAP}.instance.data.picked !== null")
    wait_idle(page)
    ends = []
    for fx in (0.35, 0.65):
        before = page.evaluate(f"{MAP}.instance.data.ends[1]")
        index = page.evaluate(f"{MAP}.instance.maps.get('A').nearest({box['width'] * fx}, {box['height'] * 0.5}, 60)")
        px = page.evaluate(f"{MAP}.instance.maps.get('A').toPx(...Array.from({MAP}.instance.maps.get('A').points.slice(2 * {index}, 2 * {index} + 2)))")
        page.keyboard.down("Shift")
        page.mouse.click(box["x"] + px[0], box["y"] + px[1])
        page.keyboard.up("Shift")
        # The page's rerun sends the new end back to the map (the clicked point, or one drawn on it).
        page.wait_for_function(f"{MAP}.instance.data.ends[1] !== {before}")
        wait_idle(page)
        ends.append(page.evaluate(f"{MAP}.instance.data.ends[1]"))
    click_tab(page, "Interpolation")
    expect(page.get_by_text(f"start: test #{ends[0]}", exact=False)).to_be_visible()
    expect(page.get_by_text(f"end: test #{ends[1]}", exact=False)).to_be_visible()

    # A training that is still running when the page is reloaded is found again and cancelled.
    click_tab(page, "Train")
    fill(page, "Epochs", "50")
    fill(page, "Batch size", "16")
    fill(page, "Tag (the new model's name)", "walk-long")
    page.get_by_text("Advanced").click()
    fill(page, "Training images (0: all)", "2000")
    fill(page, "Test images scored per epoch", "100")
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_test_id("stProgress").first).to_be_visible(timeout=30_000)
    page.reload()
    wait_idle(page, 90_000)
    click_tab(page, "Train")
    expect(page.get_by_test_id("stProgress").first).to_contain_text("walk-long")
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.get_by_text("nothing was saved")).to_be_visible(timeout=30_000)
    assert not (e2e_models_dir / "walk-long").exists()

    # A short training to its end, then "Open as model B": the sidebar shows it at once (the button
    # sits in the progress fragment, whose own rerun used to leave the sidebar's old choice in place).
    fill(page, "Epochs", "1")
    fill(page, "Batch size", "64")
    page.get_by_text("Advanced").click()  # closed again: the reload began a new session
    fill(page, "Training images (0: all)", "256")
    fill(page, "Tag (the new model's name)", "walk-short")
    page.get_by_text("When done, evaluate it", exact=False).click()  # on by default; a minute we skip
    wait_idle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("saved as 'walk-short'", exact=False)).to_be_visible(timeout=120_000)
    page.get_by_role("button", name="Open as model B").click()
    wait_idle(page)
    expect(page.get_by_role("combobox", name="Model B")).to_have_value(re.compile(r"^walk-short · standard VAE"))
    # Its layers were kept when it was saved: the first look at one is a file read, drawn under both maps.
    assert (e2e_models_dir / "walk-short" / "layers.npz").exists()
    click_tab(page, "Latent space")
    page.get_by_text("stretch", exact=True).click()
    wait_idle(page)
    page.wait_for_function(f"{MAP} && ['A', 'B'].every(s => {MAP}.instance.maps.get(s) && "
                           f"{MAP}.instance.maps.get(s).layer && {MAP}.instance.maps.get(s).layer.image)")
    # ... and the decoded panel drawn by the new model's decoder, in the browser (not left black).
    page.wait_for_function(f"""() => {{
        const m = {MAP}.instance, b = m.data.models.find(x => x.side === 'B'), d = m.decoders.get('B');
        if (!d || !d.decoder || d.key !== b.key || !m.tiles.get('A')) return false;
        const c = m.tiles.get('A').canvas.canvas, px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < px.length; i += 4) if (px[i] > 128) return true;  // mnist-vae's digit at the origin
        return false;
    }}""")
    screenshot(page, "walk-trained-layer", full_page=False)
    page.get_by_text("codes only", exact=True).click()
    wait_idle(page)

    # A d = 8 model: the map is its principal plane, with a slider per dimension.
    page.get_by_role("combobox", name="Model B").click()
    page.get_by_role("option", name=re.compile(r"^tiny-d8 · MMD-VAE")).click()
    wait_idle(page)
    expect(page.get_by_role("combobox", name="Model B")).to_have_value(re.compile(r"^tiny-d8 · MMD-VAE"))
    click_tab(page, "Latent space")
    try:
        page.wait_for_function(f"{MAP} && {MAP}.instance.maps.get('B') && {MAP}.instance.maps.get('B').points && "
                               f"{MAP}.instance.maps.get('B').model.plane.mean.length === 8")
    except Exception:
        screenshot(page, "walk-d8-not-drawn")
        seen = page.evaluate(f"(() => {{ const m = {MAP} && {MAP}.instance; if (!m) return 'no map'; "
                             f"return [...m.maps.entries()].map(([k, v]) => [k, v.model && v.model.title, "
                             f"v.model && v.model.plane && v.model.plane.mean && v.model.plane.mean.length, "
                             f"!!v.points]); }})()")
        raise AssertionError(f"model B's d = 8 map was not drawn; the maps: {seen}")
    assert re.match(r"PC1 \(\d+% of the variance\)", page.evaluate(f"{MAP}.instance.maps.get('B').model.axisNames[0]"))
    expect(page.get_by_role("slider", name=re.compile(r"^B: z\d$"))).to_have_count(8)
    box = map_box(page, 1)
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.4)
    assert len(page.evaluate(f"Array.from({MAP}.instance.hover.z)")) == 8
    page.mouse.move(5, 5)
    screenshot(page, "walk-d8")
    assert page.get_by_test_id("stException").count() == 0
    assert not page.page_errors, page.page_errors

"""The page in a real browser: `streamlit run` + headless Chromium (Playwright).

What AppTest cannot see: the WebGL scatter and the images actually render, a keyboard
slider move redraws the decoded point (and only it), a click on the scatter picks a
test image. The screenshot lands in tests/artifacts/ and is copied to docs/ for the README.
"""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
pytestmark = pytest.mark.browser



def loaded_width(page, img) -> int:
    """The decoded width of an <img>, once the browser has finished loading it (not before)."""
    handle = img.element_handle()
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=handle)
    return handle.evaluate("i => i.naturalWidth")

def wait_idle(page, timeout: float = 30_000) -> None:
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning",
                                                           timeout=timeout)


def image(page, caption: str):
    """The <img> of the st.image whose caption starts with `caption`."""
    return page.get_by_test_id("stImageContainer").filter(
        has=page.get_by_test_id("stImageCaption").filter(has_text=re.compile("^" + re.escape(caption)))
    ).locator("img")


def test_page_in_browser(streamlit_server, page):
    t0 = time.monotonic()
    page.goto(streamlit_server)
    wait_idle(page, 90_000)  # the first run reads the test set and loads the models
    expect(page.get_by_role("heading", name="VAE Explorer · MNIST")).to_be_visible()

    # Two WebGL scatters with the ten classes in their legends.
    plots = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot')
    expect(plots.first).to_be_visible()
    expect(plots).to_have_count(2)
    for i in range(2):
        expect(plots.nth(i).locator("canvas").first).to_be_attached()
        expect(plots.nth(i).locator(".legendtext")).to_contain_text([str(d) for d in range(10)])

    # Both 20×20 grids decoded into 560-pixel PNGs.
    for side in "AB":
        grid = image(page, f"{side}: 20×20 manifold")
        expect(grid).to_be_visible()
        expect(grid).to_have_attribute("src", re.compile(r"/media/.+\.png$"))
        assert loaded_width(page, grid) == 560

    # A keyboard step on z1 changes both decoded images; the grids are not sent again.
    decoded = image(page, "A: z = ")
    before = decoded.get_attribute("src")
    grid_before = image(page, "A: 20×20 manifold").get_attribute("src")
    thumb = page.get_by_test_id("stSlider").get_by_role("slider", name="z1")
    thumb.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(decoded).not_to_have_attribute("src", before)
    expect(page.get_by_test_id("stImageCaption").filter(has_text=re.compile(r"^A: z = \(0\.0?[1-9]|^A: z = \(0\.[1-9]"))).to_be_visible()
    wait_idle(page)
    assert image(page, "A: 20×20 manifold").get_attribute("src") == grid_before
    assert loaded_width(page, decoded) == 140

    # A click on a scatter point shows that test image with both reconstructions.
    plots.first.scroll_into_view_if_needed()  # the slider's focus scrolled the page down
    xy = plots.first.evaluate("""gd => {
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, t = gd._fullData[1];
        const r = gd.getBoundingClientRect();
        return [r.left + xa._offset + xa.l2p(t.x[0]), r.top + ya._offset + ya.l2p(t.y[0])];
    }""")
    page.mouse.click(*xy)
    expect(page.get_by_test_id("stImageCaption").filter(has_text=re.compile(r"^test #\d+: \d"))).to_be_visible()
    expect(page.get_by_test_id("stImageCaption").filter(has_text="model B")).to_be_visible()
    wait_idle(page)

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "explorer.png"
    page.mouse.move(5, 5)  # no hover label in the picture
    page.set_viewport_size({"width": 1400, "height": 2100})  # Streamlit scrolls inside: grow the window
    wait_idle(page)
    page.wait_for_timeout(1500)  # plotly redraws after the resize
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    (ROOT / "docs").mkdir(exist_ok=True)
    shutil.copyfile(shot, ROOT / "docs" / "screenshot.png")
    assert not page.page_errors, page.page_errors
    print(f"\n[browser part took {time.monotonic() - t0:.1f} s]")


def test_training_runs_in_the_background(streamlit_server, page):
    """The progress fragment redraws by itself (no clicks) until the model is saved and listed."""
    page.goto(streamlit_server)
    wait_idle(page, 90_000)
    page.get_by_role("tab", name="Train a model").click()
    form = page.get_by_test_id("stForm")
    form.get_by_label("Epochs").fill("1")
    form.get_by_label("Batch size").fill("64")
    form.get_by_label("Tag (the new model's name)").fill("from-browser")
    form.get_by_test_id("stExpander").get_by_text("Advanced").click()
    form.get_by_label("Training images (0: all)").fill("256")
    form.get_by_label("Test images scored per epoch").fill("200")
    form.get_by_role("button", name="Train").click()
    expect(page.get_by_test_id("stProgress").first).to_be_visible()
    expect(page.get_by_text("saved as 'from-browser'")).to_be_visible(timeout=60_000)
    page.get_by_role("combobox", name="Model B").click()
    expect(page.get_by_role("option", name=re.compile(r"^from-browser · VAE"))).to_be_visible()
    assert not page.page_errors, page.page_errors

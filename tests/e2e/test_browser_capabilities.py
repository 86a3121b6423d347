"""Issue 17 §2–4 in a real browser, in a person's order: start a training and watch its latent map
change between two progress reports (through a tab switch and a reload), keep it and replay how its
space formed with the epoch scrubber; download the pictures, the animations and a model folder and
open each file. The logic is tested headless in tests/test_capabilities.py and tests/test_keep.py.
"""
from __future__ import annotations

import re
import zipfile

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402
from PIL import Image  # noqa: E402

import vae_core as vc  # noqa: E402
from vae_core.analysis.formation import read_formation  # noqa: E402
from browser_steps import click_tab, choose_option, fill, open_page, screenshot, wait_idle  # noqa: E402

pytestmark = pytest.mark.browser
CODES_PLOT = "[...document.querySelectorAll('[data-testid=stPlotlyChart] .js-plotly-plot')]"


def codes_plot(page, title_has: str) -> dict:
    """The plotly figure whose title holds `title_has`: its title and every point's (x, y)."""
    return page.evaluate(f"""t => {{
        const gd = {CODES_PLOT}.find(g => g.layout && g.layout.title && String(g.layout.title.text).includes(t));
        if (!gd) return null;
        const xy = gd._fullData.flatMap(d => Array.from(d.x).map((x, i) => [x, d.y[i]]));
        return {{title: gd.layout.title.text, xy}};
    }}""", title_has)


def wait_new_codes(page, title_has: str, old_title: str | None) -> dict:
    """Wait until the figure shows a report other than `old_title` (or any report), then read it."""
    page.wait_for_function(f"""([t, old]) => {CODES_PLOT}.some(g => g.layout && g.layout.title &&
        String(g.layout.title.text).includes(t) && g.layout.title.text !== old)""", arg=[title_has, old_title],
                           timeout=60_000)
    return codes_plot(page, title_has)


def tall_screenshot(page, name: str) -> None:
    """The whole tab in one picture (Streamlit scrolls inside its own container, so a full-page
    screenshot shows only the window): a tall window for the moment of the screenshot."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 2600})
    screenshot(page, name, full_page=False)
    page.set_viewport_size(size)


def download(page, button_name: str, tmp_path, nth: int = 0, *, key: str | None = None):
    """Press a download button as a person does (the `nth` of that name, or the one of widget `key`); the
    file as the browser saved it."""
    button = page.get_by_role("button", name=re.compile(re.escape(button_name)))
    button = page.locator(f".st-key-{key}").get_by_role("button") if key else button.nth(nth)
    with page.expect_download() as info:
        button.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    return path


def test_watch_the_space_form_then_scrub_its_epochs(streamlit_server, e2e_models_dir, page):
    open_page(page, streamlit_server)
    expect(page.get_by_role("slider", name=re.compile(r"^[AB]: epoch$"))).to_have_count(0)  # shipped: none kept
    click_tab(page, "Train")
    fill(page, "Epochs", "300")
    fill(page, "Batch size", "32")
    fill(page, "Tag (the new model's name)", "watch-form")
    page.get_by_text("Advanced").click()
    fill(page, "MLP layer widths", "64")  # small and quick: the test watches the map, not the model
    fill(page, "Training images (0: all)", "512")
    fill(page, "Test images scored per epoch", "100")
    page.get_by_text("When done, evaluate it", exact=False).click()
    wait_idle(page)
    page.get_by_role("button", name="Train", exact=True).click()

    # Two reports apart, the map beside the loss curve shows new codes of the same 2,000 test images.
    first = wait_new_codes(page, "test images' codes", None)
    second = wait_new_codes(page, "test images' codes", first["title"])
    assert len(first["xy"]) == len(second["xy"]) == 2000
    assert max(abs(a - b) for p, q in zip(first["xy"], second["xy"]) for a, b in zip(p, q)) > 1e-4
    expect(page.locator("[data-testid=stPlotlyChart]")).to_have_count(2)  # the loss curve beside it
    tall_screenshot(page, "capabilities-live-codes")

    # Away to another tab and back, then a reload: the training is found again and the map goes on.
    click_tab(page, "Latent space")
    click_tab(page, "Train")
    expect(page.locator("[data-testid=stPlotlyChart]")).to_have_count(2)
    page.reload()
    wait_idle(page, 90_000)
    click_tab(page, "Train")
    expect(page.get_by_text("test images' codes at step", exact=False)).to_be_visible()  # found again

    page.get_by_role("button", name="Cancel and keep the weights").click()
    expect(page.get_by_text("saved as 'watch-form'", exact=False)).to_be_visible(timeout=60_000)
    kept = read_formation(e2e_models_dir / "watch-form")
    assert kept["epochs"][0] == 0.0 and len(kept["epochs"]) >= 2
    page.get_by_role("button", name="Open as model B").click()
    expect(page.get_by_role("combobox", name="Model B")).to_have_value(re.compile(r"^watch-form · "))
    wait_idle(page)
    click_tab(page, "Latent space")

    # The scrubber starts at the last kept epoch; Home goes back to before training, then one epoch on.
    scrub = page.get_by_role("slider", name="B: epoch")
    expect(scrub).to_have_count(1, timeout=60_000)  # the new model's map is built first
    last = f"{kept['epochs'][-1]:g}"
    expect(page.get_by_text(f"B: 2,000 test codes after epoch {last}")).to_be_visible()
    scrub.focus()
    page.keyboard.press("Home")
    expect(page.get_by_text("B: 2,000 test codes before training")).to_be_visible()
    before = codes_plot(page, "B: 2,000 test codes")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_text("B: 2,000 test codes after epoch 1", exact=True)).to_be_visible()
    after = codes_plot(page, "B: 2,000 test codes")
    assert max(abs(a - b) for p, q in zip(before["xy"], after["xy"]) for a, b in zip(p, q)) > 1e-3
    screenshot(page, "capabilities-scrubber")
    assert page.get_by_test_id("stException").count() == 0
    assert not page.page_errors, page.page_errors


def test_download_the_pictures_and_a_model_and_open_them(streamlit_server, e2e_models_dir, page, tmp_path):
    open_page(page, streamlit_server)
    choose_option(page, "Model A", next(o for o in model_options(page, "Model A") if o.startswith("tiny-vae")))
    choose_option(page, "Model B", next(o for o in model_options(page, "Model B") if o.startswith("tiny-d8")))
    page.get_by_text("Take it with you", exact=False).click()

    png = Image.open(download(page, "map (PNG)", tmp_path))
    assert png.format == "PNG" and png.size[0] > 640
    grid = Image.open(download(page, "grid (PNG)", tmp_path))
    assert grid.format == "PNG" and grid.size[0] == grid.size[1] >= 20 * 28
    gif = Image.open(download(page, "formation (GIF)", tmp_path))
    assert gif.format == "GIF" and gif.n_frames == 2  # tiny-vae: before training and after its one epoch
    expect(page.get_by_role("button", name=re.compile("formation"))).to_have_count(1)  # tiny-d8 kept none

    # d = 8: the traversal grid is drawn (one row per dimension) and can be taken away.
    traversal = page.get_by_test_id("stImage").filter(has_text="dimensions active").locator("img")
    expect(traversal).to_have_count(1)
    assert traversal.evaluate("i => i.complete && i.naturalHeight") >= 8 * 28
    trav = Image.open(download(page, "traversals (PNG)", tmp_path))
    assert trav.size[1] >= 8 * 56
    tall_screenshot(page, "capabilities-latent-downloads")

    # Another tab, then a reload: the strip's files, and the model folder, still come.
    click_tab(page, "Interpolation")
    strip = Image.open(download(page, "strip (PNG)", tmp_path))
    assert strip.format == "PNG" and strip.size[1] == 56
    animation = Image.open(download(page, "animation (GIF)", tmp_path))
    assert animation.format == "GIF" and animation.n_frames >= 4
    # The geodesic's strip: under model A's straight strip, its own download, named for the geodesic.
    page.get_by_text("Also the geodesic", exact=False).click()
    wait_idle(page, 90_000)
    expect(page.get_by_text("the images travel", exact=False).first).to_be_visible(timeout=60_000)
    # The caption arrives before the strip and its button (the rerun's elements stream in, and B's geodesic
    # may follow): wait for A's geodesic button itself, and press that one.
    expect(page.locator(".st-key-dl_geodesic_png_A").get_by_role("button")).to_be_visible(timeout=60_000)
    wait_idle(page, 90_000)
    saved = download(page, "strip (PNG)", tmp_path, key="dl_geodesic_png_A")
    geodesic = Image.open(saved)
    assert "geodesic" in saved.name and geodesic.format == "PNG" and geodesic.size[1] == 56
    assert geodesic.size[0] > strip.size[0]  # more frames (the geodesic's points) than the straight strip's 10
    page.reload()
    wait_idle(page, 90_000)
    click_tab(page, "Latent space")
    page.get_by_text("Take it with you", exact=False).click()
    folder = download(page, "folder (.zip)", tmp_path)  # model A's, whichever the reloaded page shows
    with zipfile.ZipFile(folder) as z:
        z.extractall(tmp_path / "unzipped")
    bundle = vc.load_bundle(tmp_path / "unzipped" / folder.stem)
    assert bundle.latents["mu"].shape == (10_000, 2)
    assert page.get_by_test_id("stException").count() == 0
    assert not page.page_errors, page.page_errors


def model_options(page, label: str) -> list[str]:
    page.get_by_role("combobox", name=label).first.click()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return options

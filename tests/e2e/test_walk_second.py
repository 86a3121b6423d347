"""The page's second new-user walk (issue 20), in a real browser: each test walks to one defect in a
person's order (choose, switch, come back, click fast) and checks what the person should see.

Two servers: the session's (conftest.py: real data, tiny models beside the shipped ones), and a bare
one (no data files, no way out to the internet, and a model trained on a user's own .npz file).
Screenshots land in tests/artifacts/ (git-ignored).
"""
from __future__ import annotations

import importlib.util
import os
import re
from unittest import mock

import numpy as np
import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

import vae_core as vc  # noqa: E402
from browser_steps import (MAP, ROOT, click_tab, choose_option, map_box, open_page, point_px,  # noqa: E402
                           screenshot, wait_idle)

pytestmark = pytest.mark.browser
_spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "bench_load.py")
bench_load = importlib.util.module_from_spec(_spec)  # the server launcher conftest.py uses
_spec.loader.exec_module(bench_load)
NO_EXCEPTION = "[data-testid=stException]"


def layers_drawn(page, sides: str) -> str:
    """A condition: every listed map has its layer's picture loaded (and so drawn under its codes)."""
    return (f"[...'{sides}'].every(s => {{ const m = {MAP}.instance.maps.get(s); "
            f"return m && m.points && m.layer && m.layer.image.complete && m.layer.image.naturalWidth > 0; }})")


# ------------------------------------------------------------------------------------------------
# 1. Both handles of a grid range on one value
# ------------------------------------------------------------------------------------------------

def test_both_handles_of_a_grid_range_on_one_value_keep_the_grid(streamlit_server, page):
    """Defect 1: the upper handle dragged onto the lower one (percentiles 0/0, quantiles 5/5) crashed the
    page (ConfigError: range limits must satisfy lo < hi); now the handles stay one step apart."""
    open_page(page, streamlit_server)
    page.get_by_text("Manifold grid: size, spacing, range").click()
    expect(page.get_by_role("slider", name="Grid size n (n × n images)")).to_be_visible()  # the expander is open
    for spacing, label in (("range of the codes", "Percentiles of the test codes"),
                           ("Gaussian quantiles", "Prior probability covered (%)")):
        page.get_by_text(spacing, exact=True).click()
        expect(page.get_by_role("radio", name=spacing)).to_be_checked()
        page.wait_for_function(f"{MAP}.instance.data.models[0].grid.caption.includes("
                               f"'{'evenly spaced' if spacing.startswith('range') else 'Gaussian quantiles'}')")
        before = page.evaluate(f"{MAP}.instance.data.models[0].grid.url")
        upper = page.get_by_role("slider", name=label).nth(1)
        upper.focus()
        page.keyboard.press("Home")  # the upper handle as far down as it goes: onto the lower one
        page.wait_for_function(f"document.querySelector('{NO_EXCEPTION}') || "
                               f"{MAP}.instance.data.models[0].grid.url !== {before!r}")
        wait_idle(page)
        expect(page.locator(NO_EXCEPTION)).to_have_count(0)
        lower = page.get_by_role("slider", name=label).nth(0)
        assert float(lower.input_value()) < float(upper.input_value())
        expect(page.locator(".vlm-grid-image")).to_have_count(2)
        for model in page.evaluate(f"{MAP}.instance.data.models"):
            assert model["grid"]["xs"][0] < model["grid"]["xs"][-1]
    screenshot(page, "walk2-collapsed-range")
    assert not page.page_errors, page.page_errors


# ------------------------------------------------------------------------------------------------
# 2. The chosen layer after the map is built again
# ------------------------------------------------------------------------------------------------

def holes_drawn_after_another_tab(page) -> None:
    """Tick "holes", see it drawn on both maps; visit Samples and come back (a new map: the old one is
    gone with its element, the marker with it) and see it drawn again."""
    page.get_by_text("holes", exact=True).click()
    wait_idle(page)
    page.wait_for_function(layers_drawn(page, "AB"))
    page.evaluate(f"{MAP}.instance.walkMarker = true")
    click_tab(page, "Samples")
    click_tab(page, "Latent space")
    page.wait_for_function(f"!{MAP}.instance.walkMarker && {MAP}.instance.maps.size === 2")
    page.wait_for_function(layers_drawn(page, "AB"))


def test_the_chosen_layer_is_drawn_after_the_map_is_built_again(streamlit_server, page):
    """Defect 2: with "holes" ticked, a visit to Samples or another dataset builds the map again; the
    new map held the layer's data but never loaded its picture."""
    open_page(page, streamlit_server)
    holes_drawn_after_another_tab(page)
    expect(page.get_by_role("radio", name="holes")).to_be_checked()
    # Another dataset, and back: new maps for new models, each time.
    for dataset, name in (("Fashion-MNIST", "fashion"), ("MNIST", "mnist")):
        choose_option(page, "Dataset", dataset)
        page.wait_for_function(f"[...{MAP}.instance.maps.values()].every(m => m.model.title.includes('{name}-'))")
        page.wait_for_function(layers_drawn(page, "AB"))
    page.mouse.move(5, 5)
    screenshot(page, "walk2-layer-after-rebuild", full_page=False)
    assert not page.page_errors, page.page_errors


# ------------------------------------------------------------------------------------------------
# 3. A second pin with the pointer still
# ------------------------------------------------------------------------------------------------

def ring_at(page, side: str, index: int) -> bool:
    """Whether the pinned ring (radius 8 px) is drawn around test image `index` on one map: four points
    on the ring's diagonals, away from the crosshair's arms, are inked on the overlay canvas."""
    return page.evaluate(f"""([side, i]) => {{
        const m = {MAP}.instance.maps.get(side), [x, y] = m.toPx(m.points[2 * i], m.points[2 * i + 1]);
        const ctx = m.over.getContext('2d'), d = 8 / Math.SQRT2;
        return [[d, d], [-d, d], [d, -d], [-d, -d]].every(([dx, dy]) =>
            ctx.getImageData(Math.round(x + dx), Math.round(y + dy), 1, 1).data[3] > 100);
    }}""", [side, index])


def test_a_second_pin_moves_the_ring_on_every_map(streamlit_server, page):
    """Defect 3: click test #0, then test #192, and keep the pointer still: the panel said "Pinned:
    test #192" while both maps kept the ring and the ellipses at #0 until the pointer moved."""
    open_page(page, streamlit_server)
    for index in (0, 192):
        box, (x, y) = map_box(page, 0), point_px(page, "A", index)
        page.mouse.click(box["x"] + x, box["y"] + y)
        expect(page.locator(".vlm-pin .vlm-panel-heading")).to_have_text(f"Pinned: test #{index}")
        wait_idle(page)
    assert page.evaluate(f"{MAP}.instance.data.picked") == 192
    for side in "AB":
        assert ring_at(page, side, 192), f"map {side} does not ring the pinned test #192"
        assert not ring_at(page, side, 0), f"map {side} still rings test #0"
    screenshot(page, "walk2-second-pin", full_page=False)
    assert not page.page_errors, page.page_errors


# ------------------------------------------------------------------------------------------------
# 4. A double-click resets the view and pins nothing; a pin moves nothing
# ------------------------------------------------------------------------------------------------

def test_a_double_click_only_resets_the_view(streamlit_server, page):
    """Defect 4: the two clicks of a double-click pinned the point under the cursor; the first pin put a
    caption above the maps, so they jumped under the cursor."""
    open_page(page, streamlit_server)
    box = map_box(page, 0)
    width = page.evaluate(f"{MAP}.instance.maps.get('A').view.x1 - {MAP}.instance.maps.get('A').view.x0")
    index = page.evaluate(f"{MAP}.instance.maps.get('A').nearest({box['width'] / 2}, {box['height'] / 2}, 40)")
    x, y = point_px(page, "A", index)
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.mouse.wheel(0, -300)  # zoom in, so the reset shows
    page.wait_for_function(f"{MAP}.instance.maps.get('A').view.x1 - {MAP}.instance.maps.get('A').view.x0 < {width} * 0.9")
    sent = page.evaluate(f"{MAP}.sent")
    x, y = point_px(page, "A", index)
    page.mouse.dblclick(box["x"] + x, box["y"] + y)
    page.wait_for_function(f"Math.abs({MAP}.instance.maps.get('A').view.x1 - {MAP}.instance.maps.get('A').view.x0"
                           f" - {width}) < 1e-6 * {width}")
    # One plain click afterwards: it is the only pin the server heard of, and the maps stay put.
    other = page.evaluate(f"{MAP}.instance.maps.get('A').nearest({box['width'] * 0.3}, {box['height'] * 0.6}, 40)")
    assert other >= 0 and other != index
    wait_idle(page)
    assert page.evaluate(f"{MAP}.sent") == sent, "the double-click sent a pin"
    assert map_box(page, 0)["y"] == pytest.approx(box["y"], abs=0.5), "the maps moved"
    x, y = point_px(page, "A", other)
    page.mouse.click(box["x"] + x, box["y"] + y)
    expect(page.locator(".vlm-pin .vlm-panel-heading")).to_have_text(f"Pinned: test #{other}")
    wait_idle(page)
    assert page.evaluate(f"{MAP}.sent") == sent + 1, "the double-click sent pins"
    assert map_box(page, 0)["y"] == pytest.approx(box["y"], abs=0.5), "the first pin moved the maps under the cursor"
    screenshot(page, "walk2-double-click", full_page=False)
    assert not page.page_errors, page.page_errors


# ------------------------------------------------------------------------------------------------
# A server without data files, without the internet, with a model of the user's own data
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def own_data(tmp_path_factory):
    """A user's .npz (16×16 colour shapes) and a models folder with one small model trained on it."""
    from helpers import SHAPE_CLASSES, coloured_shapes

    root = tmp_path_factory.mktemp("own-data")
    x, y = coloured_shapes(300, size=16, seed=0)
    data = root / "shapes.npz"
    np.savez(data, x_train=x[:240], y_train=y[:240], x_test=x[240:], y_test=y[240:],
             class_names=np.array(SHAPE_CLASSES))
    record = vc.resolve_dataset(str(data))
    result = vc.fit(vc.ModelConfig.for_dataset(record, hidden=(32,)),
                    vc.TrainConfig(dataset=str(data), epochs=1, batch_size=32, eval_subset=20))
    vc.finish_run(result, root / "models" / "shapes-vae")
    return data, root / "models"


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory, own_data, browser_context):
    """`streamlit run` with an empty data folder, and every download sent to a closed local port (so
    a download fails at once, as it does offline)."""
    data_dir = tmp_path_factory.mktemp("empty-data")
    log = tmp_path_factory.mktemp("bare-streamlit") / "server.log"
    closed = f"http://127.0.0.1:{bench_load.free_port()}"
    with mock.patch.dict(os.environ, {"http_proxy": closed, "https_proxy": closed, "HTTP_PROXY": closed,
                                      "HTTPS_PROXY": closed, "no_proxy": "", "NO_PROXY": ""}):
        server = bench_load.Server(own_data[1], str(data_dir), log)
    try:
        server.wait_healthy()
        yield server.base, data_dir
    finally:
        server.stop()
        server_log = log.read_text(errors="replace")
        assert "Traceback" not in server_log, server_log


# ------------------------------------------------------------------------------------------------
# 7. A model of the user's own data and the shipped models
# ------------------------------------------------------------------------------------------------

def test_a_model_of_your_own_data_has_no_shipped_model_warning(bare_server, own_data, page):
    """Defect 7: a model of the user's /path/shapes.npz showed "Shipped model missing:
    /path/shapes.npz-vae/config.json, …" on every tab; only the built-in datasets ship models."""
    base, _ = bare_server
    open_page(page, base)
    choose_option(page, "Dataset", "shapes.npz")
    expect(page.get_by_role("heading", name="VAE Explorer · shapes.npz")).to_be_visible()
    for tab in ("Latent space", "Samples", "Train"):
        click_tab(page, tab)
        expect(page.get_by_text("Shipped model missing")).to_have_count(0)
    screenshot(page, "walk2-own-data")
    assert not page.page_errors, page.page_errors


# ------------------------------------------------------------------------------------------------
# 8. Train without data files
# ------------------------------------------------------------------------------------------------

def test_train_without_data_names_the_missing_files_and_offers_download(bare_server, page):
    """Defect 8: with an empty data folder, Train tried the internet ("Not started: could not download
    MNIST file …"); the page downloads only when Download is pressed."""
    base, data_dir = bare_server
    open_page(page, base)
    click_tab(page, "Train")
    page.get_by_role("button", name="Train", exact=True).click()
    wait_idle(page)
    form = page.get_by_test_id("stMain")
    expect(form.get_by_text("could not download")).to_have_count(0)
    expect(form.get_by_text(re.compile(r"MNIST training files are not on this machine"))).to_be_visible()
    expect(form.get_by_text("train-images-idx3-ubyte.gz", exact=False).first).to_be_visible()
    expect(page.get_by_role("button", name="Download MNIST")).to_have_count(2)  # the notice's, and the form's
    assert not (data_dir / "MNIST").exists()
    screenshot(page, "walk2-train-without-data")
    assert not page.page_errors, page.page_errors


# ------------------------------------------------------------------------------------------------
# 10. A download that fails
# ------------------------------------------------------------------------------------------------

def test_a_failed_download_leaves_no_folders(bare_server, page):
    """Defect 10: a failed Download left empty MNIST/raw folders behind."""
    base, data_dir = bare_server
    open_page(page, base)
    # The notice above the tabs, then the training form's own button.
    for tab, where in (("Latent space", page.get_by_test_id("stMain")), ("Train", page.get_by_role("tabpanel"))):
        click_tab(page, tab)
        where.get_by_role("button", name="Download MNIST").first.click()
        expect(where.get_by_text("The download failed").first).to_be_visible(timeout=60_000)
        wait_idle(page)
        assert list(data_dir.iterdir()) == [], list(data_dir.iterdir())
    screenshot(page, "walk2-failed-download")
    assert not page.page_errors, page.page_errors


# ------------------------------------------------------------------------------------------------
# Confusing and cosmetic: the sidebar, the link, the form
# ------------------------------------------------------------------------------------------------

def sidebar_models(page, n: int) -> list[str]:
    return [page.get_by_role("combobox", name=f"Model {side}").input_value() for side in "ABCD"[:n]]


def test_four_models_open_on_distinct_models_and_their_figures_fit(streamlit_server, page):
    """Four models: C and D open on models not yet shown while there are any (on Fashion-MNIST, with two
    models, B = C = D before), and the figures (two models to a table) fit the sidebar."""
    open_page(page, streamlit_server)
    page.get_by_test_id("stSidebar").get_by_test_id("stRadioGroup").get_by_text("4", exact=True).click()
    expect(page.get_by_role("combobox", name="Model D")).to_be_visible()
    wait_idle(page)
    assert len(set(sidebar_models(page, 4))) == 4, sidebar_models(page, 4)
    sidebar = page.get_by_test_id("stSidebar")
    right = sidebar.bounding_box()["x"] + sidebar.bounding_box()["width"]
    tables = sidebar.locator("table")
    expect(tables).to_have_count(2)
    for i in range(2):
        box = tables.nth(i).bounding_box()
        assert box["x"] + box["width"] <= right, "a figures table runs out of the sidebar"
        assert tables.nth(i).evaluate("t => t.scrollWidth <= t.clientWidth + 1"), "a figures table is cut off"
    expect(sidebar.get_by_text("What these figures mean")).to_be_visible()  # a line for each figure
    sidebar.screenshot(path=str(ROOT / "tests" / "artifacts" / "walk2-four-models-sidebar.png"))
    choose_option(page, "Dataset", "Fashion-MNIST")
    expect(page.get_by_role("heading", name="VAE Explorer · Fashion-MNIST")).to_be_visible()
    models = sidebar_models(page, 4)
    assert models[2] != models[3], models  # two models on Fashion-MNIST: C and D take one each
    assert not page.page_errors, page.page_errors


def test_back_and_forward_walk_datasets_models_and_tabs(streamlit_server, page):
    """Back and Forward walked only the tabs: the dataset and the models were not in the history, and
    older entries were rewritten with the view on screen."""
    open_page(page, streamlit_server)
    heading = page.get_by_test_id("stMain").get_by_role("heading", level=1)
    click_tab(page, "Samples")
    choose_option(page, "Dataset", "Fashion-MNIST")
    expect(heading).to_have_text("VAE Explorer · Fashion-MNIST")
    click_tab(page, "Interpolation")
    page.get_by_test_id("stSidebar").get_by_test_id("stRadioGroup").get_by_text("3", exact=True).click()
    expect(page.get_by_role("combobox", name="Model C")).to_be_visible()
    wait_idle(page)
    page.wait_for_function("new URLSearchParams(location.search).get('n') === '3'")
    page.go_back()
    expect(page.get_by_role("combobox", name="Model C")).to_have_count(0)
    expect(heading).to_have_text("VAE Explorer · Fashion-MNIST")
    page.go_back()
    expect(heading).to_have_text("VAE Explorer · MNIST")
    expect(page.get_by_role("tab", name="Samples")).to_have_attribute("aria-selected", "true")
    page.go_forward()
    expect(heading).to_have_text("VAE Explorer · Fashion-MNIST")
    expect(page.get_by_role("tab", name="Interpolation")).to_have_attribute("aria-selected", "true")
    page.go_forward()
    expect(page.get_by_role("combobox", name="Model C")).to_be_visible()
    wait_idle(page)
    assert not page.page_errors, page.page_errors


def test_a_link_asking_for_what_is_not_here_says_so(streamlit_server, page):
    """?dataset=fashion&a=mnist-vae was silently replaced by the defaults; the README says a message."""
    page.goto(f"{streamlit_server}/?dataset=fashion&a=mnist-vae&n=9")
    wait_idle(page, 90_000)
    notice = page.get_by_test_id("stAlert").filter(has_text="This link asks for what is not here.")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Model A: “mnist-vae” is a model of MNIST, not of Fashion-MNIST; showing fashion-vae.")
    expect(notice).to_contain_text("“9” models side by side cannot be shown")
    screenshot(page, "walk2-bad-link", full_page=False)
    choose_option(page, "Dataset", "MNIST")  # the view changed: the notice has said its piece
    expect(notice).to_have_count(0)
    assert not page.page_errors, page.page_errors


def test_the_form_keeps_what_was_typed_and_names_fields_by_label(streamlit_server, page):
    """"train_subset must be a positive integer": internal names; and text or an empty number field
    silently became 0."""
    open_page(page, streamlit_server)
    click_tab(page, "Train")
    epochs, batch = page.get_by_label("Epochs", exact=True), page.get_by_label("Batch size", exact=True)
    epochs.fill("ten")
    epochs.press("Tab")
    batch.fill("")
    batch.press("Tab")
    page.get_by_text("Advanced").click()
    subset = page.get_by_label("Training images (0: all)", exact=True)
    subset.fill("-5")
    subset.press("Tab")
    wait_idle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    error = page.get_by_test_id("stAlert").filter(has_text="Not started")
    expect(error).to_be_visible()
    expect(error).to_contain_text("“Epochs” must be a whole number; got “ten”")
    expect(error).to_contain_text("“Batch size” must be a whole number; the field is empty")
    expect(error).to_contain_text("“Training images (0: all)” must be a positive integer; got -5")
    expect(error).not_to_contain_text("train_subset")
    expect(epochs).to_have_value("ten")
    expect(batch).to_have_value("")
    error.scroll_into_view_if_needed()
    screenshot(page, "walk2-form-errors")
    assert not page.page_errors, page.page_errors


# ------------------------------------------------------------------------------------------------
# Confusing and cosmetic: the latent map
# ------------------------------------------------------------------------------------------------

def test_each_tile_says_which_point_it_decodes(streamlit_server, page):
    """A d = 2 and a d = 8 model side by side: hovering the d = 8 map said "Decoded: the point under the
    cursor" while tile A still showed its sliders' point. The map also says what the path drawn on it is."""
    open_page(page, streamlit_server)
    expect(page.locator(".vlm-legend")).to_contain_text("the Interpolation tab's path")
    page.get_by_role("combobox", name="Model B").click()
    page.get_by_role("option", name=re.compile(r"^tiny-d8 · MMD-VAE")).click()
    wait_idle(page)
    page.wait_for_function(f"{MAP}.instance.maps.get('B') && {MAP}.instance.maps.get('B').points && "
                           f"{MAP}.instance.maps.get('B').model.plane.mean.length === 8")
    box = map_box(page, 1)
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    heading = page.locator(".vlm-panel > .vlm-panel-heading")
    expect(heading).to_have_text("Decoded: the point under the cursor; ★ = the sliders' point")
    expect(page.locator(".vlm-tile .vlm-caption").first).to_have_text(re.compile(r"^A ★: z = \("))
    expect(page.locator(".vlm-tile .vlm-caption").nth(1)).to_have_text(re.compile(r"^B: z = \("))
    screenshot(page, "walk2-d2-beside-d8", full_page=False)
    page.mouse.move(5, 5)
    expect(heading).to_have_text("Decoded: the sliders' point ★")
    assert not page.page_errors, page.page_errors


def test_fast_arrow_keys_on_a_latent_slider_lose_no_step(streamlit_server, page):
    """Arrow keys 40 ms apart on a latent slider: each release reruns the page, and each rerun sent an
    older point back over the slider, so steps were lost (20 presses moved it 11 steps)."""
    open_page(page, streamlit_server)
    slider = page.get_by_role("slider", name="z1")
    step, start = float(slider.get_attribute("step")), float(slider.input_value())
    slider.focus()
    for _ in range(20):
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(40)  # a person's key repeat, not a wait for the page
    target = start + 20 * step
    page.wait_for_function(f"Math.abs({MAP}.instance.data.sliders[0].z[0] - {target}) < 1e-4")  # the server has it
    wait_idle(page)
    assert float(slider.input_value()) == pytest.approx(target, abs=1e-4)
    assert page.evaluate(f"{MAP}.instance.sliderPoint('A')[0]") == pytest.approx(target, abs=1e-4)
    assert not page.page_errors, page.page_errors


def test_layers_share_one_scale_say_their_units_and_cover_the_view(streamlit_server, page):
    """Stretch used another scale on each map (0.6–6.3 beside 0.2–5.9), no units; "what it decodes to"
    had no confidence scale; Fashion-MNIST's layers stopped at z1 = 1.81 while the map showed 2.6."""
    open_page(page, streamlit_server)
    for kind in ("stretch", "what it decodes to"):
        page.get_by_text(kind, exact=True).click()
        wait_idle(page)
        page.wait_for_function(layers_drawn(page, "AB"))
        a, b = page.evaluate(f"{MAP}.instance.data.models.map(m => m.layer.legend)")
        assert (a["lo"], a["hi"]) == (b["lo"], b["hi"]) and a["title"] and a["kind"] in ("scale", "confidence")
    choose_option(page, "Dataset", "Fashion-MNIST")
    page.get_by_text("holes", exact=True).click()
    wait_idle(page)
    page.wait_for_function(f"[...{MAP}.instance.maps.values()].every(m => m.model.title.includes('fashion-'))")
    page.wait_for_function(layers_drawn(page, "AB"))
    for side in "AB":
        layer, view = page.evaluate(f"[{MAP}.instance.maps.get('{side}').layer.extent, "
                                    f"{MAP}.instance.maps.get('{side}').view]")
        assert layer[0] <= view["x0"] and layer[1] >= view["x1"], (side, layer, view)
        assert layer[2] <= view["y0"] and layer[3] >= view["y1"], (side, layer, view)
    page.mouse.move(5, 5)
    screenshot(page, "walk2-fashion-holes", full_page=False)
    assert not page.page_errors, page.page_errors


def test_the_pinned_row_samples_and_hole_samples_are_readable(streamlit_server, page):
    """The pinned panel wrapped B onto its own line; Samples rows were 600 px whatever their count (30
    to a row: 18-px digits); the hole samples' caption was squeezed into one 56-px image."""
    open_page(page, streamlit_server)
    box = map_box(page, 0)
    index = page.evaluate(f"{MAP}.instance.maps.get('A').nearest({box['width'] / 2}, {box['height'] / 2}, 40)")
    x, y = point_px(page, "A", index)
    page.mouse.click(box["x"] + x, box["y"] + y)
    expect(page.locator(".vlm-pin .vlm-panel-heading")).to_have_text(f"Pinned: test #{index}")
    tops = page.locator(".vlm-pin-row .vlm-tile").evaluate_all("tiles => tiles.map(t => t.offsetTop)")
    assert len(tops) == 3 and len(set(tops)) == 1, tops  # test image, A and B on one line
    page.get_by_text("holes", exact=True).click()
    wait_idle(page)
    expect(page.get_by_test_id("stCaptionContainer").filter(has_text=re.compile(r"^A: mnist-vae"))).to_be_visible()
    screenshot(page, "walk2-pinned-and-holes")
    click_tab(page, "Samples")
    row = page.get_by_role("slider", name="Images per row")
    row.focus()
    page.keyboard.press("End")
    expect(page.get_by_test_id("stSliderThumbValue").first).to_have_text("30")
    image = page.get_by_test_id("stImage").first.locator("img")
    page.wait_for_function("(() => { const i = document.querySelector('[data-testid=stImage] img'); "
                           "return i && i.complete && i.naturalWidth >= 30 * 30; })()")  # the row of 30 is here
    wait_idle(page)
    assert image.bounding_box()["width"] >= 30 * 30, image.bounding_box()  # 30 to a row: ≥ 30 px each
    screenshot(page, "walk2-samples-30")
    assert not page.page_errors, page.page_errors


def test_without_data_the_map_says_pinning_needs_it(bare_server, page):
    """With no data files the hint said "Click a point to pin it", and a click did nothing."""
    base, _ = bare_server
    open_page(page, base)
    expect(page.locator(".vlm-pin .vlm-hint")).to_contain_text("needs the data files")
    sent = page.evaluate(f"{MAP}.sent")
    box = map_box(page, 0)
    index = page.evaluate(f"{MAP}.instance.maps.get('A').nearest({box['width'] / 2}, {box['height'] / 2}, 40)")
    x, y = point_px(page, "A", index)
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.mouse.move(5, 5)
    wait_idle(page)
    assert page.evaluate(f"{MAP}.sent") == sent  # nothing to pin, nothing sent
    screenshot(page, "walk2-no-data-map", full_page=False)
    # Defect 2 without data: the layer is drawn, and drawn again after a visit to another tab.
    holes_drawn_after_another_tab(page)
    assert not page.page_errors, page.page_errors

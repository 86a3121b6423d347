"""Paint before torch, in a browser: a server just started draws the shipped models' first view from
their folders without torch (the sidebar says the device is not known yet), the map tells it when it
is drawn, the server imports torch then, and a person's next clicks that compute (a pin, another tab)
work, with the device now named."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browser_steps import MAP, click_tab, open_page, screenshot, wait_idle
from conftest import served

NOT_YET = "known once torch has loaded"


@pytest.fixture
def fresh_server(tmp_path, data_dir):
    """A server started for this test alone, with no models of its own: the shipped ones."""
    with served(tmp_path / "models", data_dir, tmp_path / "server.log") as base:
        yield base


def device_caption(page):
    return page.get_by_test_id("stSidebar").get_by_text("Device:", exact=False)


def test_a_fresh_server_draws_first_then_loads_torch(fresh_server, page):
    open_page(page, fresh_server)
    expect(device_caption(page)).to_contain_text(NOT_YET)  # the first run imported no torch
    assert page.evaluate(f"{MAP}.instance.maps.size") == 2 and page.evaluate(f"{MAP}.mode") == "browser"
    screenshot(page, "first-view-fresh-server")
    # The map said it was drawn (one message), and the server imported torch then: the next run names the
    # device. A person's click that computes: pin the point nearest the middle of map A.
    box = page.locator("canvas.vlm-over").first.bounding_box()
    index = page.evaluate(f"{MAP}.instance.maps.get('A').nearest({box['width'] / 2}, {box['height'] / 2}, 60)")
    assert index >= 0
    px = page.evaluate(f"{MAP}.instance.maps.get('A').toPx(...Array.from("
                       f"{MAP}.instance.maps.get('A').points.slice(2 * {index}, 2 * {index} + 2)))")
    page.mouse.click(box["x"] + px[0], box["y"] + px[1])
    expect(page.locator(".vlm-pin .vlm-panel-heading")).to_have_text(f"Pinned: test #{index}")
    wait_idle(page)
    # Another tab, which decodes on the server: its strips are drawn, and the device is named by now.
    click_tab(page, "Interpolation")
    expect(page.get_by_test_id("stImage").first).to_be_visible()
    click_tab(page, "Latent space")
    expect(device_caption(page)).to_contain_text("CPU")
    page.wait_for_function(f"{MAP} && {MAP}.ready && [...{MAP}.instance.maps.values()].every(m => m.points)")
    screenshot(page, "first-view-after-torch")
    assert not page.page_errors, page.page_errors

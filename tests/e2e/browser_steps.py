"""A person's steps on the page, for the browser tests: open it, wait for its reruns, open a tab,
pick an option, fill a field, read the latent map. Every wait is for an event on the page."""
from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
MAP = "window.__vaeLatentMap"


def wait_idle(page, timeout: float = 30_000) -> None:
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning",
                                                           timeout=timeout)


def open_page(page, base: str) -> None:
    page.goto(base)
    wait_idle(page, 90_000)  # the first run reads the test set and loads the models
    page.wait_for_function(f"{MAP} && {MAP}.ready && {MAP}.instance.maps.size > 0 && "
                           f"[...{MAP}.instance.maps.values()].every(m => m.points)", timeout=60_000)


class SentFrames:
    """Counts the frames the page sends on its websocket (every message to the server)."""

    def __init__(self, page):
        self.count = 0
        page.on("websocket", lambda ws: ws.on("framesent", self._sent))

    def _sent(self, _frame):
        self.count += 1


def tile_pixels(page, side: str) -> list[int]:
    """The decoded image of one model in the map's panel, as the canvas shows it (grey levels)."""
    return page.evaluate("""side => {
        const c = window.__vaeLatentMap.instance.tiles.get(side).canvas.canvas;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const out = [];
        for (let i = 0; i < d.length; i += 4) out.push(d[i]);
        return out;
    }""", side)


def map_box(page, i: int) -> dict:
    return page.locator("canvas.vlm-over").nth(i).bounding_box()


def point_px(page, side: str, index: int) -> list[float]:
    """Where test image `index` is drawn on a map, in the map's own pixels."""
    return page.evaluate(f"""([side, i]) => {{
        const m = {MAP}.instance.maps.get(side);
        return m.toPx(m.points[2 * i], m.points[2 * i + 1]);
    }}""", [side, index])


def screenshot(page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def click_tab(page, name: str) -> None:
    """Open a tab as a person does, with the pointer first moved off any tooltip it left open."""
    page.mouse.move(5, 5)
    page.get_by_role("tab", name=name, exact=True).click()
    wait_idle(page)


def choose_option(page, label: str, option: str) -> None:
    """Pick an option in a Streamlit selectbox by its label, as a person does."""
    page.get_by_role("combobox", name=label).first.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    wait_idle(page)


def fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True).first
    box.fill(value)
    box.press("Tab")

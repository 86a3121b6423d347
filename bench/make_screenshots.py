"""The README's pictures of the page, taken on purpose (the test suite never writes into docs/).

    python bench/make_screenshots.py

Starts `streamlit run explorer_app.py` on the shipped models, opens it in headless Chromium, and
takes: docs/screenshot.png (the latent map with a pinned image and the pointer over map A, so both
models decode the point under it), docs/layers.png (the "what it decodes to" layer on Fashion-MNIST)
and docs/geodesic.png (the Interpolation tab with the geodesic).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "docs"  # where the pictures go

import bench_load  # noqa: E402  (the one server launcher)

MAP = "window.__vaeLatentMap"


def idle(page) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=180_000)


def map_ready(page) -> None:
    page.wait_for_function(f"{MAP} && {MAP}.ready && [...{MAP}.instance.maps.values()].every(m => m.points)",
                           timeout=180_000)
    page.wait_for_timeout(1500)


def main() -> int:
    from playwright.sync_api import sync_playwright

    models = Path(tempfile.mkdtemp(prefix="screenshot-models-"))
    server = bench_load.Server(models, bench_load.default_data_dir(), Path(tempfile.mktemp(suffix=".log")))
    try:
        server.wait_healthy()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=bench_load.CHROMIUM, headless=True,
                                        args=bench_load.CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server.base)
            idle(page)
            map_ready(page)
            # Pin a test image, then rest the pointer on map A: both models decode that point.
            box = page.locator("canvas.vlm-over").first.bounding_box()
            index = page.evaluate(f"{MAP}.instance.maps.get('A').nearest({box['width'] * 0.45}, "
                                  f"{box['height'] * 0.45}, 40)")
            px = page.evaluate(f"{MAP}.instance.maps.get('A').toPx(...Array.from("
                               f"{MAP}.instance.maps.get('A').points.slice(2 * {index}, 2 * {index} + 2)))")
            page.mouse.click(box["x"] + px[0], box["y"] + px[1])
            idle(page)
            map_ready(page)
            page.mouse.move(box["x"] + box["width"] * 0.62, box["y"] + box["height"] * 0.35)
            page.wait_for_timeout(500)
            page.screenshot(path=str(HERE / "screenshot.png"))
            # The layer that shows what each region decodes to, on Fashion-MNIST.
            page.goto(server.base + "/?dataset=fashion")
            idle(page)
            map_ready(page)
            page.get_by_text("what it decodes to", exact=True).click()
            idle(page)
            page.wait_for_timeout(3000)
            page.mouse.move(5, 5)
            page.screenshot(path=str(HERE / "layers.png"))
            # The geodesic beside the straight line.
            page.goto(server.base + "/?dataset=mnist&tab=Interpolation")
            idle(page)
            page.get_by_text("Also the geodesic", exact=False).click()
            # Both models' geodesics found: each says how far its images travel along both paths.
            page.get_by_text("the images travel", exact=False).nth(1).wait_for(timeout=180_000)
            idle(page)
            page.set_viewport_size({"width": 1400, "height": 1300})
            page.wait_for_timeout(1500)
            page.screenshot(path=str(HERE / "geodesic.png"))
            browser.close()
    finally:
        server.stop()
    for name in ("screenshot.png", "layers.png", "geodesic.png"):
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

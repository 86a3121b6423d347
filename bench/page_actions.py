"""What a browser does on the explorer page, in one place (async Playwright).

The deploy test (tests/test_deploy.py) and the capacity benchmark (bench/bench_capacity.py)
only touch the page through these functions, so when the page changes (the latent tab's
sliders becoming a browser-side latent map, the page becoming a package) they are the one
place to adapt. Each waits for content, never for a fixed time.
"""
from __future__ import annotations

import re
import time

TITLE = "VAE Explorer · MNIST"
# A training long enough to still run while it is looked at from elsewhere, then cancelled.
SLOW_TRAINING = {"Epochs": "200", "Batch size": "16", "Training images (0: all)": "2000",
                 "Test images scored per epoch": "50"}


def _expect():
    from playwright.async_api import expect

    return expect


async def wait_idle(page, timeout_ms: float = 30_000) -> None:
    """No script run in progress (check it after a visible effect, not just after an action)."""
    await _expect()(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning",
                                                                    timeout=timeout_ms)


async def wait_drawn(page, timeout_ms: float = 90_000) -> None:
    """The page is drawn: its title is shown, a decoded image is there, and no run is in progress."""
    expect = _expect()
    await expect(page.get_by_role("heading", name=TITLE)).to_be_visible(timeout=timeout_ms)
    await expect(decoded_image(page)).to_be_attached(timeout=timeout_ms)  # its tab may be hidden
    await wait_idle(page, timeout_ms)


async def wait_usable(page, timeout_ms: float = 60_000) -> None:
    """Connected again after a lost connection: Streamlit disables every widget until then."""
    await _expect()(_z1(page)).to_be_enabled(timeout=timeout_ms)
    await wait_idle(page, timeout_ms)


def _z1(page):
    return page.get_by_test_id("stSlider").get_by_role("slider", name="z1")


def decoded_image(page):
    """The <img> the latent point decodes into for model A."""
    return page.get_by_test_id("stImageContainer").filter(
        has=page.get_by_test_id("stImageCaption").filter(has_text=re.compile(r"^A: z = "))).locator("img")


async def round_trip(page, step: int = 1, timeout_ms: float = 30_000) -> float:
    """One server round trip that changes an image: a keyboard step of the z1 slider (released at
    once, so one rerun) until model A's decoded image is another one. Returns milliseconds from
    the key press to the new image's URL in the page."""
    img = decoded_image(page)
    before = await img.get_attribute("src", timeout=timeout_ms)
    await _z1(page).focus(timeout=timeout_ms)
    t = time.perf_counter()
    await page.keyboard.press("ArrowRight" if step > 0 else "ArrowLeft")
    await _expect()(img).not_to_have_attribute("src", before, timeout=timeout_ms)
    return (time.perf_counter() - t) * 1000


async def image_loaded(page, timeout_ms: float = 30_000) -> int:
    """The decoded image's pixel width once the browser has fetched it (its /media/ URL answered)."""
    handle = await decoded_image(page).element_handle(timeout=timeout_ms)
    await page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=handle, timeout=timeout_ms)
    return await handle.evaluate("i => i.naturalWidth")


async def open_training_tab(page) -> None:
    await page.get_by_role("tab", name="Train a model").click()


async def start_training(page, tag: str, timeout_ms: float = 30_000) -> None:
    """Fill the Train tab's form for a slow training under `tag`, submit, wait for its progress bar."""
    await open_training_tab(page)
    form = page.get_by_test_id("stForm")
    if not await form.get_by_label(next(reversed(SLOW_TRAINING))).is_visible():  # still open from before?
        await form.get_by_test_id("stExpander").get_by_text("Advanced").click()
    for label, value in SLOW_TRAINING.items():
        await form.get_by_label(label).fill(value)
    await form.get_by_label("Tag (the new model's name)").fill(tag)
    await form.get_by_role("button", name="Train").click()
    await _expect()(page.get_by_test_id("stProgress").filter(has_text=tag)).to_be_visible(timeout=timeout_ms)


async def cancel_training(page, timeout_ms: float = 30_000) -> str:
    """Cancel this session's training; returns the message the page ends with."""
    await page.get_by_role("button", name="Cancel").click()
    done = page.get_by_test_id("stAlert").filter(has_text="cancelled")
    await _expect()(done).to_be_visible(timeout=timeout_ms)
    return await done.inner_text()


async def training_slots_in_use(page, timeout_ms: float = 30_000) -> int:
    """How many trainings the server behind this page runs (0 when it shows no count)."""
    await open_training_tab(page)
    panel = page.get_by_role("tabpanel", name="Train a model")
    await _expect()(panel.get_by_test_id("stForm")).to_be_visible(timeout=timeout_ms)
    caption = panel.get_by_text(re.compile(r"^\d+ of \d+ training slots in use"))
    if not await caption.count():
        return 0
    return int((await caption.inner_text()).split()[0])

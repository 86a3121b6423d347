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
    """The page is drawn: its title is shown, its latent map has its codes, no run is in progress."""
    expect = _expect()
    await expect(page.get_by_role("heading", name=TITLE)).to_be_visible(timeout=timeout_ms)
    await page.wait_for_function("window.__vaeLatentMap && window.__vaeLatentMap.ready && "
                                 "[...window.__vaeLatentMap.instance.maps.values()].every(m => m.points)",
                                 timeout=timeout_ms)
    await wait_idle(page, timeout_ms)


async def wait_usable(page, timeout_ms: float = 60_000) -> None:
    """Connected again after a lost connection: Streamlit disables every widget until then."""
    await _expect()(page.get_by_role("combobox", name="Dataset")).to_be_enabled(timeout=timeout_ms)
    await wait_idle(page, timeout_ms)


def samples_image(page):
    """The <img> of model A's row of prior samples (Samples tab)."""
    return page.get_by_test_id("stImageContainer").filter(
        has=page.get_by_test_id("stImageCaption").filter(has_text=re.compile(r"^A: .*: samples \(seed"))).locator("img")


# Ten 28-pixel samples with 2-pixel gaps, drawn at twice their pixels (views/samples.SCALE): the picture's
# natural width.
SAMPLES_WIDTH = 2 * (10 * 28 + 9 * 2)


async def round_trip(page, step: int = 1, timeout_ms: float = 30_000) -> float:
    """One server round trip that changes an image: "New samples" (the server decodes new prior draws
    and sends the picture) until model A's samples picture is another one. Returns milliseconds from
    the click to the new picture's URL in the page. (Moving through the latent map costs the server
    nothing: it decodes in the browser.) `step` is kept for callers that alternate directions."""
    await open_tab(page, "Samples", timeout_ms)
    img = samples_image(page)
    before = await img.get_attribute("src", timeout=timeout_ms)
    t = time.perf_counter()
    await page.get_by_role("button", name="New samples").click(timeout=timeout_ms)
    await _expect()(img).not_to_have_attribute("src", before, timeout=timeout_ms)
    return (time.perf_counter() - t) * 1000


async def image_loaded(page, timeout_ms: float = 30_000) -> int:
    """The samples picture's pixel width once the browser has fetched it (its /media/ URL answered)."""
    handle = await samples_image(page).element_handle(timeout=timeout_ms)
    await page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=handle, timeout=timeout_ms)
    return await handle.evaluate("i => i.naturalWidth")


async def open_training_tab(page, timeout_ms: float = 30_000) -> None:
    await open_tab(page, "Train", timeout_ms)


async def open_tab(page, name: str, timeout_ms: float = 30_000) -> None:
    """Select a tab (again, if a rerun that was on its way, such as a reconnect's, redrew the tabs)."""
    tab = page.get_by_role("tab", name=name, exact=True)
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        await tab.click(timeout=timeout_ms)
        await wait_idle(page, timeout_ms)
        if await tab.get_attribute("aria-selected") == "true" or time.monotonic() > deadline:
            return
        await page.wait_for_timeout(200)


async def start_training(page, tag: str, timeout_ms: float = 30_000) -> None:
    """Fill the Train tab for a slow training under `tag`, press Train, wait for its progress bar."""
    await open_training_tab(page)
    panel = page.get_by_role("tabpanel", name="Train")
    if not await panel.get_by_label(next(reversed(SLOW_TRAINING)), exact=True).is_visible():  # still open?
        await panel.get_by_test_id("stExpander").get_by_text("Advanced").click()
    for label, value in SLOW_TRAINING.items():
        field = panel.get_by_label(label, exact=True)
        await field.fill(value)
        await field.press("Tab")
    await panel.get_by_label("Tag (the new model's name)", exact=True).fill(tag)
    await panel.get_by_label("Tag (the new model's name)", exact=True).press("Tab")
    await panel.get_by_role("button", name="Train", exact=True).click()
    await _expect()(page.get_by_test_id("stProgress").filter(has_text=tag)).to_be_visible(timeout=timeout_ms)


async def cancel_training(page, timeout_ms: float = 30_000) -> str:
    """Cancel this session's training; returns the message the page ends with."""
    await page.get_by_role("button", name="Cancel", exact=True).click()
    done = page.get_by_test_id("stAlert").filter(has_text="cancelled")
    await _expect()(done).to_be_visible(timeout=timeout_ms)
    return await done.inner_text()


async def training_slots_in_use(page, timeout_ms: float = 30_000) -> int:
    """How many trainings the server behind this page runs (0 when it shows no count)."""
    await open_training_tab(page)
    panel = page.get_by_role("tabpanel", name="Train")
    await _expect()(panel.get_by_role("button", name="Train", exact=True)).to_be_visible(timeout=timeout_ms)
    caption = panel.get_by_text(re.compile(r"^\d+ of \d+ training slots in use"))
    if not await caption.count():
        return 0
    return int((await caption.inner_text()).split()[0])

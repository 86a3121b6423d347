"""Fixtures for the browser test: `streamlit run explorer_app.py` on a free local port and
Debian's headless Chromium driven by Playwright (no `playwright install`).

The server gets its own models directory holding two tiny real models, so the page has
something to draw even before the shipped models exist; when they do, it shows those.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# One server launcher for the tests and the load benchmark: bench/bench_load.py.
_spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "bench_load.py")
bench_load = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_load)
CHROMIUM, CHROMIUM_ARGS = bench_load.CHROMIUM, bench_load.CHROMIUM_ARGS
# Every wait is for an event (an element's state, a value the page publishes); these are only how long
# to wait for it before calling it lost. On a 2-core CPU shared with other work a page rerun can take
# many seconds, so they are generous: a passing run never waits for them.
WAIT_MS, EXPECT_MS = 60_000, 20_000


@pytest.fixture(scope="session")
def e2e_models_dir(tmp_path_factory, data_dir) -> Path:
    """Two tiny real models (one epoch on 512 images) and an untrained d = 8 one, in a models
    directory of the server's own."""
    from helpers import save_untrained_model

    root = bench_load.tiny_models(tmp_path_factory.mktemp("e2e-models"), str(data_dir))
    save_untrained_model(root / "tiny-d8", latent_dim=8, objective="mmd", data_dir=data_dir)
    return root


@contextlib.contextmanager
def served(models_dir: Path, data_dir, log: Path):
    """`streamlit run explorer_app.py` on 127.0.0.1:<free port> for `models_dir`: the base URL, and the
    server stopped after; its log must hold no traceback."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    server = bench_load.Server(models_dir, str(data_dir), log)
    try:
        server.wait_healthy()
        yield server.base
    finally:
        server.stop()
        server_log = log.read_text(errors="replace")
        assert "Traceback" not in server_log, server_log


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory, data_dir, e2e_models_dir):
    """The page on a server of the browser tests' own, for the whole session; yields the base URL."""
    with served(e2e_models_dir, data_dir, tmp_path_factory.mktemp("streamlit") / "server.log") as base:
        yield base


@pytest.fixture(scope="session")
def browser_context():
    """Headless Debian Chromium with a throw-away profile."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_MS)

    user_data_dir = tempfile.mkdtemp(prefix="pw-chromium-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(user_data_dir, executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
            ctx.set_default_timeout(WAIT_MS)
            yield ctx
            ctx.close()
    finally:
        shutil.rmtree(user_data_dir, ignore_errors=True)


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.page_errors = errors
    yield page
    page.close()

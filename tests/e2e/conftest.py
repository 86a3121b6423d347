"""Fixtures for the browser test: `streamlit run explorer_app.py` on a free local port and
Debian's headless Chromium driven by Playwright (no `playwright install`).

The server gets its own models directory holding two tiny real models, so the page has
something to draw even before the shipped models exist; when they do, it shows those.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "explorer_app.py"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 never via a proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with opener.open(url, timeout=2) as r:
                if r.status == 200 and r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} not healthy after {timeout}s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def e2e_models_dir(tmp_path_factory, data_dir) -> Path:
    """Two tiny real models (one epoch on 512 images) in a models directory of the server's own."""
    import vae_core as vc

    root = tmp_path_factory.mktemp("e2e-models")
    test = vc.load_split("mnist", "test", data_dir=data_dir)
    for tag, objective in (("tiny-vae", "standard"), ("tiny-mmd", "mmd")):
        model_cfg = vc.ModelConfig(objective=objective, hidden=(64,))
        train_cfg = vc.TrainConfig(epochs=1, batch_size=128, train_subset=512, eval_subset=200)
        result = vc.train(model_cfg, train_cfg, data_dir=data_dir)
        vc.save_bundle(root / tag, result.model, train_cfg, metrics={"epochs": 1},
                       latents={"mu": vc.encode_means(result.model, test.images), "labels": test.labels.numpy()})
    return root


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory, data_dir, e2e_models_dir):
    """`streamlit run explorer_app.py` on 127.0.0.1:<free port>; yields the base URL, stops it after."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {**os.environ, "VAE_DATA_DIR": str(data_dir), "VAE_MODELS_DIR": str(e2e_models_dir)}
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(f"{base}/_stcore/health", proc, log)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        server_log = log.read_text(errors="replace")
        assert "Traceback" not in server_log, server_log


@pytest.fixture(scope="session")
def browser_context():
    """Headless Debian Chromium with a throw-away profile."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    user_data_dir = tempfile.mkdtemp(prefix="pw-chromium-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(user_data_dir, executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
            ctx.set_default_timeout(30_000)
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

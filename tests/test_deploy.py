"""Replicas behind nginx, for real: deploy/run_replicas.py starts two `streamlit run` replicas on
loopback ports and nginx in front of them, sharing one models directory.

- Browser sessions through nginx: the page draws, a slider step comes back as a new image
  (fetched from /media/ of the replica that holds the session), a training started from the
  page runs on that replica and not on the other (each counts the trainings it runs: the first
  on the session's page, the other on its own page opened directly) and is cancelled; a second
  browser lands on either replica and both keep working.
- The replica holding a session is SIGKILLed with a training running: nginx takes the
  reopened WebSocket to the other replica and re-pins the browser there; the page draws again
  and works (its images come from the new replica), and the models directory is as it was.
  Screenshots of that moment go to tests/artifacts/.
- Two replicas are two processes writing one models directory: same tag, exactly one saves and
  the other is told; different tags, both save; nothing temporary is left.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import save_untrained_model

import vae_core as vc

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


run_replicas = _load("run_replicas", ROOT / "deploy" / "run_replicas.py")
bench_load = _load("bench_load", ROOT / "bench" / "bench_load.py")
pa = _load("page_actions", ROOT / "bench" / "page_actions.py")
SHARED_TAGS = ["deploy-a", "deploy-b"]  # the models every replica lists


def needs_nginx_and_chromium() -> None:
    try:
        run_replicas.find_nginx()
    except run_replicas.DeployError as exc:
        pytest.skip(str(exc))
    if not os.path.exists(bench_load.CHROMIUM):
        pytest.skip(f"{bench_load.CHROMIUM} not installed (apt-get install -y chromium)")
    pytest.importorskip("playwright")


@pytest.fixture(scope="module")
def shared_models(tmp_path_factory, data_dir) -> Path:
    root = tmp_path_factory.mktemp("deploy-models")
    for tag, objective in zip(SHARED_TAGS, ("standard", "mmd")):
        save_untrained_model(root / tag, objective=objective, hidden=(32,), data_dir=data_dir)
    return root


@pytest.fixture(scope="module")
def deployment(shared_models, data_dir, tmp_path_factory):
    needs_nginx_and_chromium()
    dep = run_replicas.Deployment(replicas=2, models_dir=shared_models, data_dir=str(data_dir),
                                  state_dir=tmp_path_factory.mktemp("deploy-state"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAE_TEST_HOOKS", "1")  # the replicas' maps show window.__vaeLatentMap to page_actions
        with dep:
            yield dep
    for r in dep.replicas:
        log = r.log.read_text(errors="replace")
        assert "Traceback" not in log, f"{r.name}:\n{log}"


def in_own_thread(coro_fn, *args):
    """Run an async browser script in a thread of its own: the e2e tests' sync Playwright keeps an
    event loop running on this one, where asyncio.run() refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro_fn(*args)).result()


async def _browser():
    from playwright.async_api import async_playwright

    pw = await async_playwright().start()
    browser = await pw.chromium.launch(executable_path=bench_load.CHROMIUM, headless=True,
                                       args=bench_load.CHROMIUM_ARGS)
    return pw, browser


async def _open(browser, url: str, errors: list, pinned: str | None = None):
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(30_000)
    if pinned:  # as if this browser had been here before
        await ctx.add_cookies([{"name": "vae_replica", "value": pinned, "url": url}])
    page = await ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.sockets = []  # the page's WebSockets, oldest first
    page.on("websocket", lambda ws: page.sockets.append(ws))
    await page.goto(url)
    await pa.wait_drawn(page)
    return ctx, page


async def _pinned(ctx) -> str:
    return next(c["value"] for c in await ctx.cookies() if c["name"] == "vae_replica")


async def _connection_lost(page, ws=None) -> None:
    """Wait until `ws` (by default the page's newest WebSocket) has closed. Pass the socket the page
    had when the replica died: by now the page may have opened a new one to the survivor."""
    ws = ws if ws is not None else page.sockets[-1]
    if not ws.is_closed():
        await ws.wait_for_event("close")


@pytest.mark.browser
def test_sessions_stay_on_their_replica_and_survive_its_death(deployment, shared_models):
    dep = deployment
    names = [r.name for r in dep.replicas]
    ARTIFACTS.mkdir(exist_ok=True)

    async def scenario():
        pw, browser = await _browser()
        errors: list[str] = []
        try:
            # One session through nginx: drawn, one round trip, its image fetched from its replica.
            ctx1, page1 = await _open(browser, dep.url, errors)
            holder = await _pinned(ctx1)
            assert holder in names
            assert await pa.round_trip(page1) > 0
            assert await pa.image_loaded(page1) == pa.SAMPLES_WIDTH

            # A training from this page runs on the replica that holds the session: that replica
            # counts it (on this page), the other one (its own page, opened directly) does not.
            await pa.start_training(page1, "deploy-cancelled")
            assert await pa.training_slots_in_use(page1) == 1
            other = next(r for r in dep.replicas if r.name != holder)
            probe, probe_page = await _open(browser, other.url, errors)
            assert await pa.training_slots_in_use(probe_page) == 0
            await probe.close()
            assert "nothing was saved" in await pa.cancel_training(page1)

            # A second browser lands on either replica; both sessions keep working.
            ctx2, page2 = await _open(browser, dep.url, errors)
            second = await _pinned(ctx2)
            assert second in names
            assert await pa.round_trip(page2) > 0
            await page1.get_by_role("tab", name="Latent space").click()
            assert await pa.round_trip(page1, step=-1) > 0

            # The holder dies (SIGKILL) while a training of this session runs there. (The page keeps a
            # run_every fragment, which makes Streamlit rerun the page on reconnect: see the last
            # test of this group for a session idle since a full run.)
            await pa.start_training(page1, "deploy-lost")
            socket2 = page2.sockets[-1]  # page2's connection when the holder dies
            dep.kill(names.index(holder))
            await _connection_lost(page1)
            await page1.screenshot(path=str(ARTIFACTS / "deploy-failover-lost.png"))

            # The reopened WebSocket reached the survivor: a new session drew the page (it knows
            # no training of this browser's), the browser is pinned there, and works.
            survivor = next(n for n in names if n != holder)
            await pa.wait_drawn(page1)
            await pa.open_training_tab(page1)  # the new session opens on the first tab
            no_job = page1.get_by_role("tabpanel", name="Train").get_by_text(
                "No training started from this browser yet.")
            await no_job.wait_for(timeout=60_000)
            # The page says what happened: the move, and what was lost.
            moved = page1.get_by_test_id("stAlert").filter(has_text="another one took over")
            await moved.wait_for(state="attached", timeout=30_000)
            await page1.screenshot(path=str(ARTIFACTS / "deploy-failover-redrawn.png"))
            assert await _pinned(ctx1) == survivor
            await page1.get_by_role("tab", name="Latent space").click()
            assert await pa.round_trip(page1) > 0
            assert await pa.image_loaded(page1) == pa.SAMPLES_WIDTH
            if second == holder:  # it moved too (its last run was a slider step's: rerun on reconnect)
                await _connection_lost(page2, socket2)
                await pa.wait_usable(page2)
            assert await pa.round_trip(page2, step=-1) > 0
            assert await pa.image_loaded(page2) == pa.SAMPLES_WIDTH
            assert await _pinned(ctx2) == survivor
            assert not errors, errors
            return holder, second, survivor
        finally:
            await browser.close()
            await pw.stop()

    holder, second, survivor = in_own_thread(scenario)
    print(f"\nsession 1 on {holder}, session 2 on {second}; {holder} killed, both now on {survivor}")

    # nginx moved the WebSocket: a handshake pinned to the dead replica was answered by the other.
    log = dep.access_log.read_text()
    assert re.search(rf'"GET /_stcore/stream [^"]*" 101 pinned={holder} served_by={survivor} ', log), log[-3000:]

    # The shared models directory is as it was: no temporary folder, nothing of the lost or the
    # cancelled training, and each model loads.
    assert sorted(p.name for p in shared_models.iterdir()) == SHARED_TAGS
    assert [e.name for e in vc.list_models(user_dir=shared_models) if e.source == "user"] == SHARED_TAGS
    for tag in SHARED_TAGS:
        assert vc.load_bundle(shared_models / tag).latents["mu"].shape == (10_000, 2)


async def _idle_session_after_failover(dep, index: int) -> float:
    """A browser pinned to replica `index` that only opened the page (its last run was a full run,
    not a fragment's); that replica dies; a server round trip on the page it then shows must still work."""
    pw, browser = await _browser()
    try:
        errors: list[str] = []
        name = dep.replicas[index].name
        ctx, page = await _open(browser, dep.url, errors, pinned=name)
        assert await _pinned(ctx) == name  # a replica restarted a moment ago takes its browsers back at once
        dep.kill(index)
        await _connection_lost(page)
        await pa.wait_usable(page)
        try:
            ms = await pa.round_trip(page, timeout_ms=30_000)
        except Exception:
            await page.screenshot(path=str(ARTIFACTS / "deploy-idle-failover.png"), full_page=True)
            raise
        assert not errors, errors
        return ms
    finally:
        await browser.close()
        await pw.stop()


@pytest.mark.browser
def test_a_session_idle_since_a_full_run_works_after_failover(deployment):
    for i, r in enumerate(deployment.replicas):
        if not r.alive():  # the test above killed one
            deployment.restart(i)
    assert in_own_thread(_idle_session_after_failover, deployment, 0) > 0


# --- two processes, one models directory -------------------------------------------------------

TRAINER = """
import json, sys
import vae_core as vc
from vae_core.training import jobs
shared, own, width = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = vc.TrainConfig(epochs=1, batch_size=64, train_subset=256, eval_subset=100)
registry = jobs.JobRegistry()
vc.load_split("mnist", "train", progress=False); vc.load_split("mnist", "test", progress=False)
print("ready", flush=True)
sys.stdin.readline()  # both processes start their trainings together
started = [registry.start(vc.ModelConfig(hidden=(width,)), cfg, tag, owner=tag) for tag in (shared, own)]
views = [job.view() for job in started if job.join(300)]
print(json.dumps([{"tag": v.tag, "state": v.state, "message": v.message} for v in views]), flush=True)
"""


def test_two_replica_processes_share_one_models_directory(isolated_models_dir, data_dir):
    """What each replica's job registry does, in two processes at once: both pass the start
    checks for the shared tag; exactly one saves it and the other is told; own tags both save."""
    env = {**os.environ, "VAE_MODELS_DIR": str(isolated_models_dir), "VAE_DATA_DIR": str(data_dir),
           "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", TRAINER, "shared", f"own-{w}", str(w)], env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for w in (24, 40)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(p.stdout.readline() or "null") for p in procs]
        for p in procs:
            assert p.wait(60) == 0, p.stderr.read()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(r is not None and len(r) == 2 for r in results), results
    shared = sorted((r[0] for r in results), key=lambda v: v["state"])
    assert [v["state"] for v in shared] == ["completed", "failed"], shared
    assert "saved elsewhere while this one trained" in shared[1]["message"]
    assert all(r[1]["state"] == "completed" for r in results), results
    winner = 24 if results[0][0]["state"] == "completed" else 40
    assert vc.load_bundle(isolated_models_dir / "shared").model_config.hidden == (winner,)
    for w in (24, 40):
        assert vc.load_bundle(isolated_models_dir / f"own-{w}").model_config.hidden == (w,)
    assert sorted(p.name for p in isolated_models_dir.iterdir()) == ["own-24", "own-40", "shared"]

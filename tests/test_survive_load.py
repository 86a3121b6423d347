"""Load, short enough for CI: concurrent page sessions, and two users training at once.

- Six AppTest sessions open at once, taking turns setting the latent point and running
  interpolations: no exception anywhere, each model folder loaded exactly once
  (st.cache_resource shares it; it is not loaded per session), memory bounded.
- Four real Chromium sessions against one `streamlit run` server, all at once: the short version
  of bench/bench_load.py (which runs 20 and reports p50/p95 latency; latency is not asserted here).
- Two owners training at once, each under its own tag, with different models: both saved whole,
  neither touching the other; a second training of the same session and a third of the server
  refused with a clear message; the same tag chosen by two sessions, or by two servers sharing
  the models directory: exactly one saves, the other ends with a clear message, nothing is
  overwritten; concurrent saves from threads never interfere; nothing is written into pretrained/.
"""
from __future__ import annotations

import concurrent.futures
import importlib.util
from collections import Counter
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from helpers import latent_map, open_tab, patch_objective, save_untrained_model  # noqa: E402

import vae_core as vc
from vae_core import CheckpointError, ModelConfig, TrainConfig, load_bundle, save_bundle
from vae_core.training import jobs, runs
from vae_core.store import folders as ckpt

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "explorer_app.py")
FAST = TrainConfig(epochs=1, batch_size=64, train_subset=256, eval_subset=100)
SLOW = TrainConfig(epochs=200, batch_size=16, train_subset=2000, eval_subset=50)  # cancelled, never finished


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@pytest.fixture(scope="module")
def store(tmp_path_factory, data_dir) -> Path:
    root = tmp_path_factory.mktemp("load-models")
    for tag, objective in (("load-vae", "standard"), ("load-mmd", "mmd")):
        save_untrained_model(root / tag, objective=objective, hidden=(64,), data_dir=data_dir)
    return root


@pytest.fixture
def models(store, isolated_models_dir) -> Path:
    shutil.copytree(store, isolated_models_dir)
    return isolated_models_dir


@pytest.fixture
def no_pretrained_writes(monkeypatch, isolated_models_dir):
    """Every save of the test goes through here: none may target pretrained/."""
    targets = []
    real = ckpt.save_bundle

    def spy(path, *args, **kwargs):
        targets.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(runs, "save_bundle", spy)  # the one place a training run is saved
    yield targets
    for path in targets:
        assert not ckpt._is_pretrained(path), path
        assert path.parent.resolve() == isolated_models_dir.resolve(), path


# --- concurrent page sessions --------------------------------------------------------------------

def open_session(models: Path) -> AppTest:
    """A session opened from a shared URL naming the two models (?a=load-vae&b=load-mmd)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["a"], at.query_params["b"] = "load-vae", "load-mmd"
    at.run()
    picked = [Path(b.value).name for b in at.sidebar.selectbox if b.label.startswith("Model")]
    assert picked == ["load-vae", "load-mmd"], picked
    return at


def move_point(at: AppTest, rng) -> None:
    """What a slider's release on the latent map sends: the new point of both models."""
    z = [float(np.round(v, 2)) for v in rng.uniform(-0.9, 0.9, size=2)]  # inside every slider range
    at.session_state["z_A"] = at.session_state["z_B"] = z
    at.run()


def test_many_page_sessions_share_the_models(models, monkeypatch):
    """Six sessions open at once, their latent points and interpolations interleaved. (AppTest
    is not thread-safe, so the sessions take turns here; the browser test below and
    bench/bench_load.py drive real parallel sessions against one server.)"""
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    loads = []
    real = vc.load_bundle
    monkeypatch.setattr(vc, "load_bundle", lambda path, **kw: (loads.append(Path(path).name), real(path, **kw))[1])

    rng = np.random.default_rng(0)
    first = open_session(models)  # fills the shared caches
    move_point(first, rng)
    assert not first.exception, first.exception
    once = Counter(loads)
    assert once == Counter(["load-vae", "load-mmd"]), once
    warm = rss_mb()

    sessions = [first] + [open_session(models) for _ in range(5)]
    for _ in range(3):
        for at in sessions:
            move_point(at, rng)
    for at in sessions:
        open_tab(at, "Interpolation")
        at.slider(key="interp_steps").set_value(int(rng.integers(3, 12))).run()
        at.button(key="interp_random").click().run()
    for i, at in enumerate(sessions):
        assert not at.exception, (i, at.exception)
        assert not [e.value for e in at.error], i
        assert sum("steps, linear" in m.value for m in at.markdown) == 2, i
        # Each session keeps its own point, and sends it to its own map.
        assert latent_map(open_tab(at, "Latent space"))["sliders"][0]["z"] == pytest.approx(at.session_state["z_A"]), i
    # Five more sessions, about 30 reruns, and each folder was still loaded once: shared, not per session.
    assert Counter(loads) == once
    grown = rss_mb() - warm
    print(f"\nRSS after the first session {warm:.0f} MB; after 5 more sessions +{grown:.0f} MB")
    assert grown < 300, f"memory grew by {grown:.0f} MB over 5 sessions"


@pytest.mark.browser
def test_four_browser_sessions_at_once(data_dir, store):
    if not os.path.exists("/usr/bin/chromium") and not os.environ.get("CHROMIUM_PATH"):
        pytest.skip("chromium not installed")
    pytest.importorskip("playwright")
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "bench_load.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # Its own thread: the e2e tests' sync Playwright keeps an event loop running on this one,
    # and asyncio.run() refuses to start inside a running loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        r = pool.submit(bench.run_load, sessions=4, moves=3, models_dir=store, data_dir=str(data_dir),
                        timeout_s=90).result()
    print(f"\n4 sessions: round trip p50 {r['roundtrip_p50_ms']:.0f} ms, p95 {r['roundtrip_p95_ms']:.0f} ms; interpolation "
          f"p50 {r['interp_p50_ms']:.0f} ms; RSS {r['rss_warm_mb']:.0f} -> peak {r['rss_peak_mb']:.0f} MB")
    assert r["errors"] == []
    assert r["sessions_ok"] == 4 and r["roundtrip_samples"] == 12
    assert r["rss_peak_mb"] - r["rss_warm_mb"] < 4 * 60, r  # per session: its state, not another model copy


# --- two users training at once -------------------------------------------------------------------

def wait(job: jobs.TrainJob, timeout: float = 180) -> jobs.JobView:
    assert job.join(timeout), f"still running after {timeout} s: {job.view()}"
    return job.view()


def test_two_users_train_at_once_each_under_its_own_tag(isolated_models_dir, no_pretrained_writes, monkeypatch):
    # Each training waits in its first step for the other to reach its own: both get through only if they
    # run at the same time. An event, whatever the CPU's speed; the timeout is a safety net only.
    together, met = threading.Barrier(2), []

    def first_steps_meet(real_loss, model, x, step):
        if model.training and step == 0:
            try:
                together.wait(timeout=120)
                met.append(True)
            except threading.BrokenBarrierError:
                met.append(False)
        return real_loss(model, x, step)

    patch_objective(monkeypatch, first_steps_meet)
    registry = jobs.JobRegistry()
    a = registry.start(ModelConfig(objective="standard", hidden=(32,), latent_dim=2), FAST, "alice-vae", owner="alice")
    b = registry.start(ModelConfig(objective="mmd", hidden=(48,), latent_dim=3), FAST.replace(seed=7), "bob-mmd",
                       owner="bob")
    assert {j.tag for j in registry.running()} <= {"alice-vae", "bob-mmd"}
    va, vb = wait(a), wait(b)
    assert va.state == vb.state == jobs.COMPLETED, (va.message, vb.message)
    assert met == [True, True], "the two trainings should have run at the same time"
    alice, bob = load_bundle(isolated_models_dir / "alice-vae"), load_bundle(isolated_models_dir / "bob-mmd")
    assert (alice.model_config.objective, alice.model_config.hidden, alice.model_config.latent_dim) == ("standard", (32,), 2)
    assert (bob.model_config.objective, bob.model_config.hidden, bob.model_config.latent_dim) == ("mmd", (48,), 3)
    assert alice.train_config.seed == 0 and bob.train_config.seed == 7
    assert alice.latents["mu"].shape == (10_000, 2) and bob.latents["mu"].shape == (10_000, 3)
    assert sorted(p.name for p in isolated_models_dir.iterdir()) == ["alice-vae", "bob-mmd"]  # no temp left
    assert registry.current("alice").tag == "alice-vae" and registry.current("bob").tag == "bob-mmd"
    assert sorted(p.name for p in no_pretrained_writes) == ["alice-vae", "bob-mmd"]
    for tag in ("alice-vae", "bob-mmd"):
        assert not (vc.PRETRAINED_DIR / tag).exists()


def test_one_training_per_session_and_two_per_server(isolated_models_dir):
    registry = jobs.JobRegistry(max_running=2)
    a = registry.start(ModelConfig(hidden=(16,)), SLOW, "slow-a", owner="alice")
    try:
        with pytest.raises(jobs.JobError, match="your training is already running .'slow-a'"):
            registry.start(ModelConfig(hidden=(16,)), FAST, "alice-second", owner="alice")
        with pytest.raises(CheckpointError, match="'slow-a' is being trained right now"):
            registry.start(ModelConfig(hidden=(16,)), FAST, "slow-a", owner="bob")
        b = registry.start(ModelConfig(hidden=(16,)), SLOW, "slow-b", owner="bob")
        with pytest.raises(jobs.JobError, match="the server is busy: 2 trainings are running"):
            registry.start(ModelConfig(hidden=(16,)), FAST, "carol", owner="carol")
        assert registry.current("carol") is None
    finally:
        for job in registry.running():
            job.cancel()
    assert wait(a).state == wait(b).state == jobs.CANCELLED
    carol = registry.start(ModelConfig(hidden=(16,)), FAST, "carol", owner="carol")  # a slot is free again
    assert wait(carol).state == jobs.COMPLETED
    assert sorted(p.name for p in isolated_models_dir.iterdir()) == ["carol"]


def test_same_tag_from_two_servers_exactly_one_saves(isolated_models_dir, no_pretrained_writes):
    """Two processes' registries sharing one models directory (as two servers would): both pass the
    start checks, both train; the first to save wins, the other is told and overwrites nothing."""
    r1, r2 = jobs.JobRegistry(), jobs.JobRegistry()
    j1 = r1.start(ModelConfig(hidden=(24,)), FAST, "shared-tag", owner="u1")
    j2 = r2.start(ModelConfig(hidden=(40,)), FAST.replace(seed=3), "shared-tag", owner="u2")
    v1, v2 = wait(j1), wait(j2)
    states = sorted([v1.state, v2.state])
    assert states == [jobs.COMPLETED, jobs.FAILED], (v1.message, v2.message)
    winner, loser = (v1, v2) if v1.state == jobs.COMPLETED else (v2, v1)
    assert "saved elsewhere while this one trained" in loser.message and "not saved" in loser.message
    assert loser.path is None
    saved = load_bundle(isolated_models_dir / "shared-tag")
    assert saved.model_config.hidden == ((24,) if winner is v1 else (40,))
    assert sorted(p.name for p in isolated_models_dir.iterdir()) == ["shared-tag"]


def test_concurrent_saves_never_interfere(tmp_path):
    def model(seed, width):
        torch.manual_seed(seed)
        return vc.build_model(ModelConfig(hidden=(width,))).eval()

    # Six threads, six tags. The models are built first: seeding torch's global generator from
    # several threads at once would race in the test, not in save_bundle.
    errors = []
    barrier = threading.Barrier(6)
    models = [model(i, 16 + i) for i in range(6)]

    def save_own(i):
        try:
            barrier.wait(30)
            save_bundle(tmp_path / f"m{i}", models[i], TrainConfig(epochs=1), metrics={"i": i})
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=save_own, args=(i,)) for i in range(6)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert errors == []
    for i in range(6):
        b = load_bundle(tmp_path / f"m{i}")
        assert b.metrics == {"i": i} and b.model_config.hidden == (16 + i,)
        expected = models[i].state_dict()
        assert all(torch.equal(v, expected[k]) for k, v in b.model.state_dict().items())

    # Four threads, one tag, no overwriting: exactly one wins, the others are refused.
    outcomes = []
    barrier4 = threading.Barrier(4)
    rivals = [model(i, 20 + i) for i in range(4)]

    def save_same(i):
        barrier4.wait(30)
        try:
            save_bundle(tmp_path / "same", rivals[i], TrainConfig(epochs=1), metrics={"i": i}, overwrite=False)
            outcomes.append(("saved", i))
        except CheckpointError as exc:
            outcomes.append(("refused", str(exc)))

    threads = [threading.Thread(target=save_same, args=(i,)) for i in range(4)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    saved = [o for o in outcomes if o[0] == "saved"]
    assert len(saved) == 1 and len(outcomes) == 4, outcomes
    assert all("not overwritten" in o[1] for o in outcomes if o[0] == "refused")
    b = load_bundle(tmp_path / "same")
    assert b.metrics == {"i": saved[0][1]} and b.model_config.hidden == (20 + saved[0][1],)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"m{i}" for i in range(6)] + ["same"])


def fill_and_train(at: AppTest, tag: str, **values) -> AppTest:
    if at.session_state["tab"] != "Train":
        open_tab(at, "Train")
    at.checkbox(key="t_evaluate").set_value(False)  # quick: these tests are about slots, not figures
    at.text_input(key="t_hidden").input("64")
    at.text_input(key="t_tag").input(tag)
    for key, value in values.items():
        at.text_input(key=key).input(str(value))
    at.button(key="t_submit").click().run()
    assert not at.exception, at.exception
    return at


def test_three_sessions_on_the_page_two_train_the_third_is_told_the_server_is_busy(models):
    sessions = [AppTest.from_file(APP, default_timeout=60) for _ in range(3)]
    for at in sessions:
        at.run()
    slow = {"t_epochs": 200, "t_batch_size": 16, "t_train_subset": 2000, "t_eval_subset": 50}
    try:
        fill_and_train(sessions[0], "page-one", **slow)
        fill_and_train(sessions[1], "page-two", **slow)
        for at in sessions[:2]:
            assert not [e.value for e in at.error]
        fill_and_train(sessions[2], "page-three", t_epochs=1, t_batch_size=64, t_train_subset=256, t_eval_subset=50)
        assert any(e.value.startswith("Not started") and "the server is busy" in e.value for e in sessions[2].error), \
            [e.value for e in sessions[2].error]
        # Each session sees its own training, and the server's load.
        for at, tag in zip(sessions[:2], ("page-one", "page-two")):
            at.run()
            texts = [p.text for p in at.progress]
            assert texts and texts[0].startswith(tag), texts
            assert any("2 of 2 training slots in use" in c.value for c in at.caption)
        assert not sessions[2].progress
        fill_and_train(sessions[0], "page-again", t_epochs=1, t_batch_size=64, t_train_subset=256, t_eval_subset=50)
        assert any("your training is already running ('page-one'" in e.value for e in sessions[0].error)
    finally:
        for at in sessions[:2]:
            at.run()
            if "t_cancel" in [b.key for b in at.button]:
                at.button(key="t_cancel").click().run()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(any("cancelled" in w.value for w in at.warning)
                                                  for at in sessions[:2]):
        time.sleep(0.3)
        for at in sessions[:2]:
            at.run()
    for at in sessions[:2]:
        assert any("cancelled" in w.value and "nothing was saved" in w.value for w in at.warning)
    assert not any((models / t).exists() for t in ("page-one", "page-two", "page-three", "page-again"))

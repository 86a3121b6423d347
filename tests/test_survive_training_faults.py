"""Training faults: divergence, cancel mid-epoch, a failing disk, and a process killed while saving.

Already proved in tests/test_train.py and not repeated: the loop's NaN guard keeps the weights of the
last finite loss (test_nan_guard_keeps_the_last_good_weights, test_nan_guard_with_a_huge_learning_rate)
and stops on should_stop (test_cancel_via_should_stop); in tests/test_checkpoints.py an exception
mid-save or at the final rename keeps the old bundle; in tests/test_app.py a cancel from the page.

Here: the same faults through a background job and the page (what is saved, what the user is told,
whether the slot is free again), and real SIGKILLs of a child process in the middle of save_bundle:
while the weights are written, in the instant the old folder is moved aside, and at random moments.
After each, load_bundle gives a whole bundle (the old one unless the new one was completely in
place), and the leftovers are dot-folders that list_models never shows and the next save removes.
"""
from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from helpers import patch_objective  # noqa: E402

import vae_core as vc
from vae_core.store import folders
from vae_core import ModelConfig, TrainConfig, list_models, load_bundle, save_bundle
from vae_core.training import jobs
from vae_core.objectives import LossParts

from helpers import open_tab

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "explorer_app.py")
TINY = ModelConfig(hidden=(32,), latent_dim=2)


def wait(job: jobs.TrainJob, timeout: float = 120) -> jobs.JobView:
    assert job.join(timeout), f"job still running after {timeout} s: {job.view()}"
    return job.view()


def nan_after(n: int, monkeypatch) -> dict:
    """The objective turns NaN from its (n+1)-th training call on: a divergence at step n, for certain.
    Returns a switch: set its "on" to False to make the objective real again."""
    calls = {"n": 0, "on": True}

    def patched(real, model, x, step):
        parts = real(model, x, step)
        if not model.training or not calls["on"]:  # the end-of-epoch test scores stay real
            return parts
        calls["n"] += 1
        if calls["n"] > n:
            return LossParts(parts.total * float("nan"), **parts.parts)
        return parts

    patch_objective(monkeypatch, patched)
    return calls


def dot_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".")) if root.exists() else []


def test_divergence_stops_keeps_the_last_good_weights_and_says_so(isolated_models_dir, monkeypatch):
    switch = nan_after(6, monkeypatch)
    registry = jobs.JobRegistry()
    job = registry.start(TINY, TrainConfig(epochs=1, batch_size=32, train_subset=512, eval_subset=100), "goes-nan",
                         owner="u1")
    v = wait(job)
    assert v.state == jobs.DIVERGED and not v.running
    kept = re.search(r"diverged at step 6 \(loss nan\); kept the weights from step (\d+)", v.message)
    assert kept and int(kept[1]) < 6, v.message  # the last snapshot whose loss was finite (taken per report)
    assert "saved as 'goes-nan'" in v.message and "marked diverged" in v.message
    bundle = load_bundle(isolated_models_dir / "goes-nan")  # finite weights, or load_bundle would refuse them
    assert bundle.metrics["status"] == "diverged" and bundle.metrics["steps"] == 6
    assert all(torch.isfinite(p).all() for p in bundle.model.parameters())
    assert v.path == str(isolated_models_dir / "goes-nan")
    assert registry.running() == []  # the slot is free again
    switch["on"] = False  # not monkeypatch.undo(): that drops VAE_MODELS_DIR too
    again = registry.start(TINY, TrainConfig(epochs=1, batch_size=64, train_subset=256, eval_subset=50), "after",
                           owner="u1")
    assert wait(again).state == jobs.COMPLETED
    assert (isolated_models_dir / "after" / "weights.pt").exists()


def test_cancel_mid_epoch_saves_nothing_and_frees_the_slot(isolated_models_dir, monkeypatch):
    # The Cancel click lands at the 5th step, wherever the clock is: a tiny model can run a
    # whole epoch between two progress reports, so polling the progress would race.
    started = {}
    calls = []

    def loss_then_cancel(real_loss, model, x, step):
        calls.append(1)
        if len(calls) == 5:
            while "job" not in started:
                time.sleep(0.001)
            started["job"].cancel()
        return real_loss(model, x, step)

    patch_objective(monkeypatch, loss_then_cancel)
    registry = jobs.JobRegistry()
    cfg = TrainConfig(epochs=1, batch_size=16, train_subset=4000, eval_subset=100)  # 250 steps in the epoch
    started["job"] = job = registry.start(TINY, cfg, "cut-short", owner="u1")
    v = wait(job)
    assert v.state == jobs.CANCELLED, v
    assert 3 <= v.step < 250 and v.epoch < 1.0  # stopped inside the epoch
    assert "cancelled at step" in v.message and "nothing was saved" in v.message
    assert not (isolated_models_dir / "cut-short").exists() and dot_folders(isolated_models_dir) == []
    assert v.path is None
    again = registry.start(TINY, cfg.replace(train_subset=256), "cut-short", owner="u1")  # same tag, same owner
    assert wait(again).state == jobs.COMPLETED
    assert load_bundle(isolated_models_dir / "cut-short").metrics["status"] == "completed"


def test_a_failing_disk_fails_the_job_cleanly(isolated_models_dir, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)  # every write: the disk is full
    registry = jobs.JobRegistry()
    v = wait(registry.start(TINY, TrainConfig(epochs=1, batch_size=64, train_subset=256, eval_subset=50),
                            "no-space", owner="u1"))
    assert v.state == jobs.FAILED and "No space left on device" in v.message, v.message
    assert isolated_models_dir.exists() and list(isolated_models_dir.iterdir()) == []  # no folder, no temp
    assert registry.running() == []


def test_divergence_on_the_page_is_an_error_message_and_the_model_is_listed(isolated_models_dir, monkeypatch):
    nan_after(3, monkeypatch)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    open_tab(at, "Train")
    at.checkbox(key="t_evaluate").set_value(False)
    at.text_input(key="t_tag").input("page-nan")
    at.text_input(key="t_epochs").input(str(1))
    at.text_input(key="t_batch_size").input(str(32))
    at.text_input(key="t_train_subset").input(str(256))
    at.text_input(key="t_eval_subset").input(str(100))
    at.button(key="t_submit").click().run()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not any("diverged" in e.value for e in at.error):
        time.sleep(0.3)
        at.run()
    assert not at.exception, at.exception
    shown = [e.value for e in at.error]
    assert any("diverged at step 3" in e and "smaller learning rate" in e for e in shown), shown
    options = [o for b in at.sidebar.selectbox if b.label == "Model B" for o in b.options]
    assert any(o.startswith("page-nan") for o in options)
    assert "Traceback" not in str([e.proto for e in at.error])


# --- SIGKILL while saving ----------------------------------------------------------------------

CHILD = r"""
import os, sys, time, random
import torch
import vae_core as vc
from vae_core.store import folders as ckpt

path, mode = sys.argv[1], sys.argv[2]

def model(v):
    torch.manual_seed(v)
    return vc.build_model(vc.ModelConfig(hidden=(256, 256))).eval()

if mode == "in-weights":  # hang half-way through writing weights.pt
    real_save = torch.save
    def slow_save(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        with open(f, "r+b") as fh:
            fh.truncate(os.path.getsize(f) // 2)
        print("ready", flush=True)
        time.sleep(60)
    ckpt.torch.save = slow_save
elif mode == "aside":  # hang in the instant the old folder has been moved aside
    real_replace = os.replace
    def slow_replace(src, dst):
        real_replace(src, dst)
        if ".old-" in str(dst):
            print("ready", flush=True)
            time.sleep(60)
    ckpt.os.replace = slow_replace
else:  # "loop": save new versions as fast as possible until killed
    print("ready", flush=True)
    v = 2
    while True:
        vc.save_bundle(path, model(v), vc.TrainConfig(epochs=1), metrics={"v": v})
        v += 1
vc.save_bundle(path, model(2), vc.TrainConfig(epochs=1), metrics={"v": 2})
print("saved", flush=True)
"""


def _model(v: int):
    torch.manual_seed(v)
    return vc.build_model(ModelConfig(hidden=(256, 256))).eval()


def kill_mid_save(path: Path, mode: str, delay: float = 0.0) -> None:
    """Run the child, wait for its 'ready' line, wait `delay`, SIGKILL it and reap it."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), mode], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip() == "ready", (line, child.stderr.read() if child.poll() is not None else "")
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)  # reaped: its pid no longer exists, so its leftovers count as abandoned
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL


def assert_whole(path: Path, allowed: set[int] | None = None) -> int:
    """The folder loads, and its weights are those of the version its metrics name.

    The expected weights are initialised again here from the version's seed, not read from the bytes the
    child wrote: a recomputation, so compared within 1e-6 (a seeded init agrees to the last bit on one
    CPU path, at most a rounding apart on another); another version differs by ≥ 0.07 in every tensor."""
    bundle = load_bundle(path)
    v = bundle.metrics["v"]
    assert allowed is None or v in allowed, v
    expected = _model(v).state_dict()
    assert bundle.model.state_dict().keys() == expected.keys()
    for key, tensor in bundle.model.state_dict().items():
        torch.testing.assert_close(tensor, expected[key], rtol=0, atol=1e-6, msg=f"version {v}, {key}")
    return v


@pytest.mark.parametrize("mode", ["in-weights", "aside"])
def test_kill_mid_save_keeps_the_old_bundle(mode, isolated_models_dir):
    root = isolated_models_dir
    path = save_bundle(root / "kept", _model(1), TrainConfig(epochs=1), metrics={"v": 1})
    kill_mid_save(path, mode)
    assert dot_folders(root), "the killed save should have left its temporary folder"
    if mode == "aside":
        assert not path.exists()  # killed in the gap: the old folder sits under a dot-name
    assert assert_whole(path) == 1  # load_bundle puts it back if needed: the OLD bundle, whole
    users = [e for e in list_models() if e.source == "user"]
    assert [(e.name, e.error) for e in users] == [("kept", None)]  # temp folders are not models
    save_bundle(path, _model(3), TrainConfig(epochs=1), metrics={"v": 3})  # the next save sweeps the dead leftovers
    assert dot_folders(root) == []
    assert assert_whole(path) == 3


def test_kill_at_random_moments_never_leaves_a_mixed_bundle(isolated_models_dir):
    root = isolated_models_dir
    path = save_bundle(root / "looped", _model(1), TrainConfig(epochs=1), metrics={"v": 1})
    rng = random.Random(1234)
    seen = set()
    for _ in range(3):
        kill_mid_save(path, "loop", delay=rng.uniform(0.05, 1.5))
        seen.add(assert_whole(path))
        assert [e.name for e in list_models() if e.source == "user"] == ["looped"]
    save_bundle(path, _model(1), TrainConfig(epochs=1), metrics={"v": 1})
    assert dot_folders(root) == [] and assert_whole(path) == 1
    print(f"\nversions found after the kills: {sorted(seen)}")

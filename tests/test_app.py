"""The page, headless: streamlit.testing.v1.AppTest runs explorer_app.py against real MNIST.

Each test gets tiny real models (one hidden layer, trained for one epoch on 512 images,
built once per session) copied into its own models directory, so the tests do not
depend on the shipped models; one test checks the shipped ones when they are present.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import vae_core as vc

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "explorer_app.py")
TINY = {"tiny-vae": ("mnist", "standard"), "tiny-mmd": ("mnist", "mmd"), "tiny-fashion": ("fashion", "standard")}


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory, data_dir) -> Path:
    """Three small trained models (real training, a second each), saved the way the page saves them."""
    store = tmp_path_factory.mktemp("tiny-models")
    for tag, (dataset, objective) in TINY.items():
        model_cfg = vc.ModelConfig(objective=objective, hidden=(64,), latent_dim=2)
        train_cfg = vc.TrainConfig(dataset=dataset, epochs=1, batch_size=128, train_subset=512, eval_subset=200)
        vc.finish_run(vc.fit(model_cfg, train_cfg, data_dir=data_dir), store / tag, data_dir=data_dir)
    return store


@pytest.fixture
def models(tiny_store, isolated_models_dir) -> Path:
    shutil.copytree(tiny_store, isolated_models_dir)
    return isolated_models_dir


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def choose(at: AppTest, side: str, path: Path) -> AppTest:
    box = next(b for b in at.sidebar.selectbox if b.label == f"Model {side}")
    box.set_value(str(path)).run()
    assert not at.exception, at.exception
    return at


def captions(at: AppTest) -> list[str]:
    return [img.caption for el in at.image for img in el.proto.imgs]


def charts(at: AppTest) -> dict[str, dict]:
    return {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def scatters(at: AppTest) -> list[dict]:
    return [spec for spec in charts(at).values() if any(t["type"] == "scattergl" for t in spec["data"])]


def array(a) -> np.ndarray:
    """Plotly ≥ 6 writes numpy arrays as base64 'bdata'."""
    if isinstance(a, dict) and "bdata" in a:
        return np.frombuffer(base64.b64decode(a["bdata"]), dtype=a["dtype"])
    return np.asarray(a)


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def wait_for(at: AppTest, done, timeout: float = 60.0) -> AppTest:
    """Rerun the page (as the progress fragment would) until `done(at)` or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.4)
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return at
    raise AssertionError(f"page did not reach the expected state in {timeout} s: {[s.value for s in at.success]}"
                         f" {errors(at)} {[w.value for w in at.warning]}")


def test_page_draws_both_models(models):
    at = choose(choose(run_app(), "A", models / "tiny-vae"), "B", models / "tiny-mmd")
    assert at.title[0].value == "VAE Explorer · MNIST"
    assert not errors(at)
    plots = scatters(at)
    assert len(plots) == 2
    for spec in plots:
        gl = [t for t in spec["data"] if t["type"] == "scattergl"]
        assert [t["name"] for t in gl] == [str(d) for d in range(10)]
        assert sum(len(array(t["x"])) for t in gl) == 10_000  # every test image
        hover_index = np.concatenate([array(t["customdata"]).ravel() for t in gl])
        assert sorted(hover_index.tolist()) == list(range(10_000))
        assert {t["name"] for t in spec["data"]} >= {"sliders", "interpolation"}
    caps = captions(at)
    assert any(c.startswith("A: 20×20 manifold") for c in caps) and any(c.startswith("B: 20×20") for c in caps)
    assert [b.label for b in at.get("download_button")] == ["Download PNG", "Download PNG"]
    side = " ".join(m.value for m in at.sidebar.markdown)
    assert "tiny-vae" in side and "latent dimension: **2**" in side and "epochs: **1**" in side
    assert any(c.value.startswith("Device: CPU") or c.value.startswith("Device: GPU") for c in at.sidebar.caption)


def test_shipped_models_are_the_defaults():
    """With the shipped models present the page needs no training and picks them."""
    for name in ("mnist-vae", "mnist-mmd"):
        if not (vc.PRETRAINED_DIR / name / "latents.npz").exists():
            pytest.skip(f"pretrained/{name} not built yet (bash pretrained/reproduce.sh)")
    at = run_app()
    assert not errors(at) and not at.warning
    picked = [Path(b.value).name for b in at.sidebar.selectbox if b.label.startswith("Model")]
    assert picked == ["mnist-vae", "mnist-mmd"]
    assert len(scatters(at)) == 2


def test_switching_dataset(models):
    at = run_app()
    at.sidebar.selectbox(key="dataset").set_value("fashion").run()
    assert not at.exception
    assert at.title[0].value == "VAE Explorer · Fashion-MNIST"
    options = [o for b in at.sidebar.selectbox if b.label == "Model A" for o in b.options]  # labels
    assert any(o.startswith("tiny-fashion") for o in options) and not any("tiny-mmd" in o for o in options)
    names = [t["name"] for t in scatters(at)[0]["data"] if t["type"] == "scattergl"]
    assert names == list(vc.DATASETS["fashion"].classes)


def test_sliders_decode_the_point_for_both_models(models):
    at = choose(choose(run_app(), "A", models / "tiny-vae"), "B", models / "tiny-mmd")
    z1 = next(s for s in at.slider if s.label == "z1")
    assert z1.min < 0.3 < z1.max
    assert [c for c in captions(at) if "z = " in c] == ["A: z = (0.00, 0.00)", "B: z = (0.00, 0.00)"]
    z1.set_value(0.3).run()
    assert not at.exception
    assert at.session_state["z"] == pytest.approx([0.3, 0.0])
    assert [c for c in captions(at) if "z = " in c] == ["A: z = (0.30, 0.00)", "B: z = (0.30, 0.00)"]
    star = next(t for t in scatters(at)[0]["data"] if t["name"] == "sliders")
    assert array(star["x"])[0] == pytest.approx(0.3, abs=1e-6)


def test_interpolation(models):
    at = choose(choose(run_app(), "A", models / "tiny-vae"), "B", models / "tiny-mmd")
    at.selectbox(key="interp_a_class").set_value(3)
    at.number_input(key="interp_a_pos").set_value(4)
    at.selectbox(key="interp_b_class").set_value(8)
    at.slider(key="interp_steps").set_value(6)
    at.radio(key="interp_method").set_value("slerp").run()
    assert not at.exception
    labels = vc.load_split("mnist", "test").labels.numpy()
    i0, i1 = np.flatnonzero(labels == 3)[4], np.flatnonzero(labels == 8)[0]
    caps = captions(at)
    assert f"start: test #{i0} (3)" in caps and f"end: test #{i1} (8)" in caps
    assert sum("6 steps, slerp" in c for c in caps) == 2
    for spec in scatters(at):
        path = next(t for t in spec["data"] if t["name"] == "interpolation")
        assert len(array(path["x"])) == 6
    at.button(key="interp_random").click().run()
    assert not at.exception
    starts = [c for c in captions(at) if c.startswith("start: test #")]
    assert len(starts) == 1


def test_samples_new_seed(models):
    at = run_app()
    assert "samples (seed 0)" in " ".join(captions(at))
    at.button(key="new_samples").click().run()
    assert "samples (seed 1)" in " ".join(captions(at))
    assert sum(c.endswith("reconstructions") for c in captions(at)) == 2


def fill_form(at: AppTest, **values) -> AppTest:
    keys = {"epochs": "t_epochs", "batch": "t_batch", "lr": "t_lr", "subset": "t_subset", "eval": "t_eval",
            "latent_dim": "t_latent_dim"}
    for name, value in values.items():
        if name == "tag":
            at.text_input(key="t_tag").input(value)
        else:
            at.number_input(key=keys[name]).set_value(value)
    at.button(key="t_submit").click().run()
    assert not at.exception, at.exception
    return at


def test_training_in_the_page(models):
    at = run_app()
    fill_form(at, tag="made-here", epochs=1, batch=64, subset=256, eval=200)
    assert not errors(at)
    wait_for(at, lambda a: any("saved as 'made-here'" in s.value for s in a.success))
    saved = vc.load_bundle(models / "made-here")
    assert saved.latents["mu"].shape == (10_000, 2) and saved.metrics["status"] == "completed"
    options = [o for b in at.sidebar.selectbox if b.label == "Model B" for o in b.options]
    assert any(o.startswith("made-here · VAE") for o in options)  # selectable at once
    assert "t_curve" in {c.key for c in at.get("plotly_chart")}
    choose(at, "B", models / "made-here")
    assert not errors(at) and len(scatters(at)) == 2


@pytest.mark.parametrize("values, message", [
    ({"lr": 0.0}, "lr must be a finite number > 0"),
    ({"lr": -0.01}, "lr must be a finite number > 0"),
    ({"batch": 0}, "batch_size must be a positive integer"),
    ({"batch": 300, "subset": 200}, "larger than the 200 training images"),
    ({"epochs": 100000}, "epochs must be at most"),
    ({"tag": "../escape"}, "invalid tag"),
    ({"tag": "a/b"}, "invalid tag"),
    ({"tag": ""}, "invalid tag"),
    ({"tag": "tiny-vae"}, "already exists"),
])
def test_bad_training_values_are_refused(models, values, message):
    at = run_app()
    values = {"tag": "fresh", **values}
    before = sorted(p.name for p in models.iterdir())
    fill_form(at, **values)
    assert any(e.startswith("Not started") and message in e for e in errors(at)), errors(at)
    assert "my_job" not in at.session_state
    assert sorted(p.name for p in models.iterdir()) == before


def test_second_training_is_refused_and_cancel_stops(models):
    at = run_app()
    fill_form(at, tag="long-one", epochs=200, batch=16, subset=2000, eval=100)
    assert not errors(at)
    fill_form(at, tag="another", epochs=1, batch=16, subset=100)
    assert any("already running" in e for e in errors(at)), errors(at)
    assert at.button(key="t_cancel")
    at.button(key="t_cancel").click().run()
    wait_for(at, lambda a: any("cancelled" in w.value for w in a.warning))
    assert not (models / "long-one").exists() and not (models / "another").exists()


def test_model_of_the_other_dataset_is_refused(models):
    at = run_app()
    at.sidebar.checkbox(key="all_models").check().run()
    choose(at, "A", models / "tiny-fashion")
    assert any("was trained on Fashion-MNIST, not MNIST" in e for e in errors(at))
    choose(at, "B", models / "tiny-mmd")
    assert len(scatters(at)) == 1  # the other side still works


def test_damaged_model_is_named_and_the_other_side_works(models):
    (models / "tiny-vae" / "weights.pt").write_bytes(b"not a checkpoint")
    at = choose(choose(run_app(), "A", models / "tiny-vae"), "B", models / "tiny-mmd")
    assert any("weights.pt" in e and "tiny-vae" in e for e in errors(at)), errors(at)
    assert len(scatters(at)) == 1
    assert any(c.startswith("B: 20×20 manifold") for c in captions(at))


def test_missing_dataset_gives_one_clear_message(models, tmp_path, monkeypatch):
    """No files and no reachable mirror: one message naming where the files go, no traceback."""
    info = vc.DATASETS["mnist"]
    monkeypatch.setitem(vc.DATASETS, "mnist", dataclasses.replace(info, mirrors=("http://127.0.0.1:9/",)))
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "nodata"))
    at = run_app()
    assert len(errors(at)) >= 1
    main = [e for e in errors(at) if "could not be read" in e]
    assert len(main) == 1 and str(tmp_path / "nodata" / "MNIST" / "raw") in main[0]
    assert not scatters(at)

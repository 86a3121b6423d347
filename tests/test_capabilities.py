"""Issue 17 §2–4, headless (AppTest): the codes forming during a training started from the page, the
epoch scrubber of a model that kept its formation (and none for one that did not), the traversal grid
of a model with d > 2, and the download buttons. The browser layer is tests/e2e/test_browser_capabilities.py.
"""
from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import vae_core as vc
from vae_core.analysis import explore
from vae_core.analysis.formation import read_formation

from helpers import open_tab
from test_app import choose, errors, fill_form, run_app, wait_for


@pytest.fixture(scope="module")
def kept_store(tmp_path_factory, data_dir) -> Path:
    """Two tiny real models that kept their formation (three epochs on 512 images): d = 2 and d = 4."""
    store = tmp_path_factory.mktemp("kept-models")
    for tag, d in (("kept-d2", 2), ("kept-d4", 4)):
        model_cfg = vc.ModelConfig(hidden=(64,), latent_dim=d)
        train_cfg = vc.TrainConfig(epochs=3, batch_size=64, train_subset=512, eval_subset=200, formation_images=500)
        vc.finish_run(vc.fit(model_cfg, train_cfg, data_dir=data_dir), store / tag, data_dir=data_dir)
    return store


@pytest.fixture
def kept(kept_store, isolated_models_dir) -> Path:
    shutil.copytree(kept_store, isolated_models_dir)
    return isolated_models_dir


def plotly(at, key: str) -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if c.key == key).proto.spec)


def trace_xy(trace: dict) -> np.ndarray:
    def values(a):
        if isinstance(a, dict) and "bdata" in a:
            return np.frombuffer(base64.b64decode(a["bdata"]), dtype=a["dtype"])
        return np.asarray(a, float)
    return np.stack([values(trace["x"]), values(trace["y"])], axis=1)


def figure_points(spec: dict) -> dict[str, np.ndarray]:
    """A codes figure's points by class name."""
    return {t["name"]: trace_xy(t) for t in spec["data"]}


def download_keys(at) -> set[str]:
    return {b.key for b in at.get("download_button")}


def test_a_training_shows_its_codes_forming_beside_the_loss(isolated_models_dir):
    """Every progress report the page reads carries the fixed subset's codes; two reports apart they
    differ, the figure beside the loss curve shows them by class, and the saved model replays them."""
    at = run_app()
    fill_form(at, tag="forming", epochs=200, batch=32, subset=512, eval=200)  # long enough to watch
    seen: list[tuple[str, dict]] = []

    def new_frame(a) -> bool:
        keys = {c.key for c in a.get("plotly_chart")}
        if "t_live_codes" not in keys:
            return False
        spec = plotly(a, "t_live_codes")
        if not seen or spec["layout"]["title"]["text"] != seen[-1][0]:
            seen.append((spec["layout"]["title"]["text"], figure_points(spec)))
        return len(seen) >= 2 and "t_curve" in keys

    wait_for(at, new_frame, timeout=120)
    (title0, points0), (title1, points1) = seen[:2]
    assert title0 != title1 and "2,000 test images' codes at step" in title1
    assert set(points1) == {str(d) for d in range(10)} and sum(len(p) for p in points1.values()) == 2000
    moved = max(np.abs(points0[k] - points1[k]).max() for k in points1)
    assert moved > 1e-4  # a new report is a new encoding, not the same codes again
    at.button(key="t_cancel_keep").click().run()
    wait_for(at, lambda a: any("saved as 'forming'" in w.value for w in a.warning), timeout=120)
    kept = read_formation(isolated_models_dir / "forming")  # what the scrubber replays
    assert kept["codes"].shape[1:] == (2000, 2) and kept["epochs"][0] == 0.0
    assert np.all(np.diff(kept["epochs"]) > 0)
    assert "t_formation_gif" in download_keys(at)  # the kept frames, as an animation


def test_the_epoch_scrubber_replays_how_the_space_formed(kept):
    at = choose(choose(run_app(), "A", kept / "kept-d2"), "B", kept / "kept-d4")
    open_tab(at, "Latent space")
    scrub = at.select_slider(key="scrub_A")
    assert scrub.options == ["0", "1", "2", "3"] and scrub.value == 3  # the trained model first
    frames = read_formation(kept / "kept-d2")
    ranges = []
    for i in (0, 2):
        scrub.set_value(i).run()
        assert not at.exception, at.exception
        spec = plotly(at, "formation_A")
        shown = np.concatenate([p for p in figure_points(spec).values()])
        order = np.concatenate([np.flatnonzero(frames["labels"] == int(k)) for k in figure_points(spec)])
        np.testing.assert_allclose(shown, frames["codes"][i][order].astype(np.float32), atol=1e-3)
        assert ("before training" if i == 0 else f"after epoch {i}") in spec["layout"]["title"]["text"]
        ranges.append((spec["layout"]["xaxis"]["range"], spec["layout"]["yaxis"]["range"]))
    assert ranges[0] == ranges[1]  # the axes hold every frame: scrubbing does not rescale them
    open_tab(at, "Samples")
    open_tab(at, "Latent space")
    assert at.select_slider(key="scrub_A").value == 2  # kept while another tab was open


def test_a_model_without_a_formation_shows_no_scrubber(kept):
    (kept / "kept-d4" / "formation.npz").unlink()
    at = choose(choose(run_app(), "A", kept / "kept-d2"), "B", kept / "kept-d4")
    open_tab(at, "Latent space")
    assert [s.key for s in at.select_slider] == ["scrub_A"]
    assert "formation_B" not in {c.key for c in at.get("plotly_chart")}


def test_a_damaged_formation_is_named_and_the_page_goes_on(kept):
    (kept / "kept-d2" / "formation.npz").write_bytes(b"not an npz")
    at = choose(run_app(), "A", kept / "kept-d2")
    open_tab(at, "Latent space")
    assert not at.exception and not at.select_slider
    assert any("formation cannot be replayed" in c.value and "formation.npz" in c.value for c in at.caption)


def test_traversals_of_a_model_with_more_latent_dimensions(kept):
    """One row per dimension, ordered by KL (most informative first); from the pinned point, the mean or
    the origin. A 2-D model gets none."""
    at = choose(choose(run_app(), "A", kept / "kept-d2"), "B", kept / "kept-d4")
    open_tab(at, "Latent space")
    captions = [i.caption for el in at.image for i in el.proto.imgs if "dimensions active" in i.caption]
    assert len(captions) == 1 and captions[0].startswith("B: kept-d4")
    assert "the origin (nothing is pinned)" in captions[0]
    at.radio(key="trav_center").set_value("mean").run()
    assert any("from the codes' mean" in i.caption for el in at.image for i in el.proto.imgs)
    at.session_state["picked"] = 7
    at.radio(key="trav_center").set_value("pin").run()
    assert any("the code of the pinned test #7" in i.caption for el in at.image for i in el.proto.imgs)
    assert {"dl_traversal_B"} <= download_keys(at) and "dl_traversal_A" not in download_keys(at)


def test_the_traversal_rows_follow_the_kl_order(kept):
    """The library half the grid uses: rows in dimension_order, each moving only its own dimension."""
    from explorer import cache

    bundle = vc.load_bundle(kept / "kept-d4")
    codes = {"mu": bundle.latents["mu"], "logvar": bundle.latents["logvar"]}
    t = cache.traversal.__wrapped__(str(kept / "kept-d4"), 0.0, (0.0,) * 4, 7, codes)
    order, score = explore.dimension_order(codes["mu"], codes["logvar"])
    assert list(t["order"]) == list(order) and np.all(np.diff(score[order]) <= 1e-9)
    assert t["images"].shape[:2] == (4, 7)
    centre = explore.decode(bundle.model, np.zeros(4, np.float32))[0]
    for row in t["images"]:  # the middle of every row is the centre itself
        np.testing.assert_allclose(row[3], centre, atol=1e-5)


def test_every_download_is_offered_where_its_picture_is(kept):
    at = choose(choose(run_app(), "A", kept / "kept-d2"), "B", kept / "kept-d4")
    open_tab(at, "Latent space")
    assert {f"dl_{what}_{side}" for what in ("map", "grid", "zip", "formation") for side in "AB"} <= download_keys(at)
    open_tab(at, "Interpolation")
    assert {f"dl_interp_{kind}_{side}" for kind in ("png", "gif") for side in "AB"} <= download_keys(at)
    assert not errors(at)


def test_a_job_encodes_live_codes_only_while_a_page_watches(mnist_test, monkeypatch, tmp_path):
    """The first report shows the untrained model's kept frame, an epoch's end its new frame; between
    them a live encode happens only while a page has called watch() recently (and within budget)."""
    from vae_core.analysis import formation as formation_module
    from vae_core.training.jobs import TrainJob
    from vae_core.training.loop import Progress

    monkeypatch.setattr(formation_module, "LIVE_SHARE", 1e9)  # the budget is tested in test_formation.py
    model_cfg = vc.ModelConfig(hidden=(32,), latent_dim=2)
    job = TrainJob(1, model_cfg, vc.TrainConfig(epochs=2), "watched", tmp_path / "watched")
    job._model = vc.build_model(model_cfg)
    job._formation = formation_module.Formation(mnist_test, vc.Inputs(binarized=True), n=200)
    untrained = job._formation.record(job._model, 0.0)

    def report(step, epoch, test=None):
        job._on_progress(Progress(step, 20, epoch, 1.0, {"total": 1.0}, test))
        return job.view()

    v = report(3, 0.3)
    assert v.codes_epoch == 0.0 and v.codes_step == 0
    np.testing.assert_allclose(v.codes.astype(np.float32), untrained, atol=2e-3)
    with torch.no_grad():  # the weights move, as a training step would move them
        for p in job._model.parameters():
            p.add_(0.05)
    assert report(5, 0.5).codes_step == 0  # nobody watching: no encode between epochs
    job.watch()
    v = report(6, 0.6)
    assert v.codes_step == 6 and np.abs(v.codes - untrained).max() > 1e-3  # a live encode of the new weights
    job._formation.record(job._model, 1.0)
    v = report(10, 1.0, test={"total": 1.0})
    assert v.codes_step == 10 and v.codes_epoch == 1.0 and v.code_labels.shape == (200,)


def pinned_digit(data_dir) -> np.ndarray:
    """A drawing as the pad pins it: (1, 28, 28) floats in [0, 1] (a test digit, shifted: not a test image)."""
    image = vc.load_split("mnist", "test", data_dir=data_dir).images[7].float().numpy() / 255.0
    return np.roll(image, 2, axis=2).astype(np.float32)


def test_the_pinned_drawing_is_an_interpolation_end_for_every_model(data_dir):
    """Pin a drawing, then walk from it to a test image: every model's walk starts at its own code of the
    drawing (encoded again here), its frames are the decoded path, and the map draws that path."""
    from helpers import latent_map
    from explorer.state import PINNED_DRAWING
    from test_app import captions as image_captions

    at = run_app()
    drawing = pinned_digit(data_dir)
    at.session_state[PINNED_DRAWING] = ("mnist", drawing)
    open_tab(at, "Interpolation").run()
    assert not at.exception, at.exception
    box = next(c for c in at.checkbox if c.label == "Start: your pinned drawing")
    box.check().run()
    assert not at.exception, at.exception
    assert "start: your pinned drawing" in image_captions(at)
    end = at.session_state["interp_b_index"]
    test = vc.load_split("mnist", "test", data_dir=data_dir)
    for name in vc.shipped_names("mnist"):
        bundle = vc.load_bundle(vc.PRETRAINED_DIR / name)
        ends = vc.encode_means(bundle.model, np.stack([drawing, bundle.inputs.of(test.images).numpy()[end]]))
        path = np.asarray(next(m["path"] for m in latent_map(open_tab(at, "Latent space").run())["models"]
                               if name in m["title"]))
        np.testing.assert_allclose(path[0], ends[0], atol=1e-5)  # starts at the drawing's code
        np.testing.assert_allclose(path[-1], ends[1], atol=1e-5)
    open_tab(at, "Interpolation").run()
    assert {f"dl_interp_{kind}_{side}" for kind in ("png", "gif") for side in "AB"} <= download_keys(at)
    box = next(c for c in at.checkbox if c.label == "Start: your pinned drawing")
    box.uncheck().run()
    assert not any("your pinned drawing" in c for c in image_captions(at) if c)


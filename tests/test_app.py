"""The page, headless: streamlit.testing.v1.AppTest runs explorer_app.py against real MNIST.

Each test gets tiny real models (one hidden layer, trained for one epoch on 512 images,
built once per session) copied into its own models directory, so the tests do not
depend on the shipped models; one test checks the shipped ones when they are present.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from helpers import latent_map, mapped_sides, open_tab, static_file

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
    box.set_value(str(path.resolve())).run()
    assert not at.exception, at.exception
    return at


def captions(at: AppTest) -> list[str]:
    return [img.caption for el in at.image for img in el.proto.imgs]


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
    data = latent_map(at)
    assert [m["side"] for m in data["models"]] == ["A", "B"]
    assert data["classes"] == [str(d) for d in range(10)]
    labels = vc.load_split("mnist", "test").labels.numpy()
    for m, tag in zip(data["models"], ("tiny-vae", "tiny-mmd")):
        # Every test code, in the map's plane, with its label: the file the browser fetches.
        raw = static_file(m["points"])
        xy = np.frombuffer(raw[:8 * 10_000], "<f4").reshape(-1, 2)
        np.testing.assert_array_equal(np.frombuffer(raw[8 * 10_000:], "<u2"), labels)
        np.testing.assert_allclose(xy, vc.load_bundle(models / tag).latents["mu"], atol=1e-6)
        # The decoder the browser runs, exported from the very weights on disk.
        spec = json.loads(static_file(m["decoder"]["spec"]))
        assert spec["latent_dim"] == 2 and len(static_file(m["decoder"]["weights"])) > 0
        assert m["grid"]["n"] == 20 and len(m["grid"]["xs"]) == 20 and static_file(m["grid"]["url"])[:4] == b"\x89PNG"
        assert m["axisNames"] == ["z1", "z2"] and "Gaussian quantiles" in m["grid"]["caption"]
    assert data["sliders"][0]["sides"] == ["A", "B"] and data["sliders"][0]["z"] == [0.0, 0.0]
    side = " ".join(m.value for m in at.sidebar.markdown)
    assert "A: tiny-vae (standard VAE)" in side and "| latent dimension | 2 | 2 |" in side and "| epochs | 1 | 1 |" in side
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
    assert mapped_sides(at) == ["A", "B"]


def test_switching_dataset(models):
    at = run_app()
    at.sidebar.selectbox(key="dataset").set_value("fashion").run()
    assert not at.exception
    assert at.title[0].value == "VAE Explorer · Fashion-MNIST"
    options = [o for b in at.sidebar.selectbox if b.label == "Model A" for o in b.options]  # labels
    assert any(o.startswith("tiny-fashion") for o in options) and not any("tiny-mmd" in o for o in options)
    assert latent_map(at)["classes"] == list(vc.DATASETS["fashion"].classes)


def test_a_released_slider_sets_the_point_of_both_models(models):
    """The map sends the sliders' point on release (as the browser does); the page keeps it, sends it
    back to the map, and a dataset switch forgets it."""
    at = choose(choose(run_app(), "A", models / "tiny-vae"), "B", models / "tiny-mmd")
    group = latent_map(at)["sliders"][0]
    lo, hi = group["ranges"][0]
    assert lo < 0 < hi and lo == -hi  # centred on the prior's centre
    at.session_state["z_A"] = at.session_state["z_B"] = [0.3, -0.2]
    at.run()
    assert latent_map(at)["sliders"][0]["z"] == pytest.approx([0.3, -0.2])
    at.session_state["z_A"] = [99.0, 0.0]  # outside the range: shown at the end of the slider
    at.run()
    assert latent_map(at)["sliders"][0]["z"] == pytest.approx([hi, 0.0])


def test_server_decodes_when_the_browser_cannot(models, monkeypatch):
    """A decoder the browser cannot run: the page says why, and sends the sliders' point decoded here."""
    from vae_core.store import export

    def refuse(model):
        raise export.UnsupportedDecoderError("this decoder has a layer the browser cannot run")

    monkeypatch.setattr(export, "decoder_export", refuse)
    at = choose(choose(run_app(), "A", models / "tiny-vae"), "B", models / "tiny-mmd")
    for m in latent_map(at)["models"]:
        assert m["decoder"] is None and "cannot run" in m["decoderError"]
    images = latent_map(at)["serverImages"]
    assert sorted(images) == ["A", "B"] and all(v.startswith("data:image/png;base64,") for v in images.values())


def test_interpolation(models):
    at = choose(choose(run_app(), "A", models / "tiny-vae"), "B", models / "tiny-mmd")
    labels = vc.load_split("mnist", "test").labels.numpy()
    open_tab(at, "Interpolation")
    at.selectbox(key="interp_a_class").set_value(3).run()
    at.selectbox(key="interp_a_index").set_value(int(np.flatnonzero(labels == 3)[4]))
    at.selectbox(key="interp_b_class").set_value(8)
    at.slider(key="interp_steps").set_value(6)
    at.radio(key="interp_method").set_value("slerp").run()
    assert not at.exception
    labels = vc.load_split("mnist", "test").labels.numpy()
    i0, i1 = np.flatnonzero(labels == 3)[4], np.flatnonzero(labels == 8)[0]
    caps = captions(at)
    assert f"start: test #{i0} (3)" in caps and f"end: test #{i1} (8)" in caps
    strips = [m.value for m in at.markdown if "6 steps, spherical (slerp)" in m.value]
    assert len(strips) == 2
    assert [c for c in caps if c.startswith("t = ")][:6] == [f"t = {t:.2f}" for t in np.linspace(0, 1, 6)]
    open_tab(at, "Latent space")
    for m in latent_map(at)["models"]:
        assert len(m["path"]) == 6 and len(m["path"][0]) == 2  # the path drawn on each map
    assert latent_map(at)["ends"] == [int(i0), int(i1)]
    open_tab(at, "Interpolation")
    assert at.slider(key="interp_steps").value == 6  # kept while another tab was open
    at.button(key="interp_random").click().run()
    assert not at.exception
    starts = [c for c in captions(at) if c.startswith("start: test #")]
    assert len(starts) == 1


def test_samples_new_seed(models):
    at = open_tab(run_app(), "Samples")
    assert "samples (seed 0)" in " ".join(captions(at))
    at.button(key="new_samples").click().run()
    assert "samples (seed 1)" in " ".join(captions(at))
    assert sum(c.endswith("reconstructions") for c in captions(at)) == 2


def fill_form(at: AppTest, *, evaluate: bool = False, hidden: str = "64", **values) -> AppTest:
    """Fill the Train tab's form and press Train. Small and quick unless asked: a 64-unit MLP, and
    no evaluation at the end (one test checks the evaluation)."""
    if at.session_state["tab"] != "Train":
        open_tab(at, "Train")
    at.checkbox(key="t_evaluate").set_value(evaluate)
    at.text_input(key="t_hidden").input(hidden)
    keys = {"epochs": "t_epochs", "batch": "t_batch_size", "lr": "t_lr", "subset": "t_train_subset", "eval": "t_eval_subset",
            "latent_dim": "t_latent_dim"}
    for name, value in values.items():
        if name == "tag":
            at.text_input(key="t_tag").input(value)
        else:
            at.text_input(key=keys[name]).input(str(value))
    at.button(key="t_submit").click().run()
    assert not at.exception, at.exception
    return at


def test_training_in_the_page(models):
    """A training from the form ends with the evaluation the shipped models carry, and the sidebar
    compares it with the others in the same table."""
    at = run_app()
    fill_form(at, tag="made-here", epochs=1, batch=64, subset=256, eval=200, evaluate=True)
    assert not errors(at)
    wait_for(at, lambda a: any("saved as 'made-here'" in s.value for s in a.success), timeout=240)
    saved = vc.load_bundle(models / "made-here")
    assert saved.latents["mu"].shape == (10_000, 2) and saved.metrics["status"] == "completed"
    evaluation = saved.metrics["evaluation"]
    # The importance-weighted estimate has a time budget (runs.PAGE_EVALUATION): on a slow or shared CPU
    # it covers fewer images, never fewer than its minimum of 100, and says how many.
    assert evaluation["n_test"] == 10_000 and evaluation["iw_nll"]["k"] == 1000
    assert 100 <= evaluation["iw_nll"]["n"] <= 1000
    assert evaluation["knn_accuracy"]["k"] == 5 and saved.metrics["geometry"]["elbo_surgery"]["defined"]
    at.run()  # the run the finished training asks for (the sidebar was drawn before it finished)
    options = [o for b in at.sidebar.selectbox if b.label == "Model B" for o in b.options]
    assert any(o.startswith("made-here · standard VAE") for o in options)  # selectable at once
    assert "t_curve" in {c.key for c in at.get("plotly_chart")}
    choose(at, "B", models / "made-here")
    assert not errors(at) and mapped_sides(open_tab(at, "Latent space")) == ["A", "B"]
    figures = " ".join(m.value for m in at.sidebar.markdown)
    # B's column holds the same figures as the shipped model's beside it.
    assert f"| {evaluation['test']['neg_elbo']:.1f} |" in figures
    assert f"| {evaluation['knn_accuracy']['accuracy']:.1%} |" in figures


@pytest.mark.parametrize("values, message", [
    ({"lr": 0.0}, "“Learning rate” must be a finite number > 0"),
    ({"lr": -0.01}, "“Learning rate” must be a finite number > 0"),
    ({"batch": 0}, "“Batch size” must be a positive integer"),
    ({"batch": 300, "subset": 200}, "larger than the 200 training images"),
    ({"epochs": 100000}, "“Epochs” must be at most"),
    ({"tag": "../escape"}, "invalid tag"),
    ({"tag": "a/b"}, "invalid tag"),
    ({"tag": "tiny-vae"}, "already exists"),
])
def test_bad_training_values_are_refused(models, values, message):
    at = run_app()
    values = {"tag": "fresh", **values}
    before = sorted(p.name for p in models.iterdir())
    fill_form(at, **values)
    assert any(e.startswith("Not started") and message in e for e in errors(at)), errors(at)
    assert sorted(p.name for p in models.iterdir()) == before


def test_every_form_error_is_shown_at_once(models):
    """lr 0, batch 0 and a bad tag in one submission: three reasons in one message, nothing started."""
    at = run_app()
    fill_form(at, tag="../x", lr=0.0, batch=0)
    message = next(e for e in errors(at) if e.startswith("Not started"))
    for reason in ("“Learning rate” must be a finite number > 0", "“Batch size” must be a positive integer", "invalid tag"):
        assert reason in message, message
    assert "(no '/', '\\\\' or '..')" in message  # the backslash survives Markdown (escaped once)


def test_an_empty_tag_is_named_for_the_user(models):
    at = open_tab(run_app(), "Train")
    assert any("It will be saved as `mnist-vae-mlp-d2-1`" in c.value for c in at.caption)
    fill_form(at, epochs=1, batch=64, subset=256, eval=100)
    assert not errors(at)
    wait_for(at, lambda a: any("saved as 'mnist-vae-mlp-d2-1'" in s.value for s in a.success))


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
    assert mapped_sides(at) == ["B"]  # the other side still works


def test_damaged_model_is_named_and_the_other_side_works(models):
    (models / "tiny-vae" / "weights.pt").write_bytes(b"not a checkpoint")
    at = choose(choose(run_app(), "A", models / "tiny-vae"), "B", models / "tiny-mmd")
    assert any("weights.pt" in e and "tiny-vae" in e for e in errors(at)), errors(at)
    assert mapped_sides(at) == ["B"]
    assert latent_map(at)["models"][0]["grid"]["n"] == 20


def test_missing_dataset_gives_one_clear_message(models, tmp_path, monkeypatch):
    """No files: one notice naming where the files go, no traceback, and the views that need no
    data (the maps, sliders, grids and samples from the stored codes) still drawn."""
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "nodata"))
    at = choose(choose(run_app(), "A", models / "tiny-vae"), "B", models / "tiny-mmd")
    notes = [w.value for w in at.warning if "not on this machine" in w.value]
    assert len(notes) == 1 and str(tmp_path / "nodata" / "MNIST" / "raw") in notes[0]
    assert notes[0].startswith("**The MNIST test images are not on this machine.**")
    assert not errors(at)
    assert mapped_sides(at) == ["A", "B"]
    assert sum(c.endswith("samples (seed 0)") for c in captions(open_tab(at, "Samples"))) == 2
    assert at.button(key="data_retry") and at.button(key="data_download")


def test_up_to_four_models_side_by_side(models):
    """Four models: each view shows all four on the same inputs; the URL says how many."""
    at = run_app()
    at.sidebar.radio(key="n_models").set_value(4).run()
    assert not at.exception and not errors(at)
    assert mapped_sides(at) == ["A", "B", "C", "D"]
    assert [b.label for b in at.sidebar.selectbox if b.label.startswith("Model")] == [f"Model {s}" for s in "ABCD"]
    caps = captions(open_tab(at, "Samples"))
    assert sum(c.endswith("samples (seed 0)") for c in caps) == 4 and sum(c.endswith("reconstructions") for c in caps) == 4
    assert sum(m.value.endswith("10 steps, linear") for m in open_tab(at, "Interpolation").markdown) == 4
    assert at.query_params["n"] in ("4", ["4"])
    side = " ".join(m.value for m in at.sidebar.markdown)
    assert "| | **A** | **B** |" in side and "| | **C** | **D** |" in side  # two tables: each fits the sidebar
    at.sidebar.radio(key="n_models").set_value(1).run()
    assert not at.exception and mapped_sides(open_tab(at, "Latent space")) == ["A"]


def test_a_person_s_order_of_clicks(models):
    """The order that crashed the page: a class chosen on the Interpolation tab, then the other
    dataset, then any button; then back, with a point picked, the sliders moved far out, and
    every tab's controls used. No exception, no error box, and nothing of MNIST left in Fashion."""
    at = choose(choose(run_app(), "A", models / "tiny-vae"), "B", models / "tiny-mmd")
    open_tab(at, "Interpolation")
    at.selectbox(key="interp_a_class").set_value(7).run()
    at.session_state["picked"] = 9999  # as a click on the map leaves it
    at.session_state["z_A"] = at.session_state["z_B"] = [3.0, -3.4]  # as a slider's release leaves it
    open_tab(at, "Latent space")
    assert not at.exception and not errors(at)
    assert latent_map(at)["models"][0]["pickedCode"] is not None
    at.sidebar.selectbox(key="dataset").set_value("fashion").run()
    assert not at.exception
    open_tab(at, "Samples")
    at.button(key="new_samples").click().run()
    at.button(key="new_test_images").click().run()
    open_tab(at, "Interpolation")
    at.button(key="interp_random").click().run()
    assert not at.exception
    fashion = vc.DATASETS["fashion"].classes
    assert at.selectbox(key="interp_a_class").value in range(10)
    assert at.selectbox(key="interp_a_class").format_func(at.selectbox(key="interp_a_class").value) in fashion
    assert at.session_state["picked"] is None
    open_tab(at, "Latent space")
    assert latent_map(at)["picked"] is None
    assert latent_map(at)["sliders"][0]["z"] == [0.0, 0.0]  # another dataset, other models: the point is reset
    open_tab(at, "Train")
    assert at.selectbox(key="t_dataset").value == "fashion"
    at.sidebar.selectbox(key="dataset").set_value("mnist").run()
    assert not at.exception
    open_tab(at, "Interpolation")
    at.slider(key="interp_steps").set_value(30).run()
    at.radio(key="interp_method").set_value("slerp").run()
    assert sum(c.startswith("t = ") for c in captions(at)) == 60  # 30 frames for each model
    open_tab(at, "Samples")
    at.slider(key="row_n").set_value(25).run()
    open_tab(at, "Latent space")
    at.slider(key="grid_n").set_value(7).run()
    at.radio(key="grid_spacing").set_value("range").run()
    assert not at.exception and not errors(at)
    grid = latent_map(at)["models"][0]["grid"]
    assert grid["n"] == 7 and "evenly spaced over the codes" in grid["caption"]


def test_a_model_of_your_own_colour_data_on_the_page(tmp_path, isolated_models_dir, data_dir):
    """A conv model trained on an .npz of 32×32 colour shapes: the sidebar lists that dataset, and every
    view shows it in colour, and the map decodes it in the browser."""
    from helpers import SHAPE_CLASSES, coloured_shapes

    x, y = coloured_shapes(300, seed=0)
    data = tmp_path / "shapes.npz"
    np.savez(data, x_train=x[:240], y_train=y[:240], x_test=x[240:], y_test=y[240:], class_names=np.array(SHAPE_CLASSES))
    record = vc.resolve_dataset(str(data))
    cfg = vc.TrainConfig(dataset=str(data), epochs=1, batch_size=32, eval_subset=20)
    result = vc.fit(vc.ModelConfig.for_dataset(record, arch="conv"), cfg)
    vc.finish_run(result, isolated_models_dir / "shapes-conv")
    at = run_app()
    assert "shapes.npz" in at.sidebar.selectbox(key="dataset").options  # listed by its file name
    at.sidebar.selectbox(key="dataset").set_value(str(data)).run()
    assert not at.exception and not errors(at), errors(at)
    assert at.title[0].value == "VAE Explorer · shapes.npz"
    m = latent_map(at)
    assert m["classes"] == list(SHAPE_CLASSES) and [x["side"] for x in m["models"]] == ["A", "B"]
    for model in m["models"]:
        assert json.loads(static_file(model["decoder"]["spec"]))["output"] == {"op": "sigmoid"}  # Bernoulli
    assert not m["serverImages"]
    open_tab(at, "Samples")
    assert not at.exception and sum(c.endswith("reconstructions") for c in captions(at)) == 2
    open_tab(at, "Interpolation")
    assert not at.exception and any(c.startswith("start: test #") for c in captions(at))
    open_tab(at, "Train")
    assert at.selectbox(key="t_dataset").value == "your own data"


def test_geometry_layers_under_the_codes(models):
    """Each layer reaches the map as a picture over the codes' plane with its explanation and scale;
    the holes layer brings prior samples that fell into holes; a pinned image brings its ellipses."""
    from PIL import Image
    import io

    at = choose(choose(run_app(), "A", models / "tiny-vae"), "B", models / "tiny-mmd")
    for kind, words in (("classes", "What each point decodes to"), ("holes", "Holes: log p(z) − log q(z)"),
                        ("stretch", "Stretch: log magnification factor")):
        at.radio(key="layer").set_value(kind).run()
        assert not at.exception and not errors(at)
        assert any(c.value.startswith(words) for c in at.caption), kind
        for m in latent_map(at)["models"]:
            layer = m["layer"]
            assert layer["kind"] == kind and layer["extent"][0] < layer["extent"][1]
            picture = Image.open(io.BytesIO(static_file(layer["url"])))
            assert picture.mode == "RGBA" and picture.size == (100, 100)  # the MLP lattice: 100 × 100
            if kind != "classes":
                assert layer["legend"]["kind"] == "scale" and layer["legend"]["lo"] < layer["legend"]["hi"]
            assert layer["legend"]["title"]  # what the colour measures, with its units
        a, b = (m["layer"]["legend"] for m in latent_map(at)["models"])
        assert (a["lo"], a["hi"]) == (b["lo"], b["hi"]), kind  # one scale on every map on screen
    assert "√det" in latent_map(at)["models"][0]["layer"]["legend"]["title"]  # the stretch's
    at.radio(key="layer").set_value("holes").run()
    assert any("Prior samples that fell into holes" in m.value for m in at.markdown)
    at.session_state["picked"] = 7
    at.run()
    a, b = latent_map(at)["models"]
    assert [e["sigma"] for e in a["ellipses"]] == [1, 2] and b["ellipses"] == []  # the MMD-VAE has no q(z|x)
    assert any("a deterministic encoder, so no ellipse" in c.value for c in at.caption)


def test_the_geodesic_beside_the_straight_line(models):
    at = choose(choose(run_app(), "A", models / "tiny-vae"), "B", models / "tiny-mmd")
    open_tab(at, "Interpolation")
    at.checkbox(key="geodesic").check().run()
    assert not at.exception and not errors(at)
    lengths = [m.value for m in at.markdown if "geodesic (16 points)" in m.value]
    assert len(lengths) == 2
    for text in lengths:  # "... travel **a** against **b** along the straight line (ratio r; ..."
        a, b = (float(v) for v in text.split("**")[1:4:2])
        assert a <= b + 1e-6  # never longer than the straight line
    open_tab(at, "Latent space")
    assert all(len(m["geodesic"]) == 16 for m in latent_map(at)["models"])  # dashed on both maps


def test_the_sidebar_shows_the_kl_ledger(models):
    """The shipped models carry their ledger; a model without one can have it measured from its codes."""
    at = run_app()
    figures = " ".join(m.value for m in at.sidebar.markdown)
    shipped = vc.load_bundle(vc.PRETRAINED_DIR / "mnist-vae").metrics["geometry"]["elbo_surgery"]
    assert f"| E[KL] = I + KL(q‖p) (nats) | {shipped['expected_kl']:.2f} = " in figures
    assert f"| {shipped['expected_kl']:.2f} = " in figures and "| —† |" in figures  # B: the MMD-VAE
    assert "| active units | 2/2 | 2/2 |" in figures
    assert any("deterministic encoder" in c.value for c in at.sidebar.caption)
    choose(at, "B", models / "tiny-vae")
    at.button(key="measure_ledgers").click().run()
    assert not at.exception
    figures = " ".join(m.value for m in at.sidebar.markdown)
    row = next(line for line in figures.split("\n") if line.startswith("| E[KL]"))
    kl, info = (float(v) for v in row.split("|")[3].replace("=", "+").split("+")[:2])
    assert 0 <= info <= kl + 0.01  # the information the codes carry is part of E[KL] (rounded to 2 places)
    assert info <= np.log(10_000)  # and at most log N

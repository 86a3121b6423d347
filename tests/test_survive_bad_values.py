"""Bad names and values: refused before anything runs or is written, with a message naming the value;
tags never leave the models directory; a model of the other dataset is named, not drawn.

Already proved elsewhere and not repeated: tests/test_checkpoints.py::test_invalid_tags_refused
("../x", "a/b", "", "..", 100 characters, ".hidden", "a\\b", "a..b", "/abs", None) and
test_tag_path_stays_inside_the_models_dir; tests/test_train.py::test_bad_train_config_is_refused
(lr 0, -1, NaN; batch 0; ...) and test_batch_larger_than_the_dataset_is_a_config_error;
tests/test_cli.py::test_bad_values_exit_2_with_one_line (the CLI); tests/test_app.py::
test_bad_training_values_are_refused (the form: lr 0 and -0.01, batch 0, batch above the subset,
100000 epochs, "../escape", "a/b", "", an existing tag) and
test_model_of_the_other_dataset_is_refused.

Here: many more tags (unicode look-alikes, control characters, shell and URL syntax, a symlink
leading out of the models directory) through tag_path and JobRegistry.start, with the whole
directory tree compared before and after; every hyper-parameter out of range through the config
and the registry; the form with latent dimension 0, epochs 0 and absurd values in one session; the
other dataset's model and hostile URL parameters on the page, with no traceback anywhere.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from helpers import assert_no_traceback, mapped_sides, open_tab, save_untrained_model  # noqa: E402

import vae_core as vc
from vae_core import CheckpointError, ConfigError, ModelConfig, TrainConfig, tag_path
from vae_core.training import jobs

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "explorer_app.py")

BAD_TAGS = [
    "../x", "../../etc/passwd", "a/../../b", "./x", "x/", "/tmp/x", "a\\b", "..\\x", "..", ".", "...",
    "a..b", ".hidden", "-rf", "_x", "~", "~/x", "$HOME", "${HOME}", "a b", " x", "x ", "a\tb", "a\nb", "x\n", "x\r",
    "a\x00b", "x;rm -rf", "a|b", "a&b", "a>b", "<script>", "a'b", 'a"b', "a*", "a?", "a:b", "%2e%2e",
    "%2F", "file://x", "ﬁle", "a\u2215b", "a\u2044b", "ａｂｃ", "модель", "模型", "x\u200b", "é",
    "a" * 65, "", None, 3, b"bytes", ["x"],
]


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("tag", BAD_TAGS, ids=lambda t: repr(t)[:24])
def test_bad_tag_is_refused_and_creates_nothing(tag, tmp_path):
    root = tmp_path / "models"
    root.mkdir()
    before = tree(tmp_path)
    with pytest.raises(CheckpointError, match="invalid tag"):
        tag_path(tag, root)
    registry = jobs.JobRegistry()
    with pytest.raises(CheckpointError, match="invalid tag"):
        registry.start(ModelConfig(hidden=(8,)), TrainConfig(epochs=1, train_subset=64), tag, models_root=root)
    assert registry.current() is None and registry.running() == []
    assert tree(tmp_path) == before


def test_good_tags_stay_inside(tmp_path):
    root = tmp_path / "models"
    root.mkdir()
    for tag in ("a", "A-1", "mnist_vae.d8", "x" * 64, "2024-01-01", "v1.2.3"):
        path = tag_path(tag, root)
        assert path.parent == root.resolve() and path.name == tag


def test_a_symlink_out_of_the_models_dir_is_refused(tmp_path):
    root, outside = tmp_path / "models", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "sneaky")
    with pytest.raises(CheckpointError, match="would leave the models directory"):
        tag_path("sneaky", root)
    with pytest.raises(CheckpointError, match="leave the models directory"):
        jobs.JobRegistry().start(ModelConfig(hidden=(8,)), TrainConfig(epochs=1, train_subset=64), "sneaky",
                                 models_root=root)
    assert list(outside.iterdir()) == []


BAD_MODEL = [
    (dict(latent_dim=0), "latent_dim must be a positive integer"),
    (dict(latent_dim=-3), "latent_dim must be a positive integer"),
    (dict(latent_dim=257), "latent_dim must be at most 256"),
    (dict(latent_dim=2.5), "latent_dim must be a positive integer"),
    (dict(latent_dim=True), "latent_dim must be a positive integer"),
    (dict(hidden=()), "hidden must be a non-empty"),
    (dict(hidden=(0,)), "hidden layer width must be a positive integer"),
    (dict(hidden=(10**6,)), "hidden layer width must be at most"),
    (dict(objective="gan"), "objective must be one of"),
    (dict(arch="transformer"), "arch must be one of"),
    (dict(image_shape=(1, 8, 8)), "sides of 16 to 64 pixels"),
    (dict(image_shape=(4, 28, 28)), "1 or 3 channels"),
    (dict(likelihood="poisson"), "likelihood must be one of bernoulli, cbernoulli, gaussian"),
    (dict(prior="flow"), "prior must be one of standard, vamp, mog"),
    (dict(prior="vamp", objective="mmd"), "needs a stochastic encoder"),
]
BAD_TRAIN = [
    (dict(lr=0), "lr must be a finite number > 0"),
    (dict(lr=-1e-3), "lr must be a finite number > 0"),
    (dict(lr=float("nan")), "lr must be a finite number > 0"),
    (dict(lr=float("inf")), "lr must be a finite number > 0"),
    (dict(lr=1e6), "lr must be at most 10"),
    (dict(lr="0.001"), "lr must be a finite number"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(batch_size=-128), "batch_size must be a positive integer"),
    (dict(batch_size=10**7), "batch_size must be at most 60000"),
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(epochs=-1), "epochs must be a positive integer"),
    (dict(epochs=10**9), "epochs must be at most 1000"),
    (dict(epochs=float("inf")), "epochs must be a positive integer"),
    (dict(max_iters=0), "max_iters must be a positive integer"),
    (dict(train_subset=0), "train_subset must be a positive integer"),
    (dict(train_subset=10**8), "train_subset must be at most 10000000"),
    (dict(beta=-1.0), "beta must be a finite number ≥ 0"),
    (dict(mmd_lambda=float("nan")), "mmd_lambda must be a finite number ≥ 0"),
    (dict(samples=0), "samples must be a positive integer"),
    (dict(eval_subset=-1), "eval_subset must be an integer ≥ 0"),
    (dict(seed=-1), "seed must be an integer ≥ 0"),
    (dict(dataset="cifar10"), "dataset must be one of mnist, fashion"),
    (dict(dataset="mnist; rm -rf"), "dataset must be one of"),
    (dict(dataset=3), "dataset must be"),
    (dict(device="tpu"), "device must be one of"),
]


@pytest.mark.parametrize("bad, message", BAD_MODEL + BAD_TRAIN, ids=lambda v: str(v)[:30])
def test_out_of_range_value_is_refused_naming_it(bad, message):
    cls = ModelConfig if (bad, message) in BAD_MODEL else TrainConfig
    with pytest.raises(ConfigError) as err:
        cls(**bad)
    assert message in str(err.value)


def test_batch_larger_than_the_data_is_refused_before_a_thread_starts(isolated_models_dir):
    registry = jobs.JobRegistry()
    with pytest.raises(ConfigError, match="batch_size 300 is larger than the 200 training images"):
        registry.start(ModelConfig(hidden=(8,)), TrainConfig(batch_size=300, train_subset=200), "too-big")
    assert registry.current() is None and not isolated_models_dir.exists()


def test_cuda_without_a_gpu_is_refused_at_start(isolated_models_dir):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        jobs.JobRegistry().start(ModelConfig(hidden=(8,)), TrainConfig(device="cuda", train_subset=64, batch_size=32), "gpu-one")


# --- the page ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def store(tmp_path_factory, data_dir) -> Path:
    """Three small untrained models (MNIST standard and MMD, Fashion-MNIST) with their codes."""
    root = tmp_path_factory.mktemp("values-models")
    for tag, dataset, objective in (("m-vae", "mnist", "standard"), ("m-mmd", "mnist", "mmd"),
                                    ("f-vae", "fashion", "standard")):
        save_untrained_model(root / tag, dataset=dataset, objective=objective, hidden=(16,), data_dir=data_dir)
    return root


@pytest.fixture
def models(store, isolated_models_dir) -> Path:
    shutil.copytree(store, isolated_models_dir)
    return isolated_models_dir


def run_app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert_no_traceback(at)
    return at


FORM_KEYS = {"epochs": "t_epochs", "batch": "t_batch_size", "lr": "t_lr", "subset": "t_train_subset", "eval": "t_eval_subset",
             "latent_dim": "t_latent_dim", "beta": "t_beta", "lam": "t_mmd_lambda", "seed": "t_seed"}
FORM_CASES = [
    ({"latent_dim": 0}, "“Latent dimension” must be a positive integer"),
    ({"latent_dim": -2}, "“Latent dimension” must be a positive integer"),
    ({"latent_dim": 10_000}, "“Latent dimension” must be at most 256"),
    ({"epochs": 0}, "“Epochs” must be a positive integer"),
    ({"epochs": 10**9}, "“Epochs” must be at most 1000"),
    ({"batch": -16}, "“Batch size” must be a positive integer"),
    ({"batch": 70_000}, "“Batch size” must be at most 60000"),
    ({"lr": -1.0}, "“Learning rate” must be a finite number > 0"),
    ({"lr": 1e9}, "“Learning rate” must be at most 10"),
    ({"beta": -0.5}, "“β: weight of the KL term” must be a finite number ≥ 0"),
    ({"lam": -1.0}, "“λ: weight of the MMD term” must be a finite number ≥ 0"),
    ({"seed": -5}, "“Seed” must be an integer ≥ 0"),
    ({"subset": -100}, "“Training images (0: all)” must be a positive integer"),
    ({"eval": -1}, "“Test images scored per epoch” must be an integer ≥ 0"),
    ({"tag": "..\\up"}, "invalid tag"),
    ({"tag": "<img src=x onerror=alert(1)>"}, "invalid tag"),
    ({"tag": "m-vae"}, "already exists"),
    ({"tag": "Ⅿodel"}, "invalid tag"),
    ({"epochs": "ten"}, "“Epochs” must be a whole number; got “ten”"),
    ({"batch": ""}, "“Batch size” must be a whole number; the field is empty"),
    ({"lr": "1e-3x"}, "“Learning rate” must be a number; got “1e-3x”"),
    ({"epochs": 2.5}, "“Epochs” must be a whole number; got “2.5”"),
]


def test_the_form_refuses_every_bad_value_in_one_session(models):
    at = open_tab(run_app(), "Train")
    before = tree(models)
    for values, message in FORM_CASES:
        values = {"tag": "fresh", **values}
        # λ is asked for only when the MMD-VAE is chosen (and β only for the standard VAE).
        at.selectbox(key="t_objective").set_value("mmd" if "lam" in values else "standard").run()
        for name, value in values.items():
            if name == "tag":
                at.text_input(key="t_tag").input(value)
            else:
                at.text_input(key=FORM_KEYS[name]).input(str(value))
        at.button(key="t_submit").click().run()
        assert_no_traceback(at)
        shown = [e.value for e in at.error]
        assert any(e.startswith("Not started") and message in e for e in shown), (values, shown)
        for name, value in values.items():  # the field keeps what was typed
            assert at.text_input(key="t_tag" if name == "tag" else FORM_KEYS[name]).value == str(value)
        defaults = {"epochs": 10, "batch": 128, "lr": 1e-3, "subset": 0, "eval": 2000, "latent_dim": 2,
                    "beta": 1.0, "lam": 1000.0, "seed": 0}
        for name in values:
            if name != "tag":
                at.text_input(key=FORM_KEYS[name]).input(str(defaults[name]))
    assert tree(models) == before


def test_model_of_the_other_dataset_is_named_not_drawn(models):
    at = run_app()
    at.sidebar.checkbox(key="all_models").check().run()
    for side, other in (("A", "m-vae"), ("B", "m-mmd")):
        next(b for b in at.sidebar.selectbox if b.label == f"Model {side}").set_value(str((models / other).resolve())).run()
    next(b for b in at.sidebar.selectbox if b.label == "Model A").set_value(str((models / "f-vae").resolve())).run()
    assert_no_traceback(at)
    shown = [e.value for e in at.error]
    assert any("f-vae was trained on Fashion-MNIST, not MNIST" in e for e in shown), shown
    assert mapped_sides(at) == ["B"]
    captions = [img.caption for el in open_tab(at, "Samples").image for img in el.proto.imgs]
    assert not any(c.startswith("A: ") for c in captions) and any(c.startswith("B: ") for c in captions)
    # Switching the dataset makes the same model drawable, and the MNIST one is then named.
    at.sidebar.selectbox(key="dataset").set_value("fashion").run()
    assert_no_traceback(at)
    assert at.title[0].value == "VAE Explorer · Fashion-MNIST"


@pytest.mark.parametrize("query", [
    {"dataset": "cifar10"},
    {"dataset": "../../etc"},
    {"a": "../../etc/passwd", "b": "<script>alert(1)</script>"},
    {"dataset": "fashion", "a": "m-vae", "b": "m-mmd"},
    {"a": "x" * 5000},
])
def test_hostile_url_parameters_fall_back_to_a_valid_view(models, query):
    at = run_app(query)
    assert any(i.value.startswith("**This link asks for what is not here.**") for i in at.info)  # said, not hidden
    assert at.title[0].value in ("VAE Explorer · MNIST", "VAE Explorer · Fashion-MNIST")
    assert at.session_state["dataset"] in vc.DATASETS
    for box in at.sidebar.selectbox:
        if box.label.startswith("Model"):
            assert Path(box.value).parent in (models, models.resolve(), vc.PRETRAINED_DIR)

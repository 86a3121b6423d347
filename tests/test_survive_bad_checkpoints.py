"""Damaged model folders: one CheckpointError naming the file, the folder left as it was, and on the
page one st.error for that side (the other side still drawn) with no traceback.

Already proved in tests/test_checkpoints.py and not repeated as unit tests here: truncated and garbage
weights and a missing weights file (test_damaged_weights_refused), NaN weights and a non-tensor
object in weights.pt (test_non_finite_and_pickled_weights_refused), malformed config JSON, a list,
no format_version, a missing section, a bad value, an unknown key (test_malformed_config_refused), a
missing config and folder (test_missing_config_and_folder_refused), config shapes that disagree with
the weights (test_config_and_weights_disagree), a future format version
(test_future_format_version_refused), an exception mid-save and at the final rename keeping the old
bundle. The pickle payload that would create a marker file is in tests/test_security.py; a process
killed mid-save is in tests/test_survive_training_faults.py.

Here: every damage (those above and more: an empty weights file, weights.pt as a folder, extra or
renamed tensors, an integer in the state dict, undecodable bytes in config.json, an unknown dataset,
damaged or pickled latents.npz, malformed metrics.json) through `load_bundle`, `list_models` and the page.
"""
from __future__ import annotations

import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from helpers import assert_no_traceback, mapped_sides  # noqa: E402

import vae_core as vc
from vae_core import CheckpointError, ModelConfig, TrainConfig, build_model, list_models, load_bundle, save_bundle

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "explorer_app.py")
MODEL = ModelConfig(hidden=(16,), latent_dim=2)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def good_bundle(tmp_path_factory, data_dir) -> Path:
    """A small untrained model with its test-set codes, saved the way the page saves models."""
    torch.manual_seed(0)
    model = build_model(MODEL).eval()
    test = vc.load_split("mnist", "test", data_dir=data_dir)
    path = tmp_path_factory.mktemp("good") / "good"
    save_bundle(path, model, TrainConfig(epochs=1), metrics={"epochs": 1},
                latents={"mu": vc.encode_means(model, test.images), "labels": test.labels.numpy()})
    return path


def _edit_config(change):
    def damage(path: Path):
        cfg = json.loads((path / "config.json").read_text())
        change(cfg)
        (path / "config.json").write_text(json.dumps(cfg))
    return damage


def _write(name: str, data: bytes):
    return lambda path: (path / name).write_bytes(data)


def _truncate(name: str, keep: float):
    def damage(path: Path):
        data = (path / name).read_bytes()
        (path / name).write_bytes(data[: int(len(data) * keep)])
    return damage


def _state(change):
    def damage(path: Path):
        state = torch.load(path / "weights.pt", weights_only=True)
        change(state)
        torch.save(state, path / "weights.pt")
    return damage


def _weights_dir(path: Path):
    (path / "weights.pt").unlink()
    (path / "weights.pt").mkdir()


def _latents_object_array(path: Path):
    np.savez(path / "latents.npz", mu=np.array([{"a": 1}] * 3, dtype=object), labels=np.zeros(3, np.int64))


def _zip_member_missing(path: Path):
    (path / "weights.pt").unlink()
    with zipfile.ZipFile(path / "weights.pt", "w") as out:
        out.writestr("archive/version", "3\n")  # a torch-looking zip without data.pkl


# name -> (damage, file the message names, words it must hold, listed as unreadable by list_models)
DAMAGES = {
    "weights truncated": (_truncate("weights.pt", 0.5), "weights.pt", "cannot be loaded safely", False),
    "weights empty": (_write("weights.pt", b""), "weights.pt", "cannot be loaded safely", False),
    "weights garbage": (_write("weights.pt", b"\x00\xffnot a checkpoint" * 50), "weights.pt", "cannot be loaded", False),
    "weights a raw pickle": (_write("weights.pt", pickle.dumps({"w": [1.0, 2.0]}, protocol=2)), "weights.pt",
                             "cannot be loaded safely", False),
    "weights zip without data": (_zip_member_missing, "weights.pt", "cannot be loaded safely", False),
    "weights a folder": (_weights_dir, "weights.pt", "cannot be loaded safely", False),
    "weights missing": (lambda p: (p / "weights.pt").unlink(), "weights.pt", "missing", False),
    "weights NaN": (_state(lambda s: s[next(iter(s))].fill_(float("nan"))), "weights.pt", "NaN", False),
    "weights with an extra tensor": (_state(lambda s: s.update(extra=torch.zeros(3))), "weights.pt",
                                     "does not match config.json", False),
    "weights with an integer": (_state(lambda s: s.update({next(iter(s)): 3})), "weights.pt",
                                "not a state dict of tensors", False),
    "weights of another latent size": (_edit_config(lambda c: c["model"].update(latent_dim=5)), "weights.pt",
                                       "shape", False),
    "weights of other layers": (_edit_config(lambda c: c["model"].update(hidden=[16, 16])), "weights.pt",
                                "does not match config.json", False),
    "config missing": (lambda p: (p / "config.json").unlink(), "config.json", "missing", True),
    "config not JSON": (_write("config.json", b"{\"format_version\": 1, "), "config.json", "not valid JSON", True),
    "config undecodable bytes": (_write("config.json", b"\xff\xfe\x00garbage"), "config.json", "not valid JSON", True),
    "config a list": (_write("config.json", b"[1, 2]"), "config.json", "JSON object", True),
    "config without version": (_edit_config(lambda c: c.pop("format_version")), "config.json", "format_version", True),
    "config from the future": (_edit_config(lambda c: c.update(format_version=99)), "config.json",
                               "newer than this vae_core reads", True),
    "config unknown key": (_edit_config(lambda c: c["model"].update(colour="blue")), "config.json", "unknown", True),
    "config unknown dataset": (_edit_config(lambda c: c["train"].update(dataset="cifar")), "config.json",
                               "dataset must be one of", True),
    "config latent 0": (_edit_config(lambda c: c["model"].update(latent_dim=0)), "config.json", "latent_dim", True),
    "latents truncated": (_truncate("latents.npz", 0.4), "latents.npz", "cannot be read", False),
    "latents pickled objects": (_latents_object_array, "latents.npz", "cannot be read", False),
    "latents of another size": (lambda p: np.savez(p / "latents.npz", mu=np.zeros((10, 3), np.float32),
                                                   labels=np.zeros(10, np.int64)), "latents.npz", "do not fit", False),
    "metrics not JSON": (_write("metrics.json", b"{oops"), "metrics.json", "not valid JSON", False),
}


@pytest.fixture
def damaged_store(good_bundle, isolated_models_dir) -> Path:
    """The models directory: the good model, and one copy per damage named after it."""
    isolated_models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(good_bundle, isolated_models_dir / "good")
    for i, (name, (damage, *_)) in enumerate(DAMAGES.items()):
        path = isolated_models_dir / f"bad{i:02d}"
        shutil.copytree(good_bundle, path)
        damage(path)
    return isolated_models_dir


def test_every_damage_is_refused_naming_the_file_and_kept(damaged_store):
    for i, (name, (_, culprit, words, unreadable)) in enumerate(DAMAGES.items()):
        path = damaged_store / f"bad{i:02d}"
        before = snapshot(path)
        with pytest.raises(CheckpointError) as err:
            load_bundle(path)
        msg = str(err.value)
        assert str(path / culprit) in msg and words in msg, f"{name}: {msg}"
        assert "\n" not in msg and "Traceback" not in msg, f"{name}: {msg}"
        assert snapshot(path) == before, name  # refused, not repaired or deleted
    entries = {e.name: e for e in list_models() if e.source == "user"}
    assert len(entries) == len(DAMAGES) + 1  # every folder is listed, damaged or not
    for i, (name, (*_, unreadable)) in enumerate(DAMAGES.items()):
        entry = entries[f"bad{i:02d}"]
        assert bool(entry.error) == unreadable, name
        if unreadable:
            assert "config.json" in entry.error and entry.label.endswith("(unreadable)")
    assert load_bundle(damaged_store / "good").latents["mu"].shape == (10_000, 2)


def test_every_damage_on_the_page_names_the_model_and_spares_the_other_side(damaged_store):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert_no_traceback(at)
    next(b for b in at.sidebar.selectbox if b.label == "Model B").set_value(str((damaged_store / "good").resolve())).run()
    assert_no_traceback(at)
    for i, (name, (_, culprit, words, _)) in enumerate(DAMAGES.items()):
        folder = damaged_store / f"bad{i:02d}"
        box = next(b for b in at.sidebar.selectbox if b.label == "Model A")
        box.set_value(str(folder.resolve())).run()
        assert_no_traceback(at)
        errors = [e.value for e in at.error]
        mine = [e for e in errors if f"bad{i:02d}" in e and culprit in e]
        assert mine and all(words in e for e in mine), f"{name}: {errors}"
        assert mapped_sides(at) == ["B"], name  # side B still drawn
        captions = [img.caption for el in at.image for img in el.proto.imgs]
        assert any(c.startswith("B: good") for c in captions), name  # B's samples still drawn
        assert not any(c.startswith("A: ") for c in captions), name

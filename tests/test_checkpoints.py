"""Model folders: round trip, atomic replacement, refusals with CheckpointError naming the file."""
import json
import os

import numpy as np
import pytest
import torch

from vae_core import (
    CheckpointError,
    ModelConfig,
    PRETRAINED_DIR,
    TrainConfig,
    build_model,
    list_models,
    load_bundle,
    models_dir,
    save_bundle,
    tag_path,
    validate_tag,
)
from vae_core.store import folders as ckpt

TRAIN_CFG = TrainConfig(epochs=1, train_subset=256)


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return build_model(ModelConfig(**{"hidden": (32,), **kw})).eval()


@pytest.fixture
def x():
    return torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def _outputs(model, x):
    with torch.no_grad():
        mu, logvar = model.encode(x)
        return mu, logvar, model.decode(mu)


@pytest.mark.parametrize("cfg", [dict(), dict(objective="mmd", latent_dim=5), dict(arch="conv", latent_dim=3)])
def test_round_trip_gives_identical_outputs(tmp_path, x, cfg):
    model = _model(**cfg)
    latents = {"mu": np.random.default_rng(0).normal(size=(10, model.latent_dim)), "labels": np.arange(10)}
    path = save_bundle(tmp_path / "m", model, TRAIN_CFG, metrics={"nll": 1.5, "bad": float("nan")},
                       latents=latents)
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "latents.npz", "metrics.json", "weights.pt"]
    bundle = load_bundle(path)
    assert bundle.model_config == model.config
    assert bundle.train_config == TRAIN_CFG
    assert bundle.metrics == {"nll": 1.5, "bad": None}  # NaN stored as null: JSON has none
    assert bundle.latents["mu"].shape == (10, model.latent_dim)
    np.testing.assert_allclose(bundle.latents["mu"], latents["mu"].astype(np.float32))
    assert bundle.name == "m" and bundle.dataset == "mnist"
    loaded = bundle.model.state_dict()
    assert loaded.keys() == model.state_dict().keys()
    for k, v in model.state_dict().items():  # the stored bytes come back exactly
        assert torch.equal(loaded[k], v), k
    # The outputs are computed again by each model: float32 sums that another SIMD path, thread split or
    # buffer alignment may order otherwise, ~1e-7 relative (codes and logits of a few units at most).
    for a, b in zip(_outputs(model, x), _outputs(bundle.model, x)):
        if a is None:
            assert b is None
        else:
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_float16_storage_within_tolerance(tmp_path, x):
    model = _model()
    full = save_bundle(tmp_path / "full", model, TRAIN_CFG)
    half = save_bundle(tmp_path / "half", model, TRAIN_CFG, half=True)
    assert (half / "weights.pt").stat().st_size < 0.6 * (full / "weights.pt").stat().st_size
    loaded = load_bundle(half).model
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    mu_a, _, img_a = _outputs(model, x)
    mu_b, _, img_b = _outputs(loaded, x)
    # float16 keeps ~3 decimal digits: codes and logits agree to 1e-2 absolute here.
    torch.testing.assert_close(mu_b, mu_a, atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(img_b, img_a, atol=1e-2, rtol=1e-2)


def test_saving_twice_replaces_the_whole_bundle(tmp_path):
    path = tmp_path / "m"
    save_bundle(path, _model(0), TRAIN_CFG, latents={"mu": np.zeros((3, 2)), "labels": np.zeros(3)})
    assert (path / "latents.npz").exists()
    second = _model(1)
    save_bundle(path, second, TRAIN_CFG, metrics={"v": 2})
    assert not (path / "latents.npz").exists()  # nothing left over from the first bundle
    bundle = load_bundle(path)
    assert bundle.metrics == {"v": 2}
    for k, v in second.state_dict().items():
        assert torch.equal(bundle.model.state_dict()[k], v)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp or old folders


def test_failure_mid_save_keeps_the_old_bundle(tmp_path, monkeypatch):
    path = tmp_path / "m"
    first = _model(0)
    save_bundle(path, first, TRAIN_CFG, metrics={"v": 1})
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", broken_save)
    with pytest.raises(CheckpointError, match="disk full"):
        save_bundle(path, _model(1), TRAIN_CFG, metrics={"v": 2})
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    assert load_bundle(path).metrics == {"v": 1}


def test_config_and_weights_disagree(tmp_path):
    path = save_bundle(tmp_path / "m", _model(), TRAIN_CFG)
    cfg = json.loads((path / "config.json").read_text())
    cfg["model"]["hidden"] = [64]
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="weights.pt") as err:
        load_bundle(path)
    assert "shape" in str(err.value)
    cfg["model"]["hidden"] = [32, 32]  # other layers altogether
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="weights.pt.*does not match config.json"):
        load_bundle(path)


def test_damaged_weights_refused(tmp_path):
    path = save_bundle(tmp_path / "m", _model(), TRAIN_CFG)
    data = (path / "weights.pt").read_bytes()
    (path / "weights.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="weights.pt"):
        load_bundle(path)
    (path / "weights.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="weights.pt"):
        load_bundle(path)
    (path / "weights.pt").unlink()
    with pytest.raises(CheckpointError, match="weights.pt: missing"):
        load_bundle(path)


def test_non_finite_and_pickled_weights_refused(tmp_path):
    model = _model()
    path = save_bundle(tmp_path / "m", model, TRAIN_CFG)
    state = model.state_dict()
    key = next(iter(state))
    state[key] = state[key].clone().fill_(float("nan"))
    torch.save(state, path / "weights.pt")
    with pytest.raises(CheckpointError, match="NaN"):
        load_bundle(path)
    torch.save({"weights": object()}, path / "weights.pt")  # would need unpickling arbitrary code
    with pytest.raises(CheckpointError, match="weights.pt"):
        load_bundle(path)


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"model": {}, "train": {}}', "format_version"),
    ('{"format_version": 1, "train": {}}', "missing section"),
    ('{"format_version": 1, "model": {"latent_dim": -1}, "train": {}}', "latent_dim"),
    ('{"format_version": 1, "model": {"colour": 1}, "train": {}}', "unknown"),
])
def test_malformed_config_refused(tmp_path, content, match):
    path = save_bundle(tmp_path / "m", _model(), TRAIN_CFG)
    (path / "config.json").write_text(content)
    with pytest.raises(CheckpointError, match=match) as err:
        load_bundle(path)
    assert "config.json" in str(err.value)


def test_missing_config_and_folder_refused(tmp_path):
    path = save_bundle(tmp_path / "m", _model(), TRAIN_CFG)
    (path / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json: missing"):
        load_bundle(path)
    with pytest.raises(CheckpointError, match="no such model folder"):
        load_bundle(tmp_path / "nothing")


def test_future_format_version_refused(tmp_path):
    path = save_bundle(tmp_path / "m", _model(), TRAIN_CFG)
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["format_version"] == ckpt.FORMAT_VERSION
    cfg["format_version"] = ckpt.FORMAT_VERSION + 1
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="newer"):
        load_bundle(path)


@pytest.mark.parametrize("tag", ["../x", "a/b", "", "..", "x" * 100, ".hidden", "a\\b", "a..b", "/abs", None])
def test_invalid_tags_refused(tag):
    with pytest.raises(CheckpointError, match="invalid tag"):
        validate_tag(tag)
    with pytest.raises(CheckpointError):
        tag_path(tag)


def test_tag_path_stays_inside_the_models_dir(isolated_models_dir):
    for tag in ("my-model", "v1.2_b", "x" * 64):
        path = tag_path(tag)
        assert path.parent == isolated_models_dir.resolve()
        assert path.name == tag
    assert models_dir() == isolated_models_dir


def test_writing_into_pretrained_refused():
    target = PRETRAINED_DIR / "tmp-test-xyz"
    assert not target.exists()
    with pytest.raises(CheckpointError, match="shipped models"):
        save_bundle(target, _model(), TRAIN_CFG)
    assert not target.exists()
    if PRETRAINED_DIR.is_dir():  # no temporary folder was made beside it either
        assert not any(p.name.startswith(".tmp-test-xyz") for p in PRETRAINED_DIR.iterdir())
    with pytest.raises(CheckpointError, match="shipped models"):
        ckpt.update_metrics(target, {"x": 1})
    assert not target.exists()


def test_list_models_sees_user_models_and_unreadable_ones(isolated_models_dir):
    save_bundle(tag_path("good"), _model(), TRAIN_CFG)
    save_bundle(tag_path("fashion-one"), _model(), TRAIN_CFG.replace(dataset="fashion"))
    (isolated_models_dir / "broken").mkdir()
    users = [e for e in list_models() if e.source == "user"]
    assert [e.name for e in users] == ["broken", "fashion-one", "good"]
    broken = users[0]
    assert broken.error and "config.json" in broken.error and "unreadable" in broken.label
    good = users[2]
    assert (good.dataset, good.objective, good.arch, good.latent_dim) == ("mnist", "standard", "mlp", 2)
    assert [e.name for e in list_models(dataset="fashion") if e.source == "user"] == ["broken", "fashion-one"]


def test_update_metrics_keeps_the_weights(tmp_path):
    path = save_bundle(tmp_path / "m", _model(), TRAIN_CFG, half=True, metrics={"a": 1})
    weights = (path / "weights.pt").read_bytes()
    ckpt.update_metrics(path, {"a": 2})
    assert load_bundle(path).metrics == {"a": 2}
    assert (path / "weights.pt").read_bytes() == weights
    assert sorted(os.listdir(path)) == ["config.json", "metrics.json", "weights.pt"]


def test_failure_at_the_final_rename_restores_the_old_bundle(tmp_path, monkeypatch):
    path = tmp_path / "m"
    save_bundle(path, _model(0), TRAIN_CFG, metrics={"v": 1})
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(src).endswith(".tmp"):  # the new folder's rename into place
            raise OSError("rename failed")
        return real_replace(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", failing_replace)
    with pytest.raises(CheckpointError, match="rename failed"):
        save_bundle(path, _model(1), TRAIN_CFG, metrics={"v": 2})
    monkeypatch.undo()
    assert load_bundle(path).metrics == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]

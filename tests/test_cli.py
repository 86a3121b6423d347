"""python -m vae_core: help, one tiny end-to-end run, and clean one-line errors for bad values."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae_core import load_bundle
from vae_core.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _run(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "vae_core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_help_exits_zero():
    top = _run("--help")
    assert top.returncode == 0, top.stderr
    for command in ("train", "evaluate", "grid", "list"):
        assert command in top.stdout
    train = _run("train", "--help")
    assert train.returncode == 0, train.stderr
    assert "--train-subset" in train.stdout and "--mmd-lambda" in train.stdout


@pytest.mark.parametrize("command", ["evaluate", "grid", "list"])
def test_subcommand_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_train_evaluate_grid_list_end_to_end(tmp_path, isolated_models_dir, capsys):
    train_args = ["train", "--dataset", "mnist", "--train-subset", "256", "--epochs", "1", "--hidden", "64",
                  "--batch-size", "64", "--eval-subset", "100", "--tag", "cli-e2e", "--quiet"]
    assert main(train_args) == 0
    folder = isolated_models_dir / "cli-e2e"
    bundle = load_bundle(folder)
    assert bundle.model_config.hidden == (64,)
    assert bundle.train_config.train_subset == 256
    assert bundle.metrics["status"] == "completed" and bundle.metrics["steps"] == 4
    assert bundle.latents["mu"].shape == (10000, 2)
    err = capsys.readouterr().err
    assert "saved" in err and "cli-e2e" in err

    # The same tag again is refused unless --overwrite.
    assert main(train_args) == 2
    assert "exists" in capsys.readouterr().err

    assert main(["evaluate", "cli-e2e", "--n-test", "200", "--iw-k", "50", "--iw-n", "20",
                 "--quadrature-grid", "50", "--save"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads(out)
    assert metrics["n_test"] == 200
    assert metrics["iw_nll"]["k"] == 50 and metrics["iw_nll"]["n"] == 20
    assert metrics["quadrature_nll"]["grid"] == 50
    assert 50 < metrics["test"]["neg_elbo"] < 600
    assert load_bundle(folder).metrics["evaluation"]["n_test"] == 200  # --save kept it

    png = tmp_path / "grid.png"
    assert main(["grid", str(folder), "--n", "6", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == (6 * 28, 6 * 28)
    assert main(["grid", "cli-e2e", "--n", "3", "--spacing", "range", "--out", str(png)]) == 0

    capsys.readouterr()
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    line = next(l for l in listing.splitlines() if l.startswith("cli-e2e"))
    assert "user" in line and "mnist" in line and "d=2" in line


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("args, needle", [
    (["--lr", "0"], "lr"),
    (["--tag", "../x"], "invalid tag"),
    (["--batch-size", "0"], "batch_size"),
    (["--latent-dim", "0"], "latent_dim"),
    (["--epochs", "-1"], "epochs"),
    (["--train-subset", "100", "--batch-size", "128"], "batch_size"),
])
def test_bad_values_exit_2_with_one_line(args, needle, capsys):
    assert main(["train", "--quiet", *args]) == 2
    assert needle in _one_line_error(capsys)


def test_unknown_model_is_a_clean_error(capsys):
    assert main(["grid", "no-such-model"]) == 2
    assert "no model folder or tag" in _one_line_error(capsys)


def test_bad_value_in_a_real_process():
    proc = _run("train", "--lr", "0", "--quiet")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("error: ") and "lr" in proc.stderr


def test_missing_data_is_a_clean_error(tmp_path, capsys):
    assert main(["train", "--quiet", "--data-dir", str(tmp_path), "--tag", "nodata"]) == 2
    line = _one_line_error(capsys)
    assert "MNIST" in line and str(tmp_path) in line


def test_init_from_continues_training_and_counts_epochs_across_stages(isolated_models_dir):
    base = ["train", "--train-subset", "256", "--batch-size", "64", "--eval-subset", "100", "--hidden", "32",
            "--quiet"]
    assert main(base + ["--tag", "stage-1", "--epochs", "2"]) == 0
    assert main(base + ["--tag", "stage-2", "--epochs", "1", "--init-from", "stage-1",
                        "--objective", "iwae", "--samples", "4"]) == 0
    first, second = load_bundle(isolated_models_dir / "stage-1"), load_bundle(isolated_models_dir / "stage-2")
    assert first.metrics["epochs_total"] == 2 and second.metrics["epochs_total"] == 3
    assert second.metrics["init_from"]["train"]["epochs"] == 2
    assert second.model_config.objective == "iwae" and first.model_config.objective == "standard"
    # The second stage started from the first one's weights, not from scratch.
    assert second.metrics["history"][0]["total"] < first.metrics["history"][0]["total"]
    # A model of another architecture cannot be continued.
    assert main(base + ["--tag", "stage-x", "--epochs", "1", "--init-from", "stage-1", "--hidden", "16"]) == 2


def test_only_vae_core_errors_become_one_line_messages(monkeypatch, capsys):
    """An expected failure is a VaeCoreError and prints one line; anything else is a bug and keeps
    its traceback."""
    import vae_core.cli as cli
    from vae_core import DatasetError

    def expected(**kwargs):
        raise DatasetError("/data/x.npz: broken")

    monkeypatch.setattr(cli, "list_models", expected)
    assert main(["list"]) == 2
    assert _one_line_error(capsys) == "error: /data/x.npz: broken"

    def bug(**kwargs):
        raise ValueError("an internal bug")

    monkeypatch.setattr(cli, "list_models", bug)
    with pytest.raises(ValueError, match="an internal bug"):
        main(["list"])


def test_expected_failures_in_the_library_are_vae_core_errors():
    import ast

    from vae_core import VaeCoreError, pick_device
    from vae_core.analysis import explore
    from vae_core.training.jobs import JobError

    assert issubclass(JobError, VaeCoreError)
    with pytest.raises(VaeCoreError, match="device must be"):
        pick_device("tpu")
    with pytest.raises(VaeCoreError, match="grid size"):
        explore.grid_axis(0)
    # store/folders.py reads the version from _version.py, not from the package's __init__.
    tree = ast.parse((ROOT / "vae_core" / "store" / "folders.py").read_text())
    assert not any(isinstance(n, ast.ImportFrom) and n.level == 2 and n.module is None for n in ast.walk(tree))


def test_decode_writes_the_decoders_image_of_the_points_given(tmp_path, capsys):
    """`decode MODEL --z ...` decodes the points a person types: the PNG is vae_core.decode's mean image
    (to 8 bits), tiled left to right, pixels enlarged by --scale."""
    from PIL import Image

    from vae_core import PRETRAINED_DIR, decode, load_bundle

    out = tmp_path / "x.png"
    assert main(["decode", "mnist-vae", "--z", "0.5,-1.2", "--z=-2,0.25", "--scale", "2", "--out", str(out)]) == 0
    image = np.asarray(Image.open(out), np.float64) / 255
    assert image.shape == (56, 112)
    expected = decode(load_bundle(PRETRAINED_DIR / "mnist-vae").model, np.array([[0.5, -1.2], [-2, 0.25]]))
    tiled = np.hstack(list(expected)).repeat(2, 0).repeat(2, 1)
    assert np.abs(image - tiled).max() <= 0.5 / 255 + 1e-6  # rounding to 8 bits only
    assert "2 points decoded by mnist-vae" in capsys.readouterr().err
    assert main(["decode", "mnist-vae", "--z", "0.5", "--out", str(tmp_path / "bad.png")]) == 2
    assert "has 2 dimensions" in _one_line_error(capsys) and not (tmp_path / "bad.png").exists()
    assert main(["decode", "mnist-vae", "--z", "a,b", "--out", str(tmp_path / "bad.png")]) == 2
    assert "numbers separated by commas" in _one_line_error(capsys)


def test_sample_writes_a_seeded_grid_of_prior_samples(tmp_path, capsys):
    from PIL import Image

    from vae_core import PRETRAINED_DIR, load_bundle, prior_samples, tile

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["sample", "fashion-mmd", "--n", "9", "--seed", "3", "--out", str(a)]) == 0
    assert main(["sample", "fashion-mmd", "--n", "9", "--seed", "3", "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()  # the same call twice: the same file
    image = np.asarray(Image.open(a), np.float64) / 255
    expected = tile(prior_samples(load_bundle(PRETRAINED_DIR / "fashion-mmd").model, 9, seed=3), 3, pad=1)
    assert image.shape == expected.shape == (3 * 28 + 2, 3 * 28 + 2)
    assert np.abs(image - expected).max() <= 0.5 / 255 + 1e-5  # decoded again here: float32 rounding only
    capsys.readouterr()
    assert main(["sample", "fashion-mmd", "--n", "0", "--out", str(tmp_path / "c.png")]) == 2
    assert "--n must be between 1 and 10000" in _one_line_error(capsys)


def test_animate_writes_the_formation_and_an_interpolation_as_gifs(tmp_path, capsys, monkeypatch, mnist_small,
                                                                   mnist_test):
    """`animate` writes what a person can take home: how the space formed (one frame per kept epoch)
    and an interpolation there and back (its first frame the start image's reconstruction)."""
    from PIL import Image

    import vae_core as vc

    models = tmp_path / "models"
    monkeypatch.setenv("VAE_MODELS_DIR", str(models))
    run = vc.fit(vc.ModelConfig(hidden=(32,)), vc.TrainConfig(epochs=2, batch_size=64, eval_subset=50,
                                                               formation_images=200),
                 train_split=mnist_small, test_split=mnist_test)
    vc.finish_run(run, models / "tiny", test_split=mnist_test)
    out = tmp_path / "f.gif"
    assert main(["animate", "tiny", "--out", str(out)]) == 0  # a formation when there is one
    gif = Image.open(out)
    assert gif.n_frames == 3 and gif.size == (400, 400) and "3 frames, epochs 0 to 2" in capsys.readouterr().err
    out = tmp_path / "i.gif"
    assert main(["animate", "tiny", "--what", "interpolation", "--start", "3", "--end", "9", "--steps", "6",
                 "--scale", "2", "--out", str(out)]) == 0
    gif = Image.open(out)
    assert gif.n_frames == 10 and gif.size == (56, 56)  # 6 there, 4 back
    first = np.asarray(gif.convert("L"), np.float64)[::2, ::2] / 255
    x = vc.Inputs(binarized=True).of(mnist_test.images)
    expected = vc.decode(run.model, vc.encode_means(run.model, x[[3]]))[0]
    assert np.abs(first - expected).max() <= 1.5 / 255  # 8-bit grey levels
    capsys.readouterr()
    assert main(["animate", "tiny", "--what", "interpolation", "--end", "10000", "--out", str(out)]) == 2
    assert "test image 10000 does not exist" in _one_line_error(capsys)
    assert main(["animate", "mnist-vae", "--what", "formation", "--out", str(out)]) == 2
    assert "kept no formation" in _one_line_error(capsys)

"""Your own data: the dataset records, the .npz and image-folder readers, their one-line messages for
bad input, the fingerprint that ties a model to its data, and end-to-end CLI runs on a dataset the
test makes (coloured shapes, 32×32 RGB, as .npz and as an image folder) and on scikit-learn's
bundled 8×8 digits."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import SHAPE_CLASSES, coloured_shapes, write_image_folder  # noqa: E402

import vae_core as vc
from vae_core.training import jobs
from vae_core import CheckpointError, ConfigError, DatasetError, TrainConfig, load_bundle, resolve_dataset
from vae_core.cli import main

N_TRAIN, N_TEST = 240, 60


@pytest.fixture(scope="module")
def shapes_npz(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes-npz")
    x, y = coloured_shapes(N_TRAIN + N_TEST, seed=0)
    path = folder / "shapes.npz"
    np.savez_compressed(path, x_train=x[:N_TRAIN], y_train=y[:N_TRAIN], x_test=x[N_TRAIN:], y_test=y[N_TRAIN:],
                        class_names=np.array(SHAPE_CLASSES))
    return path


@pytest.fixture(scope="module")
def shapes_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes-folder") / "shapes"
    x, y = coloured_shapes(N_TRAIN + N_TEST, seed=1)
    write_image_folder(root, x, y, SHAPE_CLASSES)
    return root


def _npz(tmp_path, name="data.npz", **arrays):
    x, y = coloured_shapes(20, seed=3)
    base = {"x_train": x[:16], "y_train": y[:16], "x_test": x[16:], "y_test": y[16:]}
    base.update(arrays)
    path = tmp_path / name
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path


# --- records --------------------------------------------------------------------------------------

def test_builtin_records_carry_shape_classes_and_a_fixed_fingerprint():
    mnist, fashion = vc.DATASETS["mnist"], vc.DATASETS["fashion"]
    assert (mnist.shape, mnist.n_classes, mnist.title) == ((1, 28, 28), 10, "MNIST")
    assert fashion.classes[9] == "Ankle boot" and fashion.likelihood == "bernoulli"
    assert mnist.fingerprint != fashion.fingerprint and mnist.fingerprint == vc.DATASETS["mnist"].fingerprint
    assert resolve_dataset("mnist") is mnist and mnist.builtin


def test_npz_record(shapes_npz):
    record = resolve_dataset(str(shapes_npz))
    assert record.shape == (3, 32, 32) and record.classes == SHAPE_CLASSES
    assert record.name == str(shapes_npz) and record.title == "shapes.npz" and record.likelihood == "bernoulli"
    train, test = vc.load_split(str(shapes_npz), "train"), vc.load_split(str(shapes_npz), "test")
    assert train.images.shape == (N_TRAIN, 3, 32, 32) and train.images.dtype == torch.uint8
    assert len(test) == N_TEST and test.classes == SHAPE_CLASSES and test.shape == (3, 32, 32)
    x, _ = coloured_shapes(N_TRAIN + N_TEST, seed=0)
    np.testing.assert_array_equal(train.images[5].permute(1, 2, 0).numpy(), x[5])  # channel-last in, first here


@pytest.mark.parametrize("layout", ["NHW", "NHW1", "labels (N, 1)", "no class_names"])
def test_npz_greyscale_layouts(tmp_path, layout):
    x = np.random.default_rng(0).integers(0, 256, (12, 20, 24), dtype=np.uint8)
    y = np.arange(12) % 4
    arrays = {"x_train": x[:9], "y_train": y[:9], "x_test": x[9:], "y_test": y[9:]}
    if layout == "NHW1":
        arrays = {**arrays, "x_train": x[:9, ..., None], "x_test": x[9:, ..., None]}
    if layout == "labels (N, 1)":
        arrays = {**arrays, "y_train": y[:9, None], "y_test": y[9:, None]}
    if layout != "no class_names":
        arrays["class_names"] = np.array(["a", "b", "c", "d"])
    path = tmp_path / "grey.npz"
    np.savez(path, **arrays)
    record = resolve_dataset(path)
    assert record.shape == (1, 20, 24) and record.n_classes == 4
    assert record.classes == (("0", "1", "2", "3") if layout == "no class_names" else ("a", "b", "c", "d"))
    np.testing.assert_array_equal(record.read("train").images[:, 0].numpy(), x[:9])


def test_folder_record_split_is_seeded_and_stratified(shapes_folder):
    record = resolve_dataset(shapes_folder)
    assert record.shape == (3, 32, 32) and record.classes == tuple(sorted(SHAPE_CLASSES))
    train, test = record.read("train"), record.read("test")
    assert len(train) + len(test) == N_TRAIN + N_TEST
    counts = np.bincount(test.labels.numpy(), minlength=3) / np.bincount(
        np.concatenate([train.labels.numpy(), test.labels.numpy()]), minlength=3)
    np.testing.assert_allclose(counts, 0.2, atol=0.02)  # 20 % of every class
    again = resolve_dataset(str(shapes_folder), test_fraction=0.2, split_seed=0)
    assert again.fingerprint == record.fingerprint
    other = resolve_dataset(str(shapes_folder), split_seed=1)
    assert other.fingerprint != record.fingerprint  # another split: other test images
    half = resolve_dataset(str(shapes_folder), test_fraction=0.5)
    assert abs(len(half.read("test")) - (N_TRAIN + N_TEST) / 2) <= 3


def test_folder_sizes_and_modes_are_reconciled_and_said(tmp_path):
    x, y = coloured_shapes(12, size=32, seed=4)
    write_image_folder(tmp_path / "mixed", x, y, SHAPE_CLASSES)
    first = sorted((tmp_path / "mixed" / "circle").iterdir())[0]
    Image.fromarray(x[0]).resize((48, 48)).save(first)  # another size, same aspect ratio
    second = sorted((tmp_path / "mixed" / "square").iterdir())[0]
    Image.fromarray(x[1]).convert("L").save(second)  # greyscale among colour
    record = resolve_dataset(tmp_path / "mixed")
    assert record.shape == (3, 32, 32)
    assert any("resized 1 of 12 images to 32×32" in n and "48×48: 1" in n for n in record.notes), record.notes
    assert any("1 greyscale images were converted to RGB" in n for n in record.notes), record.notes
    assert resolve_dataset(tmp_path / "mixed", image_size=16).shape == (3, 16, 16)


def test_fingerprint_follows_the_content_not_the_file(tmp_path):
    x, y = coloured_shapes(20, seed=5)
    arrays = {"x_train": x[:15], "y_train": y[:15], "x_test": x[15:], "y_test": y[15:]}
    np.savez(tmp_path / "a.npz", **arrays)
    np.savez_compressed(tmp_path / "b.npz", **arrays)
    assert resolve_dataset(tmp_path / "a.npz").fingerprint == resolve_dataset(tmp_path / "b.npz").fingerprint
    x2 = x.copy()
    x2[3, 0, 0, 0] ^= 1
    np.savez(tmp_path / "c.npz", **{**arrays, "x_train": x2[:15]})
    assert resolve_dataset(tmp_path / "c.npz").fingerprint != resolve_dataset(tmp_path / "a.npz").fingerprint


# --- bad input: one message naming the file -------------------------------------------------------

def _bad_npz_cases(tmp_path):
    x, y = coloured_shapes(20, seed=3)
    cases = {
        "5-D array": (dict(x_train=np.zeros((4, 2, 16, 16, 3), np.uint8)), "x_train has 5 dimensions"),
        "labels of another length": (dict(y_train=y[:15]), "y_train holds 15 labels for the 16 images in x_train"),
        "splits of other sizes": (dict(x_test=np.zeros((4, 24, 24, 3), np.uint8)),
                                  "x_test images are 3×24×24 (channels×height×width) but x_train images 3×32×32"),
        "label beyond the class names": (dict(class_names=np.array(["a", "b"])),
                                         "labels go up to 2 but class_names names 2 classes"),
        "float images": (dict(x_train=x[:16].astype(np.float32) / 255), "x_train has dtype float32; expected uint8"),
        "too small": (dict(x_train=np.zeros((16, 8, 8), np.uint8), x_test=np.zeros((4, 8, 8), np.uint8)),
                      "images are 8×8; the models take 16×16 to 64×64"),
        "RGBA": (dict(x_train=np.zeros((16, 32, 32, 4), np.uint8)), "drop the alpha channel"),
        "missing key": (dict(y_test=None), "missing y_test"),
        "float labels": (dict(y_train=y[:16].astype(np.float64)), "y_train has dtype float64; expected integer"),
        "negative label": (dict(y_test=-np.ones(4, np.int64)), "y_test holds the negative label -1"),
    }
    return {name: (_npz(tmp_path, name.replace(" ", "-") + ".npz", **arrays), needle)
            for name, (arrays, needle) in cases.items()}


BAD_NPZ = ["5-D array", "labels of another length", "splits of other sizes", "label beyond the class names",
           "float images", "too small", "RGBA", "missing key", "float labels", "negative label"]


@pytest.mark.parametrize("case", BAD_NPZ)
def test_bad_npz_is_one_message_naming_the_file(tmp_path, case, capsys):
    path, needle = _bad_npz_cases(tmp_path)[case]
    with pytest.raises(DatasetError) as err:
        resolve_dataset(path)
    assert str(err.value).startswith(f"{path}: ") and needle in str(err.value), str(err.value)
    assert main(["train", "--dataset", str(path), "--quiet", "--tag", "never"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: {err.value}"]


def test_pickled_npz_and_garbage_are_refused(tmp_path):
    x, y = coloured_shapes(20, seed=3)
    path = tmp_path / "pickled.npz"
    np.savez(path, x_train=x[:16], y_train=y[:16], x_test=x[16:], y_test=y[16:],
             class_names=np.array(["a", "b", "c"], dtype=object))
    with pytest.raises(DatasetError, match="class_names cannot be read without unpickling") as err:
        resolve_dataset(path)
    assert str(err.value).startswith(str(path))
    (tmp_path / "garbage.npz").write_bytes(b"<html>not found</html>")
    with pytest.raises(DatasetError, match="garbage.npz: not a readable .npz file"):
        resolve_dataset(tmp_path / "garbage.npz")
    (tmp_path / "data.txt").write_text("1,2,3")
    with pytest.raises(DatasetError, match="data.txt: not an .npz file"):
        resolve_dataset(tmp_path / "data.txt")
    with pytest.raises(DatasetError, match="nothing-here.npz: no such file or folder"):
        resolve_dataset(tmp_path / "nothing-here.npz")
    # A path is a valid setting; whether it exists is the dataset's business.
    assert TrainConfig(dataset="../mnist").dataset == "../mnist"
    with pytest.raises(DatasetError, match="no such file or folder"):
        vc.load_split("../no-such-dataset", "train")


def _folder(tmp_path, n=30):
    x, y = coloured_shapes(n, seed=6)
    write_image_folder(tmp_path / "imgs", x, y, SHAPE_CLASSES)
    return tmp_path / "imgs"


def test_bad_folders_are_one_message_naming_the_file(tmp_path, capsys):
    root = _folder(tmp_path)
    (root / "empty-class").mkdir()
    with pytest.raises(DatasetError) as err:
        resolve_dataset(root)
    assert str(err.value) == f"{root / 'empty-class'}: empty class folder; every class needs at least one image"
    (root / "empty-class").rmdir()

    note = root / "circle" / "notes.txt"
    note.write_text("taken on a Tuesday")
    with pytest.raises(DatasetError) as err:
        resolve_dataset(root)
    assert str(err.value).startswith(f"{note}: not an image file")
    assert main(["train", "--dataset", str(root), "--quiet"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {err.value}"]
    note.unlink()

    odd = root / "square" / "odd.png"
    Image.new("RGB", (32, 64)).save(odd)
    with pytest.raises(DatasetError) as err:
        resolve_dataset(root)
    assert str(err.value).startswith(f"{odd}: 32×64 cannot be reconciled with the other images' 32×32")
    odd.unlink()

    (root / "square" / "inner").mkdir()
    with pytest.raises(DatasetError, match="a folder inside the class folder square"):
        resolve_dataset(root)


def test_folder_without_classes_or_of_huge_images(tmp_path):
    (tmp_path / "flat").mkdir()
    Image.new("L", (20, 20)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(DatasetError, match="flat: no class subfolders"):
        resolve_dataset(tmp_path / "flat")
    big = tmp_path / "big" / "one"
    big.mkdir(parents=True)
    for i in range(3):
        Image.new("L", (128, 128)).save(big / f"{i}.png")
    with pytest.raises(DatasetError, match=r"big: images are 128×128; the models take 16×16 to 64×64 pixels; "
                                           r"resize them first, or pass --image-size"):
        resolve_dataset(tmp_path / "big")
    assert resolve_dataset(tmp_path / "big", image_size=64).shape == (1, 64, 64)
    solo = tmp_path / "solo" / "one"
    solo.mkdir(parents=True)
    Image.new("L", (20, 20)).save(solo / "a.png")
    with pytest.raises(DatasetError, match="too few images for a test split"):
        resolve_dataset(tmp_path / "solo")


def test_a_dataset_too_small_for_the_batch_names_the_file(shapes_npz, capsys):
    assert main(["train", "--dataset", str(shapes_npz), "--batch-size", "512", "--quiet"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: batch_size 512 is larger than the {N_TRAIN} training images of {shapes_npz}"]
    with pytest.raises(ConfigError, match=f"larger than the {N_TRAIN} training images of {shapes_npz}"):
        jobs.JobRegistry().start(vc.ModelConfig.for_dataset(resolve_dataset(shapes_npz), hidden=(8,)),
                                    TrainConfig(dataset=str(shapes_npz), batch_size=512), "too-small")


# --- end to end through the CLI -------------------------------------------------------------------

def test_cli_on_an_npz_of_colour_shapes(shapes_npz, isolated_models_dir, tmp_path, capsys):
    assert main(["train", "--dataset", str(shapes_npz), "--arch", "conv", "--epochs", "2", "--batch-size", "32",
                 "--likelihood", "cbernoulli", "--eval-subset", "60", "--lr", "3e-3", "--tag", "shapes-conv",
                 "--quiet"]) == 0
    bundle = load_bundle(isolated_models_dir / "shapes-conv")
    record = resolve_dataset(shapes_npz)
    assert bundle.model_config.image_shape == (3, 32, 32) and bundle.model_config.likelihood == "cbernoulli"
    assert bundle.dataset == str(shapes_npz) and bundle.data["title"] == "shapes.npz"
    assert bundle.data["classes"] == list(SHAPE_CLASSES) and bundle.fingerprint == record.fingerprint
    assert bundle.fits(record) and bundle.latents["mu"].shape == (N_TEST, 2)
    tests = [r["total"] for r in bundle.metrics["history"] if r["split"] == "test"]
    assert tests[-1] < tests[0]
    assert not bundle.fits(vc.DATASETS["mnist"])
    capsys.readouterr()
    assert main(["evaluate", "shapes-conv", "--iw-k", "20", "--iw-n", "10", "--quadrature-grid", "30"]) == 0
    metrics = __import__("json").loads(capsys.readouterr().out)
    assert metrics["likelihood"] == "cbernoulli" and "binarization_seed" not in metrics
    assert np.isfinite(metrics["test"]["neg_elbo"]) and np.isfinite(metrics["quadrature_nll"]["nll"])
    assert 0 <= metrics["knn_accuracy"]["accuracy"] <= 1
    png = tmp_path / "grid.png"
    assert main(["grid", "shapes-conv", "--n", "4", "--out", str(png)]) == 0
    with Image.open(png) as im:
        assert im.size == (4 * 32, 4 * 32) and im.mode == "RGB"
    capsys.readouterr()
    assert main(["list"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("shapes-conv"))
    assert "shapes.npz" in line and "d=2" in line


def test_the_readme_command_reconstructs_your_colour_data_in_colour(tmp_path, isolated_models_dir, capsys):
    """The README's command (`train --dataset shapes.npz --arch conv --latent-dim 2`, all else left at
    its default) on 1,500 16×16 red squares, green discs and blue triangles: each class's
    reconstructions are on average nearest its own class's colour, and their strongest channel is
    that class's. They were one grey: the continuous Bernoulli default, 10 epochs of a small dataset
    (120 steps here) and a decoder that started far from the data's average."""
    x, y = coloured_shapes(1800, size=16, seed=0, class_colours=True)
    train_x, train_y, test_x, test_y = x[:1500], y[:1500], x[1500:], y[1500:]
    path = tmp_path / "shapes.npz"
    np.savez(path, x_train=train_x, y_train=train_y, x_test=test_x, y_test=test_y,
             class_names=np.array(SHAPE_CLASSES))
    assert main(["train", "--dataset", str(path), "--arch", "conv", "--latent-dim", "2", "--tag", "shapes",
                 "--quiet"]) == 0
    assert "1500 training images: 167 epochs, for at least 2000 steps" in capsys.readouterr().err
    bundle = load_bundle(isolated_models_dir / "shapes")
    assert bundle.model_config.likelihood == "bernoulli" and bundle.metrics["steps"] == 167 * 12
    rec = vc.reconstruct(bundle.model, test_x)  # (N, 16, 16, 3)
    want = np.stack([(test_x[test_y == k] / 255).mean((0, 1, 2)) for k in range(3)])  # class means, RGB
    got = np.stack([rec[test_y == k].mean((0, 1, 2)) for k in range(3)])
    distance = np.linalg.norm(got[:, None] - want[None], axis=-1)  # (reconstructed class, data class)
    assert list(distance.argmin(1)) == [0, 1, 2], (got.round(3), want.round(3))
    assert list(got.argmax(1)) == [0, 1, 2], got.round(3)  # red, green, blue


def test_cli_on_an_image_folder_with_a_gaussian_likelihood(shapes_folder, isolated_models_dir, capsys):
    assert main(["train", "--dataset", str(shapes_folder), "--likelihood", "gaussian", "--hidden", "64",
                 "--epochs", "2", "--batch-size", "32", "--eval-subset", "40", "--test-fraction", "0.25",
                 "--tag", "shapes-folder", "--quiet"]) == 0
    bundle = load_bundle(isolated_models_dir / "shapes-folder")
    assert bundle.model_config.likelihood == "gaussian" and bundle.train_config.test_fraction == 0.25
    assert bundle.fits(resolve_dataset(shapes_folder, test_fraction=0.25))
    assert not bundle.fits(resolve_dataset(shapes_folder))  # the default split holds other test images
    assert len(bundle.latents["mu"]) == len(resolve_dataset(shapes_folder, test_fraction=0.25).read("test"))
    images = vc.prior_samples(bundle.model, 3)
    assert images.shape == (3, 32, 32, 3) and 0 <= images.min() and images.max() <= 1


def test_cli_on_scikit_learns_digits_with_the_shipped_evaluation(tmp_path, isolated_models_dir, capsys):
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()  # 1,797 images, 8×8, intensities 0..16
    images = (digits.images * (255 / 16)).round().astype(np.uint8)
    write_image_folder(tmp_path / "digits", images, digits.target, tuple(str(d) for d in range(10)))
    assert main(["train", "--dataset", str(tmp_path / "digits"), "--image-size", "16", "--hidden", "64",
                 "--epochs", "3", "--batch-size", "64", "--eval-subset", "100", "--lr", "3e-3", "--evaluate",
                 "--tag", "digits"]) == 0
    err = capsys.readouterr().err
    assert "resized 1797 of 1797 images to 16×16 (sizes found: 8×8: 1797)" in err
    assert "evaluating: importance-weighted log-likelihood (k=1000" in err
    bundle = load_bundle(isolated_models_dir / "digits")
    assert bundle.model_config.image_shape == (1, 16, 16) and bundle.data["classes"] == [str(d) for d in range(10)]
    evaluation = bundle.metrics["evaluation"]
    n_test = len(bundle.latents["mu"])
    assert evaluation["n_test"] == n_test and evaluation["iw_nll"]["k"] == 1000 and evaluation["iw_nll"]["n"] == n_test
    assert evaluation["knn_accuracy"]["k"] == 5
    assert evaluation["knn_accuracy"]["accuracy"] > 0.2  # ten digit classes, chance is 0.1
    assert evaluation["iw_nll"]["nll"] <= evaluation["test"]["neg_elbo"] + 1.0


def test_a_model_is_refused_over_changed_data(tmp_path, isolated_models_dir, capsys):
    x, y = coloured_shapes(100, seed=7)
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=x[:80], y_train=y[:80], x_test=x[80:], y_test=y[80:])
    assert main(["train", "--dataset", str(path), "--hidden", "16", "--epochs", "1", "--batch-size", "40",
                 "--eval-subset", "10", "--tag", "my-model", "--quiet"]) == 0
    x[0, 0, 0] = 255 - x[0, 0, 0]
    np.savez(path, x_train=x[:80], y_train=y[:80], x_test=x[80:], y_test=y[80:])
    changed = resolve_dataset(path)
    with pytest.raises(CheckpointError, match=r"my-model was trained on mine.npz, not mine.npz \(the same name, but "
                                              r"other images"):
        load_bundle(isolated_models_dir / "my-model", dataset=changed)
    capsys.readouterr()
    assert main(["evaluate", "my-model", "--iw-k", "0"]) == 2
    assert "other images" in capsys.readouterr().err
    entry = next(e for e in vc.list_models() if e.name == "my-model")
    assert not entry.fits(changed) and "takes 3×32×32 images" in entry.dataset_mismatch(vc.DATASETS["mnist"])


def test_shipped_models_fit_their_dataset_only():
    entries = {e.name: e for e in vc.list_models() if e.source == "pretrained"}
    mnist, fashion = vc.DATASETS["mnist"], vc.DATASETS["fashion"]
    assert entries["mnist-vae"].fits(mnist) and not entries["mnist-vae"].fits(fashion)
    assert entries["fashion-mmd"].dataset_mismatch(mnist) == "fashion-mmd was trained on Fashion-MNIST, not MNIST"
    bundle = load_bundle(vc.PRETRAINED_DIR / "mnist-mmd", with_latents=False, dataset=mnist)
    with pytest.raises(CheckpointError, match="mnist-mmd was trained on MNIST, not Fashion-MNIST"):
        bundle.check_dataset(fashion)

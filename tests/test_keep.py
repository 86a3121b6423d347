"""The files the page hands out (explorer/keep.py), opened as a person would open them: the strip as
a PNG, its animation as a GIF, the formation as a GIF, a map as a PNG, a model folder as a .zip that
unzips into a folder vae_core loads."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

import vae_core as vc
from explorer import cache, keep
from explorer.settings import PALETTE


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, data_dir):
    """A tiny real model that kept its formation (two epochs on 512 images, 300 formation images)."""
    folder = tmp_path_factory.mktemp("keep") / "tiny keep/model"  # odd characters in the path on purpose
    cfg = vc.TrainConfig(epochs=2, batch_size=128, train_subset=512, eval_subset=200, formation_images=300)
    vc.finish_run(vc.fit(vc.ModelConfig(hidden=(32,)), cfg, data_dir=data_dir), folder, data_dir=data_dir)
    return folder


def test_file_names_are_plain():
    assert keep.file_stem("my model/é", "map", None) == "my-model-map"
    assert keep.file_stem("", None) == "vae-explorer"
    assert keep.file_stem("../x", "grid20x20") == "x-grid20x20"


def test_a_strip_opens_as_one_row_and_as_an_animation_there_and_back():
    frames = np.linspace(0, 1, 5)[:, None, None] * np.ones((5, 28, 28))
    png = Image.open(io.BytesIO(keep.strip_png(frames)))
    assert png.format == "PNG" and png.size == (5 * 28 * 2 + 4 * 2 * 2, 28 * 2)
    gif = Image.open(io.BytesIO(keep.strip_gif(frames)))
    assert gif.format == "GIF" and gif.size == (112, 112) and gif.n_frames == 8  # 0..4 and back 3..1
    levels = []
    for i in range(gif.n_frames):
        gif.seek(i)
        levels.append(np.asarray(gif.convert("L"), float).mean() / 255)
    np.testing.assert_allclose(levels, [0, .25, .5, .75, 1, .75, .5, .25], atol=0.02)


def test_the_formation_opens_as_an_animation_with_a_frame_per_epoch(model_dir):
    formation = cache.formation.__wrapped__(str(model_dir), 0.0)
    gif = Image.open(io.BytesIO(keep.formation_gif(formation, [str(d) for d in range(10)])))
    assert gif.format == "GIF" and gif.n_frames == 3  # before training, after epochs 1 and 2
    assert gif.size[0] > gif.size[1] >= 300  # the scatter and its legend beside it


def test_a_map_opens_as_a_picture_with_its_codes(model_dir):
    bundle = vc.load_bundle(model_dir)
    codes = {"xy": bundle.latents["mu"][:, :2], "labels": bundle.latents["labels"]}
    lo, hi = codes["xy"].min(0), codes["xy"].max(0)
    png = keep.map_png(codes, [str(d) for d in range(10)], (lo[0], hi[0], lo[1], hi[1]), title="tiny",
                       axis_names=("z1", "z2"), pinned=0)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size[0] > 640
    plot = np.asarray(image.convert("RGB"))[34:-44, 64:64 + 640]  # inside the axes (figures.map_picture)
    pixels = {tuple(c) for c in plot.reshape(-1, 3)}
    palette = {tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in PALETTE}
    assert palette <= pixels  # every class's codes are drawn in its colour


def test_a_model_folder_unzips_into_a_folder_the_library_loads(model_dir, tmp_path):
    data = keep.model_zip(model_dir)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = set(z.namelist())
        assert {f"model/{f}" for f in ("config.json", "weights.pt", "latents.npz", "formation.npz")} <= names
        z.extractall(tmp_path)
    again = vc.load_bundle(tmp_path / "model")
    original = vc.load_bundle(model_dir)
    z = np.zeros((1, 2), np.float32)
    np.testing.assert_allclose(vc.decode(again.model, z), vc.decode(original.model, z), atol=1e-6)

"""Layers ready when the model is: a saved model keeps its map layers over the page's first view
(explorer/layers/stored.py), the page reads them instead of computing, and never serves them for
other weights, other codes, or a view they do not cover."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import vae_core as vc
from explorer import cache, mapview
from explorer.layers import LAYERS
from explorer.layers import stored
from helpers import save_untrained_model
from vae_core.analysis import geometry
from vae_core.training import jobs


def codes_of(folder) -> dict:
    latents = vc.load_bundle(folder).latents
    return mapview.codes_view(latents["mu"], latents.get("logvar"), latents["labels"])


@pytest.fixture(scope="module")
def kept(tmp_path_factory, data_dir):
    """A small model saved as the page saves models, with its layers kept."""
    folder = tmp_path_factory.mktemp("kept") / "m"
    save_untrained_model(folder, hidden=(16,), data_dir=data_dir)
    assert stored.make(folder) == folder / stored.FILE
    return folder


def test_kept_values_are_the_layers_at_their_lattice_points(kept):
    """Each kept value is that layer computed again at the point its row and column name (row i at
    ys[i], column j at xs[j]), within float32 rounding."""
    model = vc.load_bundle(kept).model
    codes = codes_of(kept)
    rng = np.random.default_rng(0)
    for kind in LAYERS:
        layer = stored.read(kept, kind, mapview.first_layer_extent(codes), codes)
        assert layer is not None, kind
        n = layer["n"]
        assert layer["values"].shape == (n, n) and len(layer["xs"]) == len(layer["ys"]) == n
        rows, cols = rng.integers(0, n, 6), rng.integers(0, n, 6)
        z = np.stack([layer["xs"][cols], layer["ys"][rows]], 1).astype(np.float32)
        if kind == "stretch":
            again = geometry.stretch_layer(model, z)
        elif kind == "holes":
            again = geometry.hole_layer(model, codes["mu"], codes.get("logvar"), z)
        else:
            again, confidence = geometry.decoded_class_layer(model, stored.classifier_for("mnist"), z)
            np.testing.assert_allclose(layer["confidence"][rows, cols], confidence, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(layer["values"][rows, cols], again, rtol=1e-4, atol=1e-4)


def test_the_kept_lattice_covers_the_first_view_at_the_page_s_spacing(kept):
    codes = codes_of(kept)
    x0, x1, y0, y1 = mapview.first_layer_extent(codes)
    layer = stored.read(kept, "stretch", (x0, x1, y0, y1), codes)
    xs, ys = layer["xs"], layer["ys"]
    assert xs[0] < x0 and xs[-1] > x1 and ys[0] < y0 and ys[-1] > y1
    page_step = (x1 - x0) / (mapview.layer_side("mlp") - 1)
    assert (xs[1] - xs[0]) == pytest.approx(page_step, rel=0.02)  # no coarser than the page's own lattice


def test_the_page_reads_kept_layers_without_computing(kept, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("computed although the folder keeps this layer")

    for name in ("stretch_layer", "hole_layer", "decoded_class_layer"):
        monkeypatch.setattr(geometry, name, refuse)
    codes = codes_of(kept)
    grid = dict(zip(("xs", "ys"), mapview.grid_axes(codes, 20, "quantile", 5.0, 95.0)))
    extent = mapview.layer_extent(codes, grid)
    for kind in LAYERS:
        layer = cache.layer(str(kept), 12345.0, kind, "mnist", extent, codes)
        assert layer["values"].shape == (layer["n"], layer["n"])


def test_a_view_the_file_does_not_cover_is_computed(kept):
    codes = codes_of(kept)
    x0, x1, y0, y1 = stored.stored_extent(codes)
    assert stored.read(kept, "stretch", (x0 - 1, x1, y0, y1), codes) is None
    zoomed = ((3 * x0 + x1) / 4, (x0 + 3 * x1) / 4, (3 * y0 + y1) / 4, (y0 + 3 * y1) / 4)
    assert stored.read(kept, "stretch", zoomed, codes) is not None  # inside: read (at the kept spacing)
    layer = cache.layer(str(kept), 23456.0, "stretch", "mnist", (x0 - 1, x1, y0, y1), codes)
    assert layer["xs"][0] == pytest.approx(x0 - 1)  # computed over the view asked for


def test_other_weights_codes_or_a_damaged_file_are_never_served(kept, tmp_path, data_dir):
    folder = tmp_path / "copy"
    shutil.copytree(kept, folder)
    codes = codes_of(folder)
    view = mapview.first_layer_extent(codes)
    assert stored.read(folder, "holes", view, codes) is not None
    assert stored.read(folder, "no-such-layer", view, codes) is None

    other = tmp_path / "other"  # the same architecture, other weights
    save_untrained_model(other, hidden=(16,), data_dir=data_dir, objective="mmd")
    shutil.copy(other / "weights.pt", folder / "weights.pt")
    assert stored.read(folder, "holes", view, codes) is None

    shutil.copytree(kept, tmp_path / "codes")
    (tmp_path / "codes" / "latents.npz").write_bytes((other / "latents.npz").read_bytes())
    assert stored.read(tmp_path / "codes", "holes", view, codes) is None

    shutil.copytree(kept, tmp_path / "damaged")
    file = tmp_path / "damaged" / stored.FILE
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    assert stored.read(tmp_path / "damaged", "holes", view, codes) is None


def test_codes_in_another_plane_are_never_served(tmp_path, data_dir):
    """d > 2: the lattice lies in the codes' PCA plane; codes encoded again in another plane miss."""
    folder = tmp_path / "d3"
    save_untrained_model(folder, hidden=(16,), latent_dim=3, data_dir=data_dir)
    stored.make(folder, progress=None)
    codes = codes_of(folder)
    assert stored.read(folder, "stretch", mapview.first_layer_extent(codes), codes) is not None
    turned = {**codes, "axes": codes["axes"][::-1].copy()}
    assert stored.read(folder, "stretch", mapview.first_layer_extent(codes), turned) is None


@pytest.mark.parametrize("name", ["mnist-vae", "mnist-mmd", "fashion-vae", "fashion-mmd"])
def test_shipped_models_keep_every_layer_of_their_first_view(name):
    folder = vc.PRETRAINED_DIR / name
    codes = codes_of(folder)
    for kind in LAYERS:
        assert stored.read(folder, kind, mapview.first_layer_extent(codes), codes) is not None, (name, kind)


def test_a_page_training_ends_with_its_layers_kept(isolated_models_dir):
    registry = jobs.JobRegistry()
    heard = []

    def after_save(path, progress):
        heard.append(path)
        return stored.after_save(path, progress)

    job = registry.start(vc.ModelConfig(hidden=(16,)), vc.TrainConfig(epochs=1, train_subset=256), "kept-run",
                         after_save=after_save)
    assert job.join(300)
    v = job.view()
    assert v.state == jobs.COMPLETED, v.message
    folder = isolated_models_dir / "kept-run"
    assert heard == [folder] and (folder / stored.FILE).exists()
    codes = codes_of(folder)
    assert stored.read(folder, "stretch", mapview.first_layer_extent(codes), codes) is not None


def test_a_failure_after_saving_loses_nothing_but_the_layers(isolated_models_dir):
    def broken(path, progress):
        progress("computing the map's layers")
        raise RuntimeError("out of memory")

    job = jobs.JobRegistry().start(vc.ModelConfig(hidden=(16,)), vc.TrainConfig(epochs=1, train_subset=256),
                                   "broken-run", after_save=broken)
    assert job.join(300)
    v = job.view()
    assert v.state == jobs.COMPLETED and "saved as 'broken-run'" in v.message
    folder = isolated_models_dir / "broken-run"
    assert vc.load_bundle(folder).metrics["status"] == "completed" and not (folder / stored.FILE).exists()

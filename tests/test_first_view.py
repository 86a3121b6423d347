"""Paint before torch: a model folder keeps what the page's first view needs (explorer/firstview.py:
the default manifold grid, the browser's decoder and encoder; layers.npz: the layers), the page's
first run of a fresh server reads those files and never imports torch, and a kept view is never
served for other weights, other codes or from a damaged file."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vae_core as vc
from explorer import firstview, mapview
from helpers import save_untrained_model

ROOT = Path(__file__).resolve().parent.parent


def codes_of(folder) -> dict:
    latents = vc.read_bundle(folder).latents
    return mapview.codes_view(latents["mu"], latents.get("logvar"), latents["labels"])


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)), np.int16)


@pytest.fixture(scope="module")
def kept(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("view") / "m"
    save_untrained_model(folder, hidden=(16,), data_dir=data_dir)
    assert firstview.make(folder) == folder / firstview.FILE
    return folder


def test_a_fresh_server_s_first_view_of_the_shipped_models_imports_no_torch(tmp_path, data_dir):
    """The page script's first run in a fresh interpreter where `import torch` fails (and pandas and
    pyarrow too: the page sends no dataframe): both maps complete, with their grid, their browser
    decoder and encoder, their codes and the interpolation's path; the sidebar has their figures."""
    script = textwrap.dedent(f"""
        import json, sys
        BLOCKED = ("torch", "pandas", "pyarrow")

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is blocked: the first view must not need it")

        sys.meta_path.insert(0, Blocker())
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({str(ROOT / "explorer_app.py")!r}, default_timeout=120)
        at.run()
        from helpers import latent_map
        data = latent_map(at)
        print(json.dumps({{
            "exceptions": [e.message for e in at.exception], "errors": [e.value for e in at.error],
            "imported": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
            "sidebar": " ".join(m.value for m in at.sidebar.markdown),
            "models": data and data["models"],
        }}))
    """)
    env = {**os.environ, "VAE_DATA_DIR": str(data_dir), "VAE_MODELS_DIR": str(tmp_path / "models"),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["exceptions"] == [] and found["errors"] == [] and found["imported"] == []
    assert "| | **A** | **B** |" in found["sidebar"]
    models = found["models"]
    assert [m["side"] for m in models] == ["A", "B"]
    for m in models:
        assert m["decoder"] and m["encoder"] and not m.get("decoderError") and not m.get("encoderError")
        assert m["grid"]["url"] and len(m["grid"]["xs"]) == m["grid"]["n"] == 20
        assert m["points"] and m["count"] == 10000 and len(m["path"]) >= 2


def test_the_kept_grid_and_networks_are_what_the_model_makes(kept):
    """The kept grid is the grid decoded again (PNG pixels within one level of rounding), at the same
    axes; the kept browser networks are the exports made again from the weights."""
    model = vc.load_bundle(kept).model
    codes = codes_of(kept)
    view = firstview.read(kept, codes)
    assert view is not None and view["grid"]["settings"] == tuple(firstview.grid_settings_key((20, "quantile", 5, 95)))
    again = mapview.decoded_grid(model, codes, 20, "quantile", 5.0, 95.0)
    np.testing.assert_allclose(view["grid"]["xs"], again["xs"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(view["grid"]["ys"], again["ys"], rtol=0, atol=1e-12)
    assert np.abs(pixels(view["grid"]["png"]) - pixels(again["png"])).max() <= 1
    for net, made in firstview.exports(model).items():
        assert json.loads(view[net]["spec"]) == json.loads(made["spec"]), net
        assert view[net]["weights"] == made["weights"], net  # a copy of the same weights: no arithmetic


def test_the_page_serves_the_kept_grid_without_loading_the_model(kept, monkeypatch):
    from explorer import cache

    codes = codes_of(kept)
    stamp = cache.folder_stamp(kept)

    def refuse(*args, **kwargs):
        raise AssertionError("the page loaded the model for its first view's grid")

    monkeypatch.setattr(cache, "load_model", refuse)
    grid = cache.manifold.__wrapped__(str(kept), stamp, 20, "quantile", 5.0, 95.0, codes)
    assert grid["png"] == firstview.read(kept, codes)["grid"]["png"]


def test_other_weights_codes_or_a_damaged_file_are_never_served(kept, tmp_path, data_dir):
    codes = codes_of(kept)
    other = tmp_path / "other"
    shutil.copytree(kept, other)
    save_untrained_model(tmp_path / "fresh", hidden=(32,), data_dir=data_dir)
    shutil.copy(tmp_path / "fresh" / "weights.pt", other / "weights.pt")  # the same file name, other weights
    assert firstview.read(other, codes) is None
    recoded = tmp_path / "recoded"
    shutil.copytree(kept, recoded)
    latents = np.load(recoded / "latents.npz")
    np.savez(recoded / "latents.npz", mu=latents["mu"] * 1.5, labels=latents["labels"])
    assert firstview.read(recoded, codes_of(recoded)) is None
    damaged = tmp_path / "damaged"
    shutil.copytree(kept, damaged)
    data = (damaged / firstview.FILE).read_bytes()
    (damaged / firstview.FILE).write_bytes(data[: len(data) // 3])
    assert firstview.read(damaged, codes) is None
    assert firstview.read(kept, {**codes, "mean": codes["mean"] + 0.5}) is None  # codes in another plane


@pytest.mark.parametrize("name", ["mnist-vae", "mnist-mmd", "fashion-vae", "fashion-mmd"])
def test_shipped_models_keep_their_first_view(name):
    folder = vc.PRETRAINED_DIR / name
    view = firstview.read(folder, codes_of(folder))
    assert view is not None, f"{name}: run pretrained/reproduce.sh layers"
    assert all("spec" in view[net] for net in firstview.NETS)


def test_a_page_training_ends_with_its_first_view_and_layers_kept(isolated_models_dir):
    from explorer.layers import stored
    from vae_core.training import jobs

    job = jobs.JobRegistry().start(vc.ModelConfig(hidden=(16,)), vc.TrainConfig(epochs=1, train_subset=256),
                                   "view-run", after_save=firstview.after_save)
    assert job.join(300)
    assert job.view().state == jobs.COMPLETED, job.view().message
    folder = isolated_models_dir / "view-run"
    codes = codes_of(folder)
    assert firstview.read(folder, codes) is not None
    assert stored.read(folder, "stretch", mapview.first_layer_extent(codes), codes) is not None

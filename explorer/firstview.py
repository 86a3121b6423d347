"""What the page's first view of a model needs beyond its codes, kept in its folder when the model is
saved (`view.npz`), so that view is files read: no decoding, and no torch (vae_core.lazy).

Kept: the manifold grid at the page's default settings (`settings.DEFAULT_GRID`) as a PNG with its
axes, in the plane of the folder's codes; and the browser's decoder and encoder (vae_core.store.export:
spec and weights), or why one cannot run in the browser. The file names the weights and codes it was
made from (the hash `layers.stored.fingerprint`), so a folder whose weights or codes changed is never
served what was kept for others: the page computes those, as it does any other grid.

`python -m explorer.firstview FOLDER...` keeps this file and the map's layers (layers.npz) for saved
model folders; the page's training jobs do it after saving (`after_save`), and pretrained/reproduce.sh
for the shipped models.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

import vae_core as vc

from . import mapview
from .layers import stored as stored_layers
from .settings import DEFAULT_GRID

FILE = "view.npz"
NETS = ("decoder", "encoder")


def grid_settings_key(settings) -> np.ndarray:
    """Grid settings (n, spacing, lo, hi) as the file keeps them: words, compared as words."""
    n, spacing, lo, hi = settings
    return np.asarray([str(int(n)), str(spacing), repr(float(lo)), repr(float(hi))])


def export(model, net: str) -> dict:
    """The browser's copy of one network ("decoder" or "encoder"): {"spec": JSON bytes, "weights": bytes},
    or {"error": why it cannot run in the browser}."""
    from vae_core.store import export as browser

    make, unsupported = {"decoder": (browser.decoder_export, browser.UnsupportedDecoderError),
                         "encoder": (browser.encoder_export, browser.UnsupportedEncoderError)}[net]
    try:
        exported = make(model)
    except unsupported as exc:
        return {"error": str(exc)}
    return {"spec": json.dumps(exported.spec).encode(), "weights": exported.blob}


def exports(model) -> dict[str, dict]:
    """Both networks' browser copies, by name (`export`)."""
    return {net: export(model, net) for net in NETS}


def compute(model, codes: dict) -> dict[str, np.ndarray]:
    """The arrays `view.npz` keeps for `model` and its test codes (`mapview.codes_view`)."""
    grid = mapview.decoded_grid(model, codes, *DEFAULT_GRID)
    out = {"grid_png": np.frombuffer(grid["png"], np.uint8), "grid_xs": grid["xs"], "grid_ys": grid["ys"],
           "grid_settings": grid_settings_key(DEFAULT_GRID),
           "plane_mean": np.asarray(codes["mean"], np.float64), "plane_axes": np.asarray(codes["axes"], np.float64)}
    for net, made in exports(model).items():
        if "error" in made:
            out[f"{net}_error"] = np.asarray(made["error"])
        else:
            out[f"{net}_spec"] = np.frombuffer(made["spec"], np.uint8)
            out[f"{net}_weights"] = np.frombuffer(made["weights"], np.uint8)
    return out


def write(folder, arrays: dict[str, np.ndarray], made_from: str) -> Path:
    """Keep `arrays` as the folder's view.npz, atomically, as the layers are kept; not compressed: the
    networks' weights barely shrink, and the first view reads them."""
    return stored_layers.write(folder, arrays, made_from, name=FILE, compressed=False)


def make(folder) -> Path | None:
    """Compute and keep the first view of the model saved in `folder` (None: no test codes to map)."""
    bundle = vc.load_bundle(folder)
    if bundle.latents is None:
        return None
    made_from = stored_layers.fingerprint(folder)
    latents = bundle.latents
    codes = mapview.codes_view(latents["mu"], latents.get("logvar"), latents["labels"])
    return write(folder, compute(bundle.model, codes), made_from)


def after_save(folder, progress: Callable[[str], None]) -> list[Path]:
    """The page's training jobs call this on the folder they saved (vae_core.training.jobs.AfterSave):
    the first view, then the map's layers."""
    progress("Keeping the first view: the manifold grid and the browser's decoder and encoder…")
    kept = [make(folder), stored_layers.after_save(folder, progress)]
    return [path for path in kept if path is not None]


def read(folder, codes: dict) -> dict | None:
    """What the folder keeps for its present weights and codes, in the plane of `codes`:
    {"grid": {"settings", "png", "xs", "ys"}, "decoder": …, "encoder": …} as `exports` gives them; None
    when it keeps nothing for them (compute)."""
    file = Path(folder) / FILE
    if not file.exists():
        return None
    try:
        with np.load(file, allow_pickle=False) as kept:
            if str(kept["fingerprint"]) != stored_layers.fingerprint(folder):
                return None
            if not (np.allclose(kept["plane_mean"], codes["mean"], atol=1e-5)
                    and np.allclose(kept["plane_axes"], codes["axes"], atol=1e-5)):
                return None  # codes encoded again since (another plane for d > 2)
            view = {"grid": {"settings": tuple(kept["grid_settings"].tolist()), "png": kept["grid_png"].tobytes(),
                             "xs": kept["grid_xs"], "ys": kept["grid_ys"]}}
            for net in NETS:
                view[net] = {"error": str(kept[f"{net}_error"])} if f"{net}_error" in kept.files else \
                    {"spec": kept[f"{net}_spec"].tobytes(), "weights": kept[f"{net}_weights"].tobytes()}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # damaged or another version: compute
        return None
    return view


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.firstview",
                                     description=f"Keep the page's first view of saved model folders in each "
                                                 f"folder: {FILE} (the default manifold grid, the browser's "
                                                 f"decoder and encoder) and {stored_layers.FILE} (the map's layers).")
    parser.add_argument("folders", nargs="+", type=Path, help="model folders (config.json, weights.pt, latents.npz)")
    args = parser.parse_args(argv)
    for folder in args.folders:
        start = time.perf_counter()
        kept = after_save(folder, progress=lambda m, f=folder: print(f"{f}: {m}", flush=True))
        print(f"{folder}: " + (", ".join(f"kept {p.name} ({p.stat().st_size / 1e3:.0f} kB)" for p in kept)
                               + f" in {time.perf_counter() - start:.1f} s" if kept else "no test codes: nothing kept"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

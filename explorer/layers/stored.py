"""A model's map layers over the page's first view, computed once when the model is saved and kept in
its folder as `layers.npz`, so the first look at a layer is a file read, not seconds of decoding.

What is kept: every registered layer the model's dataset allows (the classes layer needs a shipped
classifier) on a lattice `ROOM` times wider each way than the first view's layer extent
(`mapview.first_layer_extent`) at the same spacing, so nearby grid settings still fall inside it. The
file names the weights and codes it was made from (a hash), so a folder whose weights or codes changed
is never served layers of other weights; a view outside the kept lattice is computed on demand.

`python -m explorer.layers.stored FOLDER...` (re)makes the file of model folders (the shipped ones:
pretrained/reproduce.sh).
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import math
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from .. import mapview
from . import LAYERS

FILE = "layers.npz"
ROOM = 1.25
CLASSIFIERS = Path(__file__).resolve().parents[2] / "classifiers"


MADE_FROM = ("weights.pt", "latents.npz")


def fingerprint(folder) -> str:
    """What the kept layers (and the kept first view) were computed from: the weights and the test codes.
    Hashed once per version of those files (inode, size and modification time), not at every read."""
    versions = []
    for name in MADE_FROM:
        try:
            stat = (Path(folder) / name).stat()
            versions.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
        except FileNotFoundError:
            versions.append(None)
    return _fingerprint(str(Path(folder).resolve()), tuple(versions))


@functools.lru_cache(maxsize=64)
def _fingerprint(folder: str, versions: tuple) -> str:
    digest = hashlib.sha256()
    for name in MADE_FROM:
        file = Path(folder) / name
        digest.update(name.encode())
        digest.update(file.read_bytes() if file.exists() else b"-")
    return digest.hexdigest()


def classifier_for(dataset: str):
    """The small classifier shipped for a built-in dataset (classifiers/<name>.pt), or None."""
    from vae_core.analysis.claims import load_classifier

    path = CLASSIFIERS / f"{dataset}.pt"
    return load_classifier(path) if path.exists() else None


def stored_extent(codes: dict) -> tuple[float, float, float, float]:
    """The kept lattice's extent: the first view's layer extent, `ROOM` times wider each way."""
    x0, x1, y0, y1 = mapview.first_layer_extent(codes)
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * ROOM, (y1 - y0) / 2 * ROOM
    return (cx - hw, cx + hw, cy - hh, cy + hh)


def on_lattice(bundle, kind: str, codes: dict, extent, n: int, classifier=None) -> dict:
    """Layer `kind` of a loaded model on an n×n lattice over `extent` in the map's plane (the codes' PCA
    plane for d > 2): {"xs", "ys", "n", and its arrays (n, n) with row i at y = ys[i]}."""
    from vae_core.analysis import geometry

    plane = {} if bundle.model_config.latent_dim <= 2 else {"mean": codes["mean"], "axes": codes["axes"]}
    xs, ys, z = geometry.lattice(extent[:2], extent[2:], n, **plane)
    computed = LAYERS[kind].compute(bundle.model, z, codes, plane, classifier)
    return {"xs": xs, "ys": ys, "n": n, **{key: np.asarray(v).reshape(n, n) for key, v in computed.items()}}


def compute(bundle, codes: dict, kinds=None, *, classifier=None,
            progress: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """Every layer in `kinds` (default: all registered) of a loaded model over `stored_extent(codes)`,
    as the arrays `write` keeps ({"<kind>/<array>": (n, n)}, plus "extent", "xs", "ys" and the plane)."""
    n = math.ceil(mapview.layer_side(bundle.model_config.arch) * ROOM)
    ext = stored_extent(codes)
    out = {"extent": np.asarray(ext, np.float64),
           "plane_mean": np.asarray(codes["mean"], np.float64), "plane_axes": np.asarray(codes["axes"], np.float64)}
    for kind in kinds or list(LAYERS):
        member = LAYERS[kind]
        if member.needs_classifier and classifier is None:
            continue
        if progress is not None:
            progress(f"computing the map's layer “{member.title}”")
        layer = on_lattice(bundle, kind, codes, ext, n, classifier if member.needs_classifier else None)
        out["xs"], out["ys"] = layer["xs"], layer["ys"]
        for key, values in layer.items():
            if key not in ("xs", "ys", "n"):
                out[f"{kind}/{key}"] = values.astype(np.float32 if values.dtype.kind == "f" else np.int32)
    return out


def write(folder, arrays: dict[str, np.ndarray], made_from: str, *, name: str = FILE,
          compressed: bool = True) -> Path:
    """Keep `arrays` as the folder's file `name` (layers.npz; explorer.firstview keeps view.npz) with the
    fingerprint they were made from, atomically (a reader sees the old file or the new one)."""
    folder = Path(folder)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            (np.savez_compressed if compressed else np.savez)(f, fingerprint=np.asarray(made_from), **arrays)
        os.replace(tmp, folder / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / name


def make(folder, *, progress: Callable[[str], None] | None = None) -> Path | None:
    """Compute and keep the layers of the model saved in `folder` (None: it has no test codes to map)."""
    import vae_core as vc

    bundle = vc.load_bundle(folder)
    if bundle.latents is None:
        return None
    made_from = fingerprint(folder)
    latents = bundle.latents
    codes = mapview.codes_view(latents["mu"], latents.get("logvar"), latents["labels"])
    arrays = compute(bundle, codes, classifier=classifier_for(bundle.dataset), progress=progress)
    return write(folder, arrays, made_from)


def after_save(folder, progress: Callable[[str], None]) -> Path | None:
    """The page's training jobs call this on the folder they saved (vae_core.training.jobs.AfterSave)."""
    return make(folder, progress=progress)


def read(folder, kind: str, extent, codes: dict) -> dict | None:
    """The kept layer `kind` as `explorer.cache.layer` returns one ({"xs", "ys", "n", arrays}), when the
    folder keeps it for its present weights and codes, in the plane of `codes`, and it covers `extent`;
    else None (compute it)."""
    file = Path(folder) / FILE
    if not file.exists():
        return None
    try:
        with np.load(file, allow_pickle=False) as kept:
            prefix = f"{kind}/"
            keys = [k for k in kept.files if k.startswith(prefix)]
            if not keys or str(kept["fingerprint"]) != fingerprint(folder):
                return None
            if not (np.allclose(kept["plane_mean"], codes["mean"], atol=1e-5)
                    and np.allclose(kept["plane_axes"], codes["axes"], atol=1e-5)):
                return None  # codes encoded again since (another plane for d > 2)
            x0, x1, y0, y1 = kept["extent"]
            if not (x0 <= extent[0] and extent[1] <= x1 and y0 <= extent[2] and extent[3] <= y1):
                return None
            arrays = {k[len(prefix):]: kept[k] for k in keys}
            xs, ys = kept["xs"], kept["ys"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # damaged or another version: compute
        return None
    return {"xs": xs, "ys": ys, "n": len(xs), **arrays}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.layers.stored",
                                     description="Compute the map's layers of saved model folders and keep "
                                                 f"them in each folder ({FILE}), for the page's first view.")
    parser.add_argument("folders", nargs="+", type=Path, help="model folders (config.json, weights.pt, latents.npz)")
    args = parser.parse_args(argv)
    for folder in args.folders:
        start = time.perf_counter()
        written = make(folder, progress=lambda m, f=folder: print(f"{f}: {m}", flush=True))
        print(f"{folder}: " + (f"kept {written.name} ({written.stat().st_size / 1e3:.0f} kB) in "
                               f"{time.perf_counter() - start:.1f} s" if written else "no test codes: nothing kept"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

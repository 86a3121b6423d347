"""What a person takes away from the page: the pictures as files, and a model folder as a .zip.

Each `*_file` function builds the bytes of one file from plain values (testable alone); `button`
draws a download button whose bytes are built only when it is pressed (Streamlit runs the callable
then, on another thread, so nothing here may call Streamlit) and which reruns nothing.
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

import vae_core as vc
from vae_core.lazy import LazyModule

from . import figures

explore = LazyModule("vae_core.analysis.explore")  # imports torch: on first use (vae_core.lazy)

PNG, GIF, ZIP = "image/png", "image/gif", "application/zip"
STRIP_SCALE, GIF_SCALE = 2, 4  # a 28-pixel frame: 56 px in a strip, 112 px in an animation


def file_stem(*parts: str) -> str:
    """A file name made of its parts: letters, digits, dot, dash and underscore only."""
    text = "-".join(str(p) for p in parts if p)
    return re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._-]+", "-", text)).strip("-.") or "vae-explorer"


def button(column, label: str, build: Callable[[], bytes], file_name: str, mime: str, *, key: str,
           help: str | None = None) -> None:
    """A download button that builds its file when pressed (`build`, no Streamlit inside) and leaves
    the page as it is."""
    column.download_button(label, build, file_name=file_name, mime=mime, key=key, help=help, on_click="ignore",
                           icon=":material/download:")


def _as_rgb8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return image if image.dtype == np.uint8 else (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def strip_png(frames: np.ndarray) -> bytes:
    """A row of decoded frames (K, H, W[, 3]), 2 px apart, each at twice its pixels."""
    return vc.png_bytes(figures.big(vc.tile(_as_rgb8(frames), len(frames), pad=2), STRIP_SCALE))


def strip_gif(frames: np.ndarray, *, duration_ms: int = 150) -> bytes:
    """The frames as a looping animation, each at four times its pixels, out and back again (so the
    loop does not jump from the end to the start), holding each end for a moment."""
    frames = [figures.big(f, GIF_SCALE) for f in _as_rgb8(frames)]
    there_and_back = frames + frames[-2:0:-1]
    return explore.gif_bytes(there_and_back, duration_ms=duration_ms)


def formation_gif(formation: dict, classes) -> bytes:
    """How a model's latent space formed (cache.formation) as an animation: one scatter per kept frame on
    shared axes, its epoch in the corner, the classes' legend beside it; the last frame held."""
    frames = explore.formation_frames(formation["codes"], formation["labels"], formation["epochs"], size=400)
    return explore.gif_bytes([figures.with_legend(f, classes) for f in frames], duration_ms=400, pause_ms=2000)


def model_zip(folder: str | Path) -> bytes:
    """A model folder as a .zip holding the folder itself (unzipped, it is a folder the page and
    `vae-core` can open)."""
    folder = Path(folder)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for file in sorted(folder.rglob("*")):
            if file.is_file() and not file.name.startswith("."):
                z.write(file, Path(folder.name) / file.relative_to(folder))
    return buf.getvalue()


def map_png(codes: dict, classes, view, *, title: str, axis_names, layer: dict | None = None,
            kind: str | None = None, scale: tuple[float, float] | None = None, pinned: int | None = None) -> bytes:
    """A latent map as shown: the test codes in the map's plane (cache.latent_codes) over its first view,
    with the geometry layer under them when one is shown (cache.layer's values, coloured on the scale the
    maps on screen share) and the pinned code ringed."""
    picture = legend = extent = None
    if layer is not None and kind is not None:
        picture, legend = figures.layer_picture(kind, layer, scale=scale)
        xs, ys = layer["xs"], layer["ys"]
        dx, dy = (xs[1] - xs[0]) / 2, (ys[1] - ys[0]) / 2  # the pixels are the lattice's points
        extent = (xs[0] - dx, xs[-1] + dx, ys[0] - dy, ys[-1] + dy)
    image = figures.map_picture(codes["xy"], codes["labels"], classes, view, title=title, axis_names=axis_names,
                                layer=picture, layer_extent=extent, layer_legend=legend, pinned=pinned)
    return vc.png_bytes(image)

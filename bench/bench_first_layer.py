"""The first view of a map layer on the shipped models: read from the folder's layers.npz (kept when the
model was saved, explorer/layers/stored.py) against computed on the page's lattice, side by side.

Prints figures, asserts nothing. Each cell is the page's own call (explorer.cache.layer, uncached: a
new version stamp per call) for the first view's extent with the default manifold grid, then the layer
painted to its picture (figures.layer_picture): what a person waits for after picking the layer, less
the transfer. Median of `--repeat` runs; "computed" is the page before the layers were kept. Goal: ≤ 0.5 s
for shipped models.

    python bench/bench_first_layer.py
"""
from __future__ import annotations

import argparse
import itertools
import logging
import os
import statistics
import sys
import time

import vae_core as vc
from explorer import cache, figures, mapview
from explorer.layers import LAYERS
from explorer.layers import stored
from explorer.settings import DEFAULT_GRID, PALETTE

MODELS = ("mnist-vae", "mnist-mmd", "fashion-vae", "fashion-mmd")
_stamps = itertools.count(1)


def first_view(name: str, kind: str, *, kept: bool) -> float:
    folder = vc.PRETRAINED_DIR / name
    latents = vc.load_bundle(folder).latents
    codes = mapview.codes_view(latents["mu"], latents.get("logvar"), latents["labels"])
    grid = dict(zip(("xs", "ys"), mapview.grid_axes(codes, *DEFAULT_GRID)))
    extent = mapview.layer_extent(codes, grid)
    real_read = stored.read
    if not kept:
        stored.read = lambda *a, **k: None
    try:
        start = time.perf_counter()
        layer = cache.layer(str(folder), float(next(_stamps)), kind, name.split("-")[0], extent, codes)
        figures.layer_picture(kind, layer, PALETTE, LAYERS[kind].scale([layer]))
        return time.perf_counter() - start
    finally:
        stored.read = real_read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    # Each model loaded once, outside the timings: the page keeps it loaded (cache.load_model).
    loaded = {str(vc.PRETRAINED_DIR / name): vc.load_bundle(vc.PRETRAINED_DIR / name) for name in MODELS}
    cache.load_model = lambda path, stamp: loaded[path]
    print("\n| model | layer | kept: read (s) | computed (s) | ratio |")
    print("|---|---|---|---|---|")
    for name, kind in itertools.product(MODELS, LAYERS):
        read, computed = [], []
        for _ in range(args.repeat):  # alternating, so a busy moment hits both
            read.append(first_view(name, kind, kept=True))
            computed.append(first_view(name, kind, kept=False))
        r, c = statistics.median(read), statistics.median(computed)
        print(f"| {name} | {LAYERS[kind].title} | {r:.3f} | {c:.2f} | {c / r:.0f}× |")
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

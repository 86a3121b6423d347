"""How a latent space forms while its model trains: the codes of a fixed subset of test images,
encoded before the first step and at every epoch's end (`Formation.record`, called by the training
loop), and, for a page that watches a training, in between within a time budget (`Formation.live`).

A saved model keeps them beside its weights as formation.npz: `codes` (frames, n, d) float16,
`epochs` (frames,) float32 (0 is the untrained model), `index` (n,) the test images used and
`labels` (n,). For 2,000 images of a 2-D model a frame is 8 kB: 10 epochs take 88 kB.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data import Inputs, Split
from ..errors import CheckpointError
from ..lazy import torch

if TYPE_CHECKING:
    from ..model.networks import VAE

FORMATION_FILE = "formation.npz"
FORMATION_IMAGES = 2000
LIVE_SHARE = 0.03  # live encodes wait while all encodes took more of the training's time (goal: ≤ 5 % slower)


class Formation:
    """The codes of `n` test images (a seeded choice, the same for every frame) as training goes."""

    def __init__(self, test_split: Split, inputs: Inputs, *, n: int = FORMATION_IMAGES, seed: int = 0):
        total = len(test_split)
        g = np.random.default_rng(seed)
        self.index = np.sort(g.choice(total, size=min(n, total), replace=False))
        self.x = inputs.of(test_split.images)[torch.as_tensor(self.index)]
        self.labels = test_split.labels.numpy()[self.index]
        self.frames: list[tuple[float, np.ndarray]] = []  # (epoch, codes float16)
        self._encode_seconds, self._started = 0.0, time.perf_counter()  # every encode's time, kept or live
        self._last_encode = 0.0  # the latest encode's time: what the next one will take, about

    def _encode(self, model: VAE) -> np.ndarray:
        from .explore import encode_means  # torch's own import: a saved formation is read without it

        was_training, start = model.training, time.perf_counter()
        try:
            return encode_means(model, self.x)
        finally:
            model.train(was_training)
            self._last_encode = time.perf_counter() - start
            self._encode_seconds += self._last_encode

    def record(self, model: VAE, epoch: float) -> np.ndarray:
        """Encode the images now and keep the frame (the loop calls this at epoch 0 and each epoch's end)."""
        codes = self._encode(model)
        self.frames.append((float(epoch), codes.astype(np.float16)))
        return codes

    @property
    def encode_seconds(self) -> float:
        """The time every encode has taken so far (kept frames and live codes)."""
        return self._encode_seconds

    def live(self, model: VAE) -> np.ndarray | None:
        """The codes now, unless the encodes so far (the kept frames' too) and this one would take more
        than LIVE_SHARE of the time since training started: a slow encoder, or short epochs whose
        frames already cost that much, are shown less often instead of slowing training."""
        if self._encode_seconds + self._last_encode > LIVE_SHARE * (time.perf_counter() - self._started):
            return None
        return self._encode(model)

    def state(self) -> dict:
        """What a resume checkpoint keeps of it (plain arrays)."""
        return {"epochs": [e for e, _ in self.frames], "codes": [torch.from_numpy(c) for _, c in self.frames]}

    def restore(self, state: dict | None) -> None:
        if state:
            self.frames = [(float(e), c.numpy()) for e, c in zip(state["epochs"], state["codes"])]

    def arrays(self) -> dict[str, np.ndarray]:
        return {"codes": np.stack([c for _, c in self.frames]), "epochs": np.array([e for e, _ in self.frames],
                                                                                   np.float32),
                "index": self.index.astype(np.int64), "labels": self.labels.astype(np.int64)}


def read_formation(path) -> dict[str, np.ndarray] | None:
    """A model folder's formation.npz as arrays, None when the folder has none; a damaged file is a
    CheckpointError naming it."""
    file = Path(path) / FORMATION_FILE
    if not file.exists():
        return None
    try:
        with np.load(file, allow_pickle=False) as npz:
            out = {k: npz[k] for k in ("codes", "epochs", "index", "labels")}
    except Exception as exc:  # numpy raises many kinds for damaged files
        raise CheckpointError(f"{file}: cannot be read ({type(exc).__name__}: {exc})") from None
    frames, n = out["epochs"].shape[0], out["index"].shape[0]
    if out["codes"].ndim != 3 or out["codes"].shape[:2] != (frames, n) or out["labels"].shape != (n,):
        raise CheckpointError(f"{file}: shapes do not agree (codes {out['codes'].shape}, {frames} epochs, "
                              f"{n} images)")
    return out

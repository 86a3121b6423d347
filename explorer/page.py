"""What every view is drawn from: the dataset, its test set (or why it is missing), the models."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import vae_core as vc

from . import cache, state
from .comparison import Slot


@dataclass(frozen=True)
class DatasetInfo:
    """What the views need to know of the dataset: its title and class names."""

    title: str
    classes: tuple[str, ...]


@dataclass
class Page:
    dataset: str
    data_dir: str
    slots: list[Slot]
    test: cache.TestSet | None  # None when the data files are missing
    data_error: str | None = None
    owner: str = ""  # names this browser (explorer/identity.py): its trainings are the ones shown
    record: vc.Dataset | None = None  # None when a user's dataset cannot be read now
    listed: frozenset[str] = frozenset()  # the model folders the sidebar listed in this run

    def lists(self, path: str) -> bool:
        """Whether the sidebar of this run already offered the model folder `path`."""
        return str(Path(path).resolve()) in self.listed

    @property
    def info(self) -> DatasetInfo:
        """The dataset's title and classes: from its record, else from what a model recorded of it."""
        if self.record is not None:
            return DatasetInfo(self.record.title, tuple(self.record.classes))
        recorded = next((s.entry.data for s in self.slots if s.entry is not None and s.entry.data), None) or {}
        return DatasetInfo(vc.dataset_title(self.dataset), tuple(recorded.get("classes") or ()))

    @property
    def live(self) -> list[Slot]:
        """The models that loaded and have test codes to show."""
        return [s for s in self.slots if s.ok and s.codes]

    @property
    def test_key(self) -> str:
        """Names the test set in cache keys (the cached functions take it unhashed)."""
        return f"{self.dataset}:{self.data_dir}"

    def context(self) -> state.Context:
        counts = self.test.class_counts(len(self.info.classes)) if self.test is not None \
            else (0,) * len(self.info.classes)
        return state.Context(self.dataset, tuple(self.info.classes), counts, tuple(s.identity for s in self.slots),
                             None if self.test is None else self.test.labels)

    def class_members(self, cls: int) -> np.ndarray:
        return np.flatnonzero(self.test.labels == cls)

    def interpolation_ends(self) -> tuple[int, int]:
        """Test-set indices of the two ends' test images (synced, so valid for this test set)."""
        return state.get("interp_a_index"), state.get("interp_b_index")

    def drawing(self) -> np.ndarray | None:
        """The drawing pinned on the latent map for this dataset, (C, H, W) in [0, 1]; None without one."""
        return state.pinned_drawing(self.dataset)

    def interpolation_sources(self) -> tuple[tuple[str, int | str], tuple[str, int | str]]:
        """Each end as ("test", index) or ("drawing", a digest of the pinned drawing): hashable, for cache keys."""
        drawing = self.drawing()
        digest = None if drawing is None else hashlib.sha1(repr(drawing.shape).encode() + drawing.tobytes()).hexdigest()
        return tuple(("drawing", digest) if digest and state.get(f"interp_{end}_drawing") else ("test", int(index))
                     for end, index in zip("ab", self.interpolation_ends()))

    def interpolation(self, slot: Slot) -> tuple[np.ndarray, np.ndarray] | None:
        """(latent path, decoded frames) of one model between the two ends; None without data, or when the
        drawing is an end and this model sees images of another shape."""
        if self.test is None or not slot.ok:
            return None
        try:
            return cache.interpolation(slot.path, slot.stamp, self.test, self.test_key, self.interpolation_sources(),
                                       state.get("interp_steps"), state.get("interp_method"), self.drawing())
        except cache.EndShapeError:
            return None

    def interpolation_path(self, slot: Slot) -> np.ndarray | None:
        """The latent path of `interpolation` alone, what the map draws: from the model's test codes when
        both ends are test images (no decoding, no torch: the first view), else `interpolation`'s."""
        sources = self.interpolation_sources() if self.test is not None and slot.ok else ()
        mu = slot.codes.get("mu") if slot.codes else None
        if sources and mu is not None and all(kind == "test" and key < len(mu) for kind, key in sources):
            return vc.interpolation_path(mu[sources[0][1]], mu[sources[1][1]], state.get("interp_steps"),
                                         state.get("interp_method"))
        found = self.interpolation(slot)
        return None if found is None else found[0]

    def geodesic(self, slot: Slot) -> dict | None:
        """The geodesic between the ends (cache.geodesic) when the Interpolation tab asked for it."""
        if not state.get("geodesic") or self.test is None or not slot.ok:
            return None
        try:
            return cache.geodesic(slot.path, slot.stamp, self.test, self.test_key, self.interpolation_sources(),
                                  slot.codes, self.drawing())
        except cache.EndShapeError:
            return None

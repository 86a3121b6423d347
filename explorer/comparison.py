"""The models compared side by side: what was chosen for each side, loaded, or why not."""
from __future__ import annotations

from dataclasses import dataclass, field

import vae_core as vc

from . import cache
from .settings import objective_title


@dataclass
class Slot:
    """One side of the comparison: the chosen model folder as read (its network loads when something
    computes: `cache.load_model`), or an error."""

    side: str
    entry: vc.ModelEntry | None
    bundle: vc.Bundle | None = None
    stamp: float = 0.0
    error: str | None = None
    codes: dict = field(default_factory=dict)  # cache.latent_codes: test codes and their plane

    @property
    def ok(self) -> bool:
        return self.bundle is not None

    @property
    def path(self) -> str:
        return str(self.entry.path)

    @property
    def latent_dim(self) -> int:
        return self.bundle.model_config.latent_dim

    @property
    def identity(self) -> str:
        """Names this model version (the scope of per-model page state)."""
        return f"{self.side}={self.path}@{self.stamp}" if self.ok else f"{self.side}=none"

    @property
    def title(self) -> str:
        if self.entry is None:
            return f"Model {self.side}"
        return f"{self.side}: {self.entry.name} ({objective_title(self.entry.objective)})"


def open_slot(side: str, entry: vc.ModelEntry | None, dataset: str, record: vc.Dataset | None = None) -> Slot:
    """Load a chosen model, or say in one sentence why it cannot be shown (another dataset, or the
    same dataset's files changed since it was trained: its fingerprint no longer fits)."""
    if entry is None:
        return Slot(side, None, error="No model for this dataset yet: train one in the “Train” tab.")
    if entry.error:
        return Slot(side, entry, error=entry.error)
    if entry.dataset != dataset:
        return Slot(side, entry, error=(
            f"{entry.name} was trained on {vc.dataset_title(entry.dataset)}, not "
            f"{vc.dataset_title(dataset)}: switch the dataset in the sidebar to explore it."))
    mismatch = entry.dataset_mismatch(record) if record is not None else None
    if mismatch:
        return Slot(side, entry, error=mismatch)
    stamp = cache.folder_stamp(entry.path)
    try:
        return Slot(side, entry, cache.folder(str(entry.path), stamp), stamp)
    except vc.CheckpointError as exc:
        return Slot(side, entry, error=f"Cannot load {entry.name}: {exc}")


def default_model(entries: list[vc.ModelEntry], dataset: str, side: str, taken: tuple[str, ...] = ()) -> int:
    """The model a side opens on: the shipped one for that side (A: standard VAE, B: MMD-VAE), else one
    of the right objective, else any that loads; a model already shown on another side comes last (the
    one shown least), so C and D open on models not yet on screen while there are any."""
    objective = "mmd" if side == "B" else "standard"
    shipped = dict(zip("AB", vc.shipped_names(dataset))).get(side)
    usable = [i for i, e in enumerate(entries) if e.dataset == dataset and not e.error]
    fresh = [i for i in usable if str(entries[i].path) not in taken]
    ranked = [[i for i in range(len(entries)) if entries[i].source == "pretrained" and entries[i].name == shipped],
              [i for i in fresh if entries[i].objective == objective],
              fresh,
              sorted(usable, key=lambda i: taken.count(str(entries[i].path)))]  # stable: list order breaks ties
    return next((found[0] for found in ranked if found), 0)

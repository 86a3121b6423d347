"""The test set, or a plain account of why it is missing and what still works without it.

The shipped models carry their test codes (latents.npz), so the map, the sliders, the grid
and the prior samples need no data files; the picked image, the interpolation, the
reconstructions and training do. The page never downloads behind the user's back: it offers
a Download button and a Retry that looks again without a server restart.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

import vae_core as vc

from . import cache, state
from .text import plain


def dataset_record(dataset: str, data_dir: str) -> vc.Dataset | None:
    """The dataset's record, or None when a user's file cannot be read now (the notice says why)."""
    try:
        return cache.dataset_record(dataset, data_dir)
    except vc.DatasetError:
        return None


def load_test_set(dataset: str, data_dir: str) -> tuple[cache.TestSet | None, str | None]:
    try:
        return cache.test_set(dataset, data_dir, state.get("data_attempt")), None
    except vc.DatasetError as exc:
        return None, str(exc)


def retry() -> None:
    state.set("data_attempt", state.get("data_attempt") + 1)


def draw_missing(dataset: str, data_dir: str, error: str) -> None:
    """One notice: which files are missing (or which one is damaged), where they go, what works anyway."""
    if dataset not in vc.DATASETS:  # the user's own file or folder
        st.warning(f"**{vc.dataset_title(dataset)} could not be read.** {plain(error)} The latent map, the sliders, "
                   "the manifold grid and the prior samples work from the models' stored codes. Fix the file "
                   f"(`{dataset}`), then press Retry.")
        st.button("Retry", key="data_retry", on_click=retry, help="Read the data again")
        return
    info = vc.DATASETS[dataset]
    raw = Path(data_dir) / info.folder / "raw"
    missing = [name for name in info.md5 if not (raw / name).is_file()]
    still = ("The latent map, the sliders, the manifold grid and the prior samples work from the models' "
             "stored codes; the picked image, the interpolation, the reconstructions and training need the "
             "data files.")
    if missing:
        st.warning(
            f"**The {info.title} test images are not on this machine.** {still} Put "
            f"{', '.join(f'`{name}`' for name in missing)} in `{raw}`, or start the page with "
            f"`streamlit run explorer_app.py -- --data-dir DIR` (or set `VAE_DATA_DIR`) for a folder holding "
            f"`{info.folder}/raw/`, then press Retry.")
    else:
        st.warning(f"**The {info.title} data files could not be read.** {plain(error)} {still} Replace the "
                   "file, then press Retry.")
    c1, c2, c3 = st.columns([1, 2, 4])
    c1.button("Retry", key="data_retry", on_click=retry, help="Look for the files again")
    if missing and c2.button(f"Download {info.title}", key="data_download",
                             help="From the mirrors torchvision uses, checked against their MD5 sums"):
        with st.spinner(f"Downloading {info.title}…"):
            try:
                cache.download_data(dataset, data_dir)
            except vc.DatasetError as exc:
                st.error(f"The download failed: {plain(exc)}")
            else:
                retry()
                st.rerun()
    if missing:
        with c3.expander("Details"):
            st.text(error)

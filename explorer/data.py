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


def missing_files(dataset: str, data_dir: str) -> tuple[Path, list[str]]:
    """A built-in dataset's raw folder and the files it lacks (none for a dataset of your own)."""
    info = vc.DATASETS.get(dataset)
    if info is None:
        return Path(dataset), []
    raw = Path(data_dir) / info.folder / "raw"
    return raw, [name for name in info.md5 if not (raw / name).is_file()]


def download_button(column, dataset: str, data_dir: str, key: str) -> None:
    """Download a built-in dataset's files when pressed (the page's only way to the internet); on
    success the page runs again and finds them, on failure it says why."""
    title = vc.DATASETS[dataset].title
    if not column.button(f"Download {title}", key=key,
                         help="From the mirrors torchvision uses, checked against their MD5 sums"):
        return
    with st.spinner(f"Downloading {title}…"):
        try:
            cache.download_data(dataset, data_dir)
        except vc.DatasetError as exc:
            st.error(f"The download failed: {plain(exc)}")
            return
    retry()
    st.rerun()


def draw_missing(dataset: str, data_dir: str, error: str) -> None:
    """One notice: which files are missing (or which one is damaged), where they go, what works anyway."""
    if dataset not in vc.DATASETS:  # the user's own file or folder
        st.warning(f"**{vc.dataset_title(dataset)} could not be read.** {plain(error)} The latent map, the sliders, "
                   "the manifold grid and the prior samples work from the models' stored codes. Fix the file "
                   f"(`{dataset}`), then press Retry.")
        st.button("Retry", key="data_retry", on_click=retry, help="Read the data again")
        return
    info = vc.DATASETS[dataset]
    raw, missing = missing_files(dataset, data_dir)
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
    if missing:
        download_button(c2, dataset, data_dir, key="data_download")
        with c3.expander("Details"):
            st.text(error)


def draw_missing_for_training(dataset: str, data_dir: str) -> bool:
    """In the training form: the built-in dataset's files that training needs and lacks, with Download.
    True when some are missing (training cannot start until they are here)."""
    raw, missing = missing_files(dataset, data_dir)
    if not missing:
        return False
    title = vc.DATASETS[dataset].title
    st.warning(f"**The {title} training files are not on this machine.** Training reads "
               f"{', '.join(f'`{name}`' for name in missing)} from `{raw}`. Press Download (nothing is "
               "fetched until you do), or put the files there and press Retry.")
    c1, c2, _ = st.columns([1, 2, 4])
    c1.button("Retry", key="t_data_retry", on_click=retry, help="Look for the files again")
    download_button(c2, dataset, data_dir, key="t_data_download")
    return True

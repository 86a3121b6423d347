"""The page's one door into vae_core: every call is cached by kind, keyed by the model's version.

Models are resources (loaded once per server and shared by every session); codes, grids
and images are data. Every key holds the folder's stamp, so a re-saved folder (new weights,
or new metrics after `evaluate --save`) is never served stale. Cached functions read only
their arguments.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

import vae_core as vc
from vae_core.lazy import LazyModule

from . import firstview, mapview, warmup
from .layers import stored as stored_layers

# These import torch: on first use, so the first view of shipped models needs none (vae_core.lazy).
explore = LazyModule("vae_core.analysis.explore")
formation_file = LazyModule("vae_core.analysis.formation")
resume = LazyModule("vae_core.training.resume")
jobs = LazyModule("vae_core.training.jobs")

STAMPED_FILES = ("config.json", "weights.pt", "metrics.json", "latents.npz", "formation.npz", "view.npz")


def folder_stamp(path: Path) -> float:
    """A cheap version of a model folder for cache keys: its files' modification times."""
    try:
        return sum((path / f).stat().st_mtime for f in STAMPED_FILES if (path / f).exists())
    except OSError:
        return 0.0


@st.cache_resource(show_spinner=False, max_entries=8)
def load_model(path: str, stamp: float) -> vc.Bundle:
    """One loaded model per folder version, shared by all sessions (inference only)."""
    return vc.load_bundle(path, device=vc.pick_device())


@st.cache_resource(show_spinner=False, max_entries=16)
def read_folder(path: str, stamp: float) -> vc.Bundle:
    """A model folder without its network (vae_core.read_bundle: no torch), per folder version."""
    return vc.read_bundle(path)


def folder(path: str, stamp: float) -> vc.Bundle:
    """A model folder as the page shows it: loaded, its weights checked, once torch is ready; on a fresh
    server's first view (no torch yet) read without its network. Either way read once per version."""
    return load_model(path, stamp) if warmup.torch_ready() else read_folder(path, stamp)


@st.cache_resource(show_spinner=False, max_entries=16)
def kept_view(path: str, stamp: float, _codes: dict) -> dict | None:
    """What the folder keeps of its first view (explorer.firstview.read), or None; one read per version."""
    return firstview.read(path, _codes)


def device_text() -> str:
    """Where models run; until torch has loaded (a fresh server's first view needs none), that it is loading."""
    return _device_text() if warmup.torch_ready() else "known once torch has loaded (a moment)"


@st.cache_resource(show_spinner=False)
def _device_text() -> str:
    return vc.describe_device()


@st.cache_resource(show_spinner="Reading your dataset…", max_entries=8)
def dataset_record(spec: str, data_dir: str) -> vc.Dataset:
    """What a dataset is (title, classes, image shape): a built-in's record, or a user's file read once."""
    return vc.resolve_dataset(spec, data_dir=data_dir)


@dataclass(frozen=True)
class TestSet:
    """The test split as the page needs it: uint8 images (N, H, W) or (N, H, W, 3), and labels (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def class_counts(self, n_classes: int) -> tuple[int, ...]:
        return tuple(int(c) for c in np.bincount(self.labels, minlength=n_classes))


@st.cache_resource(show_spinner="Reading the test set…")
def test_set(dataset: str, data_dir: str, attempt: int) -> TestSet:
    """Read once per server; a failure is not cached, and `attempt` lets Retry look again.

    Never downloads: a missing file is a DatasetError at once, and downloading is the
    user's explicit choice (`download_data`).
    """
    images, labels = vc.load_arrays(dataset, "test", data_dir=data_dir, download=False, progress=False)  # (N, C, H, W)
    images = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
    return TestSet(images, labels)


@st.cache_resource(show_spinner=False, max_entries=8)
def _model_inputs(_test: TestSet, test_key: str, binarized: bool, seed: int) -> np.ndarray:
    """The whole test split as models with these `vae_core.data.Inputs` see it: float32 (N, C, H, W)."""
    c = 1 if _test.images.ndim == 3 else _test.images.shape[3]
    images = explore.to_model_layout(_test.images, (c, *_test.images.shape[1:3]))
    return vc.Inputs(binarized, seed).of(images).numpy()


def model_inputs(bundle: vc.Bundle, _test: TestSet, test_key: str) -> np.ndarray:
    """The test images as `bundle`'s model sees them, the convention its codes were made under."""
    return _model_inputs(_test, test_key, bundle.inputs.binarized, bundle.inputs.seed)


def download_data(dataset: str, data_dir: str) -> None:
    """Fetch the dataset's files from the mirrors (MD5-checked; raises DatasetError)."""
    vc.data.ensure_files(dataset, data_dir, download=True, progress=False)


@st.cache_data(show_spinner=False, max_entries=16)
def latent_codes(path: str, stamp: float, _test: TestSet | None, test_key: str) -> dict:
    """The test set's latent means (from latents.npz when the folder has them, so neither
    encoding nor the data files are needed), their 2-D view (PCA for d > 2) and the ranges
    the sliders cover. `test_key` names `_test` in the cache key."""
    bundle = folder(path, stamp)
    logvar = None
    stored = bundle.latents is not None and (_test is None or len(bundle.latents["mu"]) == len(_test.labels))
    if stored and (bundle.latents_follow_inputs or _test is None):
        mu, labels, logvar = bundle.latents["mu"], bundle.latents["labels"], bundle.latents.get("logvar")
    elif _test is not None:  # no codes, or codes from before the inputs were recorded: encode them
        from vae_core.analysis import geometry

        (mu, logvar), labels = geometry.encode_posteriors(load_model(path, stamp).model,
                                                          model_inputs(bundle, _test, test_key)), _test.labels
    else:
        return {}
    return mapview.codes_view(mu, logvar, labels)


@st.cache_data(show_spinner=False, max_entries=32)
def manifold(path: str, stamp: float, n: int, spacing: str, lo: float, hi: float,
             _codes: dict) -> dict:
    """The n×n decoded grid in the plane the map shows, with its axes' coordinates.

    `lo`/`hi` are percent: Gaussian probabilities for 'quantile' spacing, percentiles of the
    test codes (along the map's axes) for 'range'. For d > 2 the plane passes through the
    codes' mean along their two principal axes. The first view's grid is the folder's kept one
    (explorer.firstview) when it keeps one for these weights and codes."""
    kept = kept_view(path, stamp, _codes)
    if kept is not None and kept["grid"]["settings"] == tuple(firstview.grid_settings_key((n, spacing, lo, hi))):
        return {key: kept["grid"][key] for key in ("png", "xs", "ys")}
    return mapview.decoded_grid(load_model(path, stamp).model, _codes, n, spacing, lo, hi)


@st.cache_data(show_spinner=False, max_entries=64)
def reconstructions(path: str, stamp: float, _test: TestSet, test_key: str, indices: tuple[int, ...]) -> np.ndarray:
    bundle = load_model(path, stamp)
    return vc.reconstruct(bundle.model, model_inputs(bundle, _test, test_key)[list(indices)])


@st.cache_data(show_spinner=False, max_entries=32)
def samples(path: str, stamp: float, n: int, seed: int) -> np.ndarray:
    return vc.prior_samples(load_model(path, stamp).model, n, seed=seed)


class EndShapeError(ValueError):
    """The pinned drawing has another shape than the images this model sees."""


def end_inputs(bundle: vc.Bundle, _test: TestSet, test_key: str, ends: tuple, _drawing: np.ndarray | None
               ) -> np.ndarray:
    """The interpolation's two ends as the model sees them, (2, C, H, W): a test image in the model's input
    convention for ("test", index), the pinned drawing (`_drawing`, named by its digest) for ("drawing", _)."""
    x = model_inputs(bundle, _test, test_key)
    out = []
    for kind, key in ends:
        if kind == "test":
            out.append(x[key])
        elif _drawing is None or _drawing.shape != x.shape[1:]:
            raise EndShapeError(f"the drawing is {None if _drawing is None else _drawing.shape}, the model sees "
                                f"{x.shape[1:]}")
        else:
            out.append(_drawing.astype(np.float32))
    return np.stack(out)


@st.cache_data(show_spinner=False, max_entries=32)
def interpolation(path: str, stamp: float, _test: TestSet, test_key: str, ends: tuple, steps: int,
                  method: str, _drawing: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(latent path (steps, D), decoded images (steps, H, W[, 3])) between the two ends (`end_inputs`)."""
    bundle = load_model(path, stamp)
    x = end_inputs(bundle, _test, test_key, ends, _drawing)
    return vc.interpolate(bundle.model, x[0], x[1], steps=steps, method=method)


@st.cache_data(show_spinner=False, max_entries=16)
def formation(path: str, stamp: float) -> dict | None:
    """How a model's latent space formed (its formation.npz, vae_core.analysis.formation), ready to replay:
    every frame's codes in one plane (the latent plane for d = 2, else the final codes' two principal
    axes), axis limits that hold every frame, epochs and labels; None for a folder without one.
    Raises CheckpointError for a damaged file."""
    kept = formation_file.read_formation(path)
    if kept is None:
        return None
    codes = kept["codes"].astype(np.float32)  # (frames, n, d)
    if codes.shape[2] <= 2:
        xy, names = codes[..., :2], ("z1", "z2")
    else:
        plane = vc.latent_plane(codes[-1])
        xy = ((codes - plane.mean) @ plane.axes.T).astype(np.float32)
        names = tuple(f"PC{i + 1} ({plane.explained[i]:.0%} of the final codes' variance)" for i in range(2))
    lo = np.percentile(xy, 0.5, axis=1).min(0)  # (2,): every frame's bulk fits
    hi = np.percentile(xy, 99.5, axis=1).max(0)
    pad = 0.05 * (hi - lo) + 1e-6
    return {"codes": kept["codes"], "xy": xy, "epochs": kept["epochs"], "labels": kept["labels"],
            "limits": (lo - pad, hi + pad), "axis_names": names}


TRAVERSAL_SPAN = 3.0  # each row runs from −3σ to +3σ


@st.cache_data(show_spinner="Decoding the traversals…", max_entries=16)
def traversal(path: str, stamp: float, center: tuple[float, ...], steps: int, _codes: dict) -> dict:
    """The β-VAE traversal figure of a model: one row per latent dimension, the most informative first
    (vae_core.analysis.explore.dimension_order: the mean KL to N(0, 1) of each dimension, or the codes' variance
    for a deterministic encoder), each decoding `center` moved from −3σ to +3σ along it, σ the spread of
    the aggregate posterior q(z) along that dimension (√(Var μ + E σ²); the codes' standard deviation
    for a deterministic encoder). Also which dimensions are active (Var μ > 0.01, Burda et al. 2016)."""
    from vae_core.analysis import geometry

    mu, logvar = _codes["mu"], _codes.get("logvar")
    order, score = explore.dimension_order(mu, logvar)
    spread = np.sqrt(mu.var(0) + (np.exp(logvar).mean(0) if logvar is not None else 0.0))
    images = explore.traversal(load_model(path, stamp).model, np.asarray(center, np.float32), dims=order,
                                  scale=spread, steps=steps, span=TRAVERSAL_SPAN)
    return {"images": images, "order": order, "score": score, "scale": spread,
            "active": geometry.unit_activity(mu) > 0.01, "kl": logvar is not None}


def decode_point(path: str, stamp: float, z: tuple[float, ...]) -> np.ndarray:
    """One decoded latent point (not cached: every slider value is new)."""
    return vc.decode(load_model(path, stamp).model, np.asarray(z, np.float32))[0]


@st.cache_resource(show_spinner=False)
def classifier(dataset: str):
    """The small classifier shipped for a built-in dataset (classifiers/<name>.pt), or None."""
    return stored_layers.classifier_for(dataset)


@st.cache_data(show_spinner="Computing the layer…", max_entries=48)
def layer(path: str, stamp: float, kind: str, dataset: str, extent: tuple[float, float, float, float],
          _codes: dict) -> dict:
    """One layer of a model (`explorer.layers.LAYERS[kind]`) on a lattice over `extent` (the map's
    plane): its arrays (n, n) with row i at y = ys[i] (y up). Read from the layers the folder keeps
    when they cover `extent` (explorer/layers/stored.py: the first view), else computed. Cached per
    model version."""
    from .layers import LAYERS

    member = LAYERS[kind]  # an unknown kind is a KeyError: the page lists only registered layers
    kept = stored_layers.read(path, kind, extent, _codes)
    if kept is not None:
        return kept
    bundle = load_model(path, stamp)
    return stored_layers.on_lattice(bundle, kind, _codes, extent, mapview.layer_side(bundle.model_config.arch),
                                    classifier(dataset) if member.needs_classifier else None)


@st.cache_data(show_spinner=False, max_entries=16)
def hole_samples(path: str, stamp: float, n: int, _codes: dict) -> np.ndarray:
    """A few prior draws that fell where q(z) < p(z)/10, decoded (seeded, so a rerun shows the same)."""
    from vae_core.analysis import geometry

    _, images = geometry.hole_prior_samples(load_model(path, stamp).model, _codes["mu"], _codes.get("logvar"), n,
                                            seed=0)
    return images


@st.cache_data(show_spinner="Finding the geodesic…", max_entries=32)
def geodesic(path: str, stamp: float, _test: TestSet, test_key: str, ends: tuple, _codes: dict,
             _drawing: np.ndarray | None = None) -> dict:
    """The path between the two ends' codes (`end_inputs`) along which the decoded image changes least (the
    shortest found from several starts, one bent through the codes' mean), its frames, and both
    paths' lengths (each segment measured in 16 pieces, as vae_core does)."""
    from vae_core.analysis import geometry

    bundle = load_model(path, stamp)
    model = bundle.model
    codes = vc.encode_means(model, end_inputs(bundle, _test, test_key, ends, _drawing))
    path_z = geometry.geodesic(model, codes[0], codes[1], steps=16, through=_codes["mu"].mean(0))
    line = vc.interpolation_path(codes[0], codes[1], 16)
    return {"path": path_z, "frames": vc.decode(model, path_z),
            "length": geometry.curve_length(model, path_z, refine=16),
            "line_length": geometry.curve_length(model, line, refine=16)}


@st.cache_data(show_spinner="Measuring the KL ledger…", max_entries=16)
def measure_ledger(path: str, stamp: float, _codes: dict) -> dict:
    """The geometry block a training with evaluation stores (geometry.ledger), for a model saved
    without it: measured from its stored test codes, once per model version."""
    from vae_core.analysis import geometry

    return geometry.ledger(load_model(path, stamp).model, _codes["mu"], _codes.get("logvar"))


def resumable_runs() -> list:
    """vae_core.resumable_runs, read again only when a resume checkpoint or its model folder changed
    (each checkpoint holds weights and optimiser state: not a read for every Train-tab run)."""
    root = vc.models_dir()
    signature = []
    suffix = resume.SUFFIX
    for file in sorted(root.glob(f".*{suffix}")) if root.is_dir() else ():
        try:
            model = file.parent / file.name[1:-len(suffix)]
            signature.append((file.name, file.stat().st_mtime_ns, folder_stamp(model) if model.exists() else 0.0))
        except OSError:  # removed meanwhile (a run that just finished)
            continue
    return _resumable_runs(str(root), tuple(signature))


@st.cache_resource(show_spinner=False, max_entries=4)
def _resumable_runs(root: str, signature: tuple) -> list:
    return vc.resumable_runs(Path(root))


@st.cache_resource
def job_registry() -> jobs.JobRegistry:
    """One registry per server process: a training survives reruns, reloads and other sessions.
    Each browser runs one training at a time; the server runs at most two at once."""
    return jobs.JobRegistry(max_running=jobs.DEFAULT_MAX_RUNNING)

"""VAE Explorer: a standard VAE and an MMD-VAE side by side on MNIST or Fashion-MNIST.

Run with `streamlit run explorer_app.py`. The page only lays things out: `vae_core`
computes (and is the only code that touches torch). Page functions come in three
kinds: `*_ui()` draws widgets and returns plain values, cached helpers call
`vae_core`, and `draw_*()` renders results.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

import vae_core as vc
from vae_core import jobs

SIDES = ("A", "B")
N_ROW = 10  # images in the samples and reconstructions rows
# Tableau 10, the palette vae_core's raster scatter uses too, so PNG snapshots and the page agree.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MARK = "#111111"

st.set_page_config(page_title="VAE Explorer", page_icon="🧭", layout="wide")


# ----------------------------------------------------------------------------------------------
# Cached compute: models are resources (shared, never copied); codes, grids and images are data.
# Every key holds the folder's modification stamp, so a re-saved folder is never served stale.
# ----------------------------------------------------------------------------------------------

def folder_stamp(path: Path) -> float:
    """A cheap version of a model folder for cache keys."""
    try:
        return sum((path / f).stat().st_mtime for f in ("config.json", "weights.pt") if (path / f).exists())
    except OSError:
        return 0.0


@st.cache_resource(show_spinner=False, max_entries=8)
def load_model(path: str, stamp: float) -> vc.Bundle:
    """One loaded model per folder version, shared by all sessions (inference only)."""
    return vc.load_bundle(path, device=vc.pick_device())


@st.cache_resource(show_spinner=False)
def device_text() -> str:
    return vc.describe_device()


@st.cache_resource(show_spinner="Reading the test set…")
def test_set(dataset: str, data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 test images (N, 28, 28) uint8 and labels, read once per process."""
    split = vc.load_split(dataset, "test", data_dir=data_dir, progress=False)
    return split.images.numpy()[:, 0], split.labels.numpy()


@st.cache_data(show_spinner=False, max_entries=16)
def latent_codes(path: str, stamp: float, dataset: str, data_dir: str) -> dict:
    """Test-set means from latents.npz when the folder has them (no encoding at startup), plus
    their 2-D view (PCA for d > 2) and the range the sliders cover."""
    bundle = load_model(path, stamp)
    images, labels = test_set(dataset, data_dir)
    if bundle.latents is not None and len(bundle.latents["mu"]) == len(labels):
        mu, labels = bundle.latents["mu"], bundle.latents["labels"]
    else:
        mu = vc.encode_means(bundle.model, images)
    xy, mean, axes = vc.pca_2d(mu)
    return {"mu": mu, "labels": labels, "xy": xy, "mean": mean, "axes": axes,
            "lo": np.percentile(mu, 0.5, axis=0), "hi": np.percentile(mu, 99.5, axis=0)}


@st.cache_data(show_spinner=False, max_entries=32)
def manifold(path: str, stamp: float, dataset: str, data_dir: str, n: int, spacing: str,
             lo: float, hi: float) -> tuple[np.ndarray, bytes]:
    """The n×n decoded grid and its PNG; `lo`/`hi` are percent: Gaussian probabilities for
    'quantile' spacing, percentiles of the test codes for 'range'."""
    bundle = load_model(path, stamp)
    mu = latent_codes(path, stamp, dataset, data_dir)["mu"]
    center = mu.mean(0) if bundle.model_config.latent_dim > 2 else None
    if spacing == "quantile":
        lim_x = lim_y = (lo / 100, hi / 100)
    else:
        lim_x = tuple(np.percentile(mu[:, 0], [lo, hi]))
        lim_y = tuple(np.percentile(mu[:, 1], [lo, hi]))
    image, _, _ = vc.manifold_grid(bundle.model, n, spacing=spacing, codes=mu, limits_x=lim_x, limits_y=lim_y,
                                   center=center)
    return image, vc.png_bytes(image)


@st.cache_data(show_spinner=False, max_entries=32)
def reconstructions(path: str, stamp: float, dataset: str, data_dir: str, indices: tuple[int, ...]) -> np.ndarray:
    images, _ = test_set(dataset, data_dir)
    return vc.reconstruct(load_model(path, stamp).model, images[list(indices)])


@st.cache_data(show_spinner=False, max_entries=32)
def samples(path: str, stamp: float, n: int, seed: int) -> np.ndarray:
    return vc.prior_samples(load_model(path, stamp).model, n, seed=seed)


@st.cache_data(show_spinner=False, max_entries=32)
def interpolation(path: str, stamp: float, dataset: str, data_dir: str, i0: int, i1: int, steps: int,
                  method: str) -> tuple[np.ndarray, np.ndarray]:
    """(latent path (steps, D), decoded images (steps, 28, 28)) between two test images."""
    images, _ = test_set(dataset, data_dir)
    return vc.interpolate(load_model(path, stamp).model, images[i0], images[i1], steps=steps, method=method)


@st.cache_resource
def job_registry() -> jobs.JobRegistry:
    """One registry per server process: a training survives reruns and other sessions. Each
    browser session runs one training at a time; the server runs at most two at once."""
    return jobs.JobRegistry(max_running=jobs.DEFAULT_MAX_RUNNING)


def session_owner() -> str:
    """This browser session's id: its trainings are the ones its train tab shows."""
    init_state("owner", uuid.uuid4().hex)
    return st.session_state["owner"]


# ----------------------------------------------------------------------------------------------
# The two models being compared.
# ----------------------------------------------------------------------------------------------

@dataclass
class Slot:
    """One side of the comparison: what was chosen, and the loaded model or why there is none."""

    side: str
    entry: vc.ModelEntry | None
    bundle: vc.Bundle | None = None
    stamp: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.bundle is not None

    @property
    def path(self) -> str:
        return str(self.entry.path)

    @property
    def title(self) -> str:
        if self.entry is None:
            return f"Model {self.side}"
        kind = "VAE" if self.entry.objective == "standard" else "MMD-VAE" if self.entry.objective else "?"
        return f"{self.side}: {self.entry.name} ({kind})"


def open_slot(side: str, entry: vc.ModelEntry | None, dataset: str) -> Slot:
    """Load a chosen model, or say in one sentence why it cannot be shown."""
    if entry is None:
        return Slot(side, None, error="No model for this dataset yet: train one in the “Train a model” tab.")
    if entry.error:
        return Slot(side, entry, error=entry.error)
    if entry.dataset != dataset:
        return Slot(side, entry, error=(
            f"{entry.name} was trained on {vc.DATASETS[entry.dataset].title}, not "
            f"{vc.DATASETS[dataset].title}: switch the dataset in the sidebar to explore it."))
    stamp = folder_stamp(entry.path)
    try:
        return Slot(side, entry, load_model(str(entry.path), stamp), stamp)
    except vc.CheckpointError as exc:
        return Slot(side, entry, error=f"Cannot load {entry.name}: {exc}")


# ----------------------------------------------------------------------------------------------
# *_ui(): widgets in, plain values out.
# ----------------------------------------------------------------------------------------------

def init_state(key: str, value) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def dataset_ui() -> str:
    if "dataset" not in st.session_state:  # a shared URL reproduces the view
        wanted = st.query_params.get("dataset")
        st.session_state["dataset"] = wanted if wanted in vc.DATASETS else "mnist"
    return st.sidebar.selectbox("Dataset", list(vc.DATASETS), key="dataset",
                                format_func=lambda k: vc.DATASETS[k].title)


def default_model(entries: list[vc.ModelEntry], dataset: str, side: str) -> int:
    """The shipped model for that side (A: standard VAE, B: MMD-VAE), else the first fitting one."""
    objective = "standard" if side == "A" else "mmd"
    wanted = st.query_params.get(side.lower())
    ranked = [lambda e: wanted is not None and e.name == wanted,
              lambda e: e.source == "pretrained" and e.name == f"{dataset}-{'vae' if side == 'A' else 'mmd'}",
              lambda e: e.dataset == dataset and e.objective == objective and not e.error,
              lambda e: e.dataset == dataset and not e.error]
    for good in ranked:
        for i, e in enumerate(entries):
            if good(e):
                return i
    return 0


def models_ui(dataset: str) -> list[vc.ModelEntry | None]:
    """Two model pickers over every model found (shipped and trained here)."""
    every = st.sidebar.checkbox("List models of every dataset", key="all_models",
                                help="Models trained on another dataset are listed but cannot be shown.")
    entries = vc.list_models(dataset=None if every else dataset)
    entries.sort(key=lambda e: (e.dataset != dataset and not e.error, e.source != "pretrained", e.name))
    labels = {str(e.path): e.label + ("" if e.dataset in ("", dataset) else f" [{e.dataset}]") for e in entries}
    chosen = []
    for side in SIDES:
        if not entries:
            chosen.append(None)
            continue
        path = st.sidebar.selectbox(f"Model {side}", list(labels), index=default_model(entries, dataset, side),
                                    key=f"model_{side}_{dataset}", format_func=labels.get)
        chosen.append(next(e for e in entries if str(e.path) == path))
    return chosen


def grid_ui() -> tuple[int, str, float, float]:
    st.sidebar.subheader("Manifold grid")
    n = st.sidebar.slider("Grid size n (n × n images)", 5, 30, 20, key="grid_n")
    spacing = st.sidebar.radio("Spacing", vc.explore.GRID_SPACINGS, key="grid_spacing", horizontal=True,
                               format_func={"quantile": "Gaussian quantiles", "range": "range of the codes"}.get,
                               help="Quantiles: Kingma & Welling, Fig. 4b. Range: evenly over the test codes.")
    if spacing == "quantile":
        lo, hi = st.sidebar.slider("Probabilities covered (%)", 1, 99, (5, 95), key="grid_q")
    else:
        lo, hi = st.sidebar.slider("Percentiles of the test codes", 0, 100, (0, 100), key="grid_r")
    return n, spacing, float(lo), float(hi)


def slider_ranges(slots: list[Slot], codes: dict[str, dict]) -> list[tuple[float, float]]:
    """Per latent dimension, where the codes of both models lie (0.5–99.5 percentiles), rounded."""
    dims = max(s.bundle.model_config.latent_dim for s in slots if s.ok)
    ranges = []
    for i in range(dims):
        los = [codes[s.side]["lo"][i] for s in slots if s.ok and i < len(codes[s.side]["lo"])]
        his = [codes[s.side]["hi"][i] for s in slots if s.ok and i < len(codes[s.side]["hi"])]
        lo, hi = float(np.floor(min(los) * 2) / 2), float(np.ceil(max(his) * 2) / 2)
        ranges.append((lo, hi) if hi > lo else (lo - 1.0, lo + 1.0))
    return ranges


def slider_key(i: int, lo: float, hi: float) -> str:
    """The range is part of the key: another model's range makes a new slider that keeps the value."""
    return f"z{i + 1}_{lo:g}_{hi:g}"


def slider_point(ranges: list[tuple[float, float]]) -> list[float]:
    """The sliders' point as this run will show it (read before the sliders are drawn, for the ★)."""
    old = list(st.session_state.get("z", []))
    old += [0.0] * max(0, len(ranges) - len(old))
    return [float(st.session_state.get(slider_key(i, lo, hi), np.clip(old[i], lo, hi)))
            for i, (lo, hi) in enumerate(ranges)]


def latent_sliders_ui(ranges: list[tuple[float, float]]) -> list[float]:
    """One slider per latent dimension, over where the codes lie."""
    start = slider_point(ranges)
    z = [st.slider(f"z{i + 1}", lo, hi, start[i], step=round((hi - lo) / 200, 4) or 0.01,
                   key=slider_key(i, lo, hi))
         for i, (lo, hi) in enumerate(ranges)]
    st.session_state["z"] = z
    return z


def interpolation_ui(labels: np.ndarray, classes: tuple[str, ...]) -> tuple[int, int, int, str]:
    """Two ends chosen by class and position within the class (or at random, or from the scatter)."""
    for end, default in (("a", 0), ("b", 1)):
        init_state(f"interp_{end}_class", default)
        init_state(f"interp_{end}_pos", 0)
    init_state("interp_steps", 10)
    init_state("interp_method", "linear")
    counts = np.bincount(labels, minlength=len(classes))
    cols = st.columns([2, 1, 2, 1, 2, 2])
    for (c_cls, c_pos), end, word in ((cols[0:2], "a", "Start"), (cols[2:4], "b", "End")):
        cls = c_cls.selectbox(f"{word} class", range(len(classes)), key=f"interp_{end}_class",
                              format_func=lambda k: classes[k])
        c_pos.number_input(f"{word} #", 0, int(counts[cls]) - 1, key=f"interp_{end}_pos",
                           help="Which image of that class in the test set")
    steps = cols[4].slider("Steps k", 2, 30, key="interp_steps")
    method = cols[5].radio("Path", ("linear", "slerp"), key="interp_method", horizontal=True,
                           format_func={"linear": "linear", "slerp": "spherical"}.get)
    b1, b2, _ = st.columns([1, 1, 4])
    b1.button("Random pair", key="interp_random", on_click=pick_random_pair, args=(labels,))
    picks = st.session_state.get("picks", [])
    b2.button("Use the scatter picks", key="interp_from_scatter", disabled=not picks,
              on_click=use_picks, args=(labels,), help="The last two points clicked on a scatter")
    return interp_ends(labels) + (int(steps), method)


def interp_ends(labels: np.ndarray) -> tuple[int, int]:
    """Test-set indices of the two ends, from the class/position state (before or after the widgets)."""
    ends = []
    for end, default in (("a", 0), ("b", 1)):
        members = np.flatnonzero(labels == st.session_state.get(f"interp_{end}_class", default))
        ends.append(int(members[min(st.session_state.get(f"interp_{end}_pos", 0), len(members) - 1)]))
    return ends[0], ends[1]


def set_end(end: str, index: int, labels: np.ndarray) -> None:
    cls = int(labels[index])
    st.session_state[f"interp_{end}_class"] = cls
    st.session_state[f"interp_{end}_pos"] = int(np.searchsorted(np.flatnonzero(labels == cls), index))


def pick_random_pair(labels: np.ndarray) -> None:
    rng = np.random.default_rng()
    for end, index in zip("ab", rng.choice(len(labels), 2, replace=False)):
        set_end(end, int(index), labels)


def use_picks(labels: np.ndarray) -> None:
    picks = st.session_state.get("picks", [])
    if len(picks) >= 2:
        set_end("a", picks[-2], labels)
        set_end("b", picks[-1], labels)
    elif picks:
        set_end("a", picks[-1], labels)


def on_scatter_select(key: str, labels: np.ndarray) -> None:
    """Remember the clicked test image. Trace k holds class k's points in test-set order, so
    (curve, point) gives the index; overlay traces (curve ≥ number of classes) are ignored."""
    event = st.session_state.get(key) or {}
    points = event.get("selection", {}).get("points", [])
    n_classes = int(labels.max()) + 1
    found = [int(np.flatnonzero(labels == p["curve_number"])[p["point_index"]]) for p in points
             if p.get("curve_number", n_classes) < n_classes and p.get("point_index") is not None]
    if found:
        st.session_state["picked"] = found[-1]
        st.session_state["picks"] = (st.session_state.get("picks", []) + [found[-1]])[-2:]


def train_form_ui(dataset: str) -> dict | None:
    """The training form; returns its values once submitted, else None."""
    with st.form("train_form"):
        c1, c2, c3, c4 = st.columns(4)
        values = {
            "dataset": c1.selectbox("Dataset", list(vc.DATASETS), index=list(vc.DATASETS).index(dataset),
                                    key="t_dataset", format_func=lambda k: vc.DATASETS[k].title),
            "objective": c2.radio("Model", ("standard", "mmd"), key="t_objective", horizontal=True,
                                  format_func={"standard": "standard VAE", "mmd": "MMD-VAE"}.get),
            "arch": c3.selectbox("Architecture", ("mlp", "conv"), key="t_arch",
                                 format_func={"mlp": "MLP (3 × 512)", "conv": "convolutional"}.get),
            "latent_dim": c4.number_input("Latent dimension", value=2, step=1, key="t_latent_dim"),
            "epochs": c1.number_input("Epochs", value=10, step=1, key="t_epochs"),
            "batch_size": c2.number_input("Batch size", value=128, step=16, key="t_batch"),
            "lr": c3.number_input("Learning rate", value=1e-3, step=1e-4, format="%.4f", key="t_lr"),
            "beta": c4.number_input("β (standard VAE: KL weight)", value=1.0, step=0.1, key="t_beta"),
            "mmd_lambda": c4.number_input("λ (MMD-VAE: MMD weight)", value=1000.0, step=100.0, key="t_lambda"),
            "tag": c1.text_input("Tag (the new model's name)", key="t_tag", placeholder="e.g. mnist-vae-d8"),
        }
        with st.expander("Advanced"):
            a1, a2, a3 = st.columns(3)
            values["train_subset"] = a1.number_input("Training images (0: all)", value=0, step=100,
                                                     key="t_subset")
            values["eval_subset"] = a2.number_input("Test images scored per epoch", value=2000, step=500,
                                                    key="t_eval")
            values["seed"] = a3.number_input("Seed", value=0, step=1, key="t_seed")
        submitted = st.form_submit_button("Train", type="primary", key="t_submit")
    return values if submitted else None


# ----------------------------------------------------------------------------------------------
# draw_*(): rendering only.
# ----------------------------------------------------------------------------------------------

def big(image: np.ndarray, k: int) -> np.ndarray:
    """Nearest-neighbour upscaling, so 28-pixel digits stay crisp instead of browser-blurred."""
    return np.repeat(np.repeat(image, k, axis=0), k, axis=1)


def key_figures(bundle: vc.Bundle) -> list[tuple[str, str]]:
    """The headline numbers of a model folder's metrics.json, where present."""
    m, ev = bundle.metrics, bundle.metrics.get("evaluation") or {}
    rows = []
    if isinstance(ev.get("test"), dict) and "neg_elbo" in ev["test"]:
        rows.append(("test −ELBO", f"{ev['test']['neg_elbo']:.1f} nats"))
    elif isinstance(m.get("final_test"), dict) and m["final_test"].get("total") is not None:
        rows.append(("test loss (training objective)", f"{m['final_test']['total']:.1f}"))
    if isinstance(ev.get("iw_nll"), dict):
        rows.append((f"−log p(x), IW k={ev['iw_nll'].get('k')}", f"{ev['iw_nll']['nll']:.1f} nats"))
    if isinstance(ev.get("quadrature_nll"), dict):
        rows.append(("−log p(x), quadrature", f"{ev['quadrature_nll']['nll']:.1f} nats"))
    if isinstance(ev.get("knn_accuracy"), dict):
        rows.append((f"{ev['knn_accuracy'].get('k', 5)}-NN accuracy", f"{ev['knn_accuracy']['accuracy']:.1%}"))
    rows.append(("latent dimension", str(bundle.model_config.latent_dim)))
    epochs = m.get("epochs", bundle.train_config.epochs)
    total = m.get("epochs_total", epochs)
    rows.append(("epochs", f"{total:g}" + (f" (last stage {epochs:g})" if total != epochs else "")))
    return rows


def draw_sidebar_model(slot: Slot) -> None:
    if not slot.ok:
        st.sidebar.error(slot.error)
        return
    lines = "\n".join(f"- {k}: **{v}**" for k, v in key_figures(slot.bundle))
    st.sidebar.markdown(f"**{slot.title}**\n{lines}")


def draw_missing_shipped(dataset: str) -> None:
    """Say which shipped model files are absent, so a half-installed checkout still explains itself."""
    missing = [vc.PRETRAINED_DIR / name / "config.json" for name in (f"{dataset}-vae", f"{dataset}-mmd")
               if not (vc.PRETRAINED_DIR / name / "config.json").exists()]
    if missing:
        st.sidebar.warning("Shipped model missing: " + ", ".join(f"`{f}`" for f in missing) +
                           ". Run `bash pretrained/reproduce.sh`, or train one in the “Train a model” tab.")


def scatter_figure(codes: dict, classes: tuple[str, ...], marks: dict[str, np.ndarray], d: int) -> go.Figure:
    """All test codes as WebGL points, one trace per class (the legend), plus overlays in latent
    coordinates (`marks`: name -> (K, D) points), projected like the codes when d > 2."""
    xy, labels = codes["xy"], codes["labels"]
    fig = go.Figure()
    for k, name in enumerate(classes):
        idx = np.flatnonzero(labels == k)
        fig.add_trace(go.Scattergl(
            x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=name, customdata=idx[:, None],
            marker={"size": 3, "color": PALETTE[k], "opacity": 0.7},
            hovertemplate=f"{name}<br>index %{{customdata[0]}}<extra></extra>"))
    project = (lambda p: p[:, :2]) if d <= 2 else (lambda p: (p - codes["mean"]) @ codes["axes"].T)
    styles = {"interpolation": {"mode": "lines+markers", "line": {"color": MARK, "width": 2},
                                "marker": {"size": 6, "color": MARK}},
              "picked": {"mode": "markers", "marker": {"size": 14, "color": "rgba(0,0,0,0)",
                                                       "line": {"color": MARK, "width": 2}}},
              "sliders": {"mode": "markers", "marker": {"size": 16, "symbol": "star", "color": "#ffd400",
                                                        "line": {"color": MARK, "width": 1.5}}}}
    for name, points in marks.items():
        p = project(np.asarray(points, np.float32).reshape(-1, codes["mu"].shape[1]))
        fig.add_trace(go.Scatter(x=p[:, 0], y=p[:, 1], name=name, hoverinfo="skip", showlegend=False,
                                 **styles[name]))
    axis = "PC" if d > 2 else "z"
    fig.update_layout(height=430, margin={"l": 10, "r": 10, "t": 10, "b": 10}, dragmode="pan",
                      legend={"font": {"size": 11}, "itemsizing": "constant"},
                      xaxis_title=f"{axis}1", yaxis_title=f"{axis}2", uirevision="keep")
    return fig


def draw_scatter(slot: Slot, codes: dict, classes: tuple[str, ...], marks: dict) -> None:
    key = f"scatter_{slot.side}_{slot.entry.name}"
    fig = scatter_figure(codes, classes, marks, slot.bundle.model_config.latent_dim)
    st.plotly_chart(fig, key=key, on_select=lambda: on_scatter_select(key, codes["labels"]), selection_mode="points",
                    config={"displaylogo": False, "scrollZoom": True})


def draw_picked(slots: list[Slot], images: np.ndarray, labels: np.ndarray, classes, dataset, data_dir) -> None:
    index = st.session_state.get("picked")
    if index is None:
        st.caption("Click a point on a scatter to see that test image and its reconstructions.")
        return
    shown = [big(images[index] / 255.0, 4)]
    captions = [f"test #{index}: {classes[labels[index]]}"]
    for s in slots:
        if s.ok:
            shown.append(big(reconstructions(s.path, s.stamp, dataset, data_dir, (index,))[0], 4))
            captions.append(f"model {s.side}")
    st.markdown("**Picked point** (○ on the scatters): the test image and what each model makes of it")
    st.image(shown, caption=captions, width=112, output_format="PNG")


@st.fragment
def sliders_fragment(slots: list[Slot], ranges: list[tuple[float, float]]) -> None:
    """Sliders and the point they decode: only this part reruns while a slider moves."""
    cols = st.columns([2] + [1] * len(slots))
    with cols[0]:
        st.markdown("**Latent sliders** (the ★ on the scatters)")
        z = latent_sliders_ui(ranges)
    for col, s in zip(cols[1:], slots):
        with col:
            if s.ok:
                d = s.bundle.model_config.latent_dim
                image = vc.decode(s.bundle.model, np.asarray(z[:d], np.float32))[0]
                st.image(big(image, 5), caption=f"{s.side}: z = ({', '.join(f'{v:.2f}' for v in z[:d])})",
                         width=140, output_format="PNG")


def draw_grid(slot: Slot, dataset: str, data_dir: str, n: int, spacing: str, lo: float, hi: float) -> None:
    image, png = manifold(slot.path, slot.stamp, dataset, data_dir, n, spacing, lo, hi)
    st.image(image, caption=f"{slot.side}: {n}×{n} manifold ({spacing} spacing)", output_format="PNG",
             width="stretch")
    st.download_button("Download PNG", png, file_name=f"{slot.entry.name}-grid-{n}x{n}-{spacing}.png",
                       mime="image/png", key=f"grid_png_{slot.side}", on_click="ignore")


def draw_training(dataset: str) -> None:
    """The form, and the job's progress redrawn every second while it runs (in a fragment)."""
    values = train_form_ui(dataset)
    registry = job_registry()
    if values is not None:
        try:
            model_cfg = vc.ModelConfig(objective=values["objective"], arch=values["arch"],
                                       latent_dim=values["latent_dim"])
            train_cfg = vc.TrainConfig(
                dataset=values["dataset"], epochs=values["epochs"], batch_size=values["batch_size"],
                lr=values["lr"], beta=values["beta"], mmd_lambda=values["mmd_lambda"], seed=values["seed"],
                train_subset=values["train_subset"] or None, eval_subset=values["eval_subset"])
            job = registry.start(model_cfg, train_cfg, values["tag"].strip(), owner=session_owner())
            st.session_state["my_job"] = job.id
            st.session_state["announced_job"] = None
        except (vc.ConfigError, vc.CheckpointError, vc.DatasetError, jobs.JobError) as exc:
            st.error(f"Not started: {exc}")
    job = registry.current(session_owner())
    running = job is not None and job.view().running
    if job is not None:  # announce a finish this session saw coming, not one that was over before it came
        init_state("announced_job", None if running else job.id)
    st.fragment(run_every=1.0 if running else None)(training_progress)()


def training_progress() -> None:
    registry = job_registry()
    job = registry.current(session_owner())
    busy = len(registry.running())
    if busy:
        st.caption(f"{busy} of {registry.max_running} training slots in use on this server.")
    if job is None:
        st.caption("No training started from this page yet.")
        return
    v = job.view()
    eta = f" · about {v.eta:.0f} s left" if v.eta is not None else ""
    st.progress(min(max(v.fraction, 0.0), 1.0),
                text=f"{v.tag} ({'standard VAE' if v.objective == 'standard' else 'MMD-VAE'}, "
                     f"{vc.DATASETS[v.dataset].title}): {v.fraction:.0%} · {v.elapsed:.0f} s elapsed{eta}")
    if v.running:
        st.button("Cancel", key="t_cancel", on_click=job.cancel, disabled=v.cancel_requested)
        st.caption(v.message if not v.cancel_requested else "cancelling…")
    elif v.state == jobs.COMPLETED:
        st.success(f"{v.message}. Choose it in the sidebar.")
    elif v.state == jobs.CANCELLED:
        st.warning(v.message)
    else:
        st.error(v.message)
    if v.history:
        st.plotly_chart(loss_figure(v.history), key="t_curve")
    if not v.running and st.session_state.get("announced_job") != v.id:
        st.session_state["announced_job"] = v.id
        st.rerun()  # the whole page, so the sidebar lists the new model at once


def loss_figure(history) -> go.Figure:
    """Total loss and its parts against epochs; test points dashed."""
    fig = go.Figure()
    parts = [k for k in history[-1] if k not in ("split", "step", "epoch", "elapsed")]
    for split, dash in (("train", None), ("test", "dash")):
        rows = [r for r in history if r["split"] == split]
        for i, part in enumerate(parts):
            pts = [(r["epoch"], r[part]) for r in rows if r.get(part) is not None]
            if pts:
                fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=f"{split} {part}",
                                         mode="lines+markers" if split == "test" else "lines",
                                         line={"dash": dash, "color": PALETTE[i]}))
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="epoch",
                      yaxis_title="loss", yaxis_type="log")
    return fig


# ----------------------------------------------------------------------------------------------
# The page.
# ----------------------------------------------------------------------------------------------

def main() -> None:
    st.sidebar.title("VAE Explorer")
    dataset = dataset_ui()
    chosen = models_ui(dataset)
    st.sidebar.caption(f"Device: {device_text()}")
    slots = [open_slot(side, entry, dataset) for side, entry in zip(SIDES, chosen)]
    for s in slots:
        draw_sidebar_model(s)
    draw_missing_shipped(dataset)
    n, spacing, lo, hi = grid_ui()
    st.query_params.update({"dataset": dataset, **{s.side.lower(): s.entry.name for s in slots if s.entry}})

    info = vc.DATASETS[dataset]
    data_dir = str(vc.resolve_data_dir())
    st.title(f"VAE Explorer · {info.title}")
    try:
        images, labels = test_set(dataset, data_dir)
    except vc.DatasetError as exc:
        st.error(f"The {info.title} data could not be read. {exc}")
        return

    latent_tab, interp_tab, samples_tab, train_tab = st.tabs(
        ["Latent space", "Interpolation", "Samples & reconstructions", "Train a model"])
    live = [s for s in slots if s.ok]
    codes = {s.side: latent_codes(s.path, s.stamp, dataset, data_dir) for s in live}
    i0, i1 = interp_ends(labels)
    steps, method = st.session_state.get("interp_steps", 10), st.session_state.get("interp_method", "linear")
    paths = {s.side: interpolation(s.path, s.stamp, dataset, data_dir, i0, i1, steps, method) for s in live}
    ranges = slider_ranges(slots, codes) if live else []
    z_now = slider_point(ranges)

    with latent_tab:
        cols = st.columns(2)
        for col, s in zip(cols, slots):
            with col:
                st.subheader(s.title)
                if s.ok:
                    st.caption("Test-set latent means; ★ the sliders' point, ● the interpolation path, "
                               "○ the picked image. Click a point to pick it.")
                else:
                    st.error(s.error)
                    continue
                d = s.bundle.model_config.latent_dim
                marks = {"interpolation": paths[s.side][0], "sliders": np.asarray(z_now[:d], np.float32)[None, :]}
                if st.session_state.get("picked") is not None:
                    marks["picked"] = codes[s.side]["mu"][st.session_state["picked"]][None, :]
                draw_scatter(s, codes[s.side], info.classes, marks)
        if live:
            draw_picked(slots, images, labels, info.classes, dataset, data_dir)
            st.divider()
            sliders_fragment(slots, ranges)
            st.divider()
            cols = st.columns(2)
            for col, s in zip(cols, slots):
                with col:
                    if s.ok:
                        draw_grid(s, dataset, data_dir, n, spacing, lo, hi)

    with interp_tab:
        i0, i1, steps, method = interpolation_ui(labels, info.classes)
        st.image([big(images[i0] / 255.0, 3), big(images[i1] / 255.0, 3)],
                 caption=[f"start: test #{i0} ({info.classes[labels[i0]]})",
                          f"end: test #{i1} ({info.classes[labels[i1]]})"], width=84, output_format="PNG")
        for s in live:
            _, strip = interpolation(s.path, s.stamp, dataset, data_dir, i0, i1, steps, method)
            st.image(vc.tile(strip, steps, pad=2), caption=f"{s.title}: {steps} steps, {method}",
                     width=min(60 * steps, 1400), output_format="PNG")

    with samples_tab:
        init_state("sample_seed", 0)
        st.button("New samples", key="new_samples",
                  on_click=lambda: st.session_state.update(sample_seed=st.session_state["sample_seed"] + 1))
        seed = st.session_state["sample_seed"]
        st.markdown("**Prior samples** z ~ N(0, I)")
        for s in live:
            st.image(vc.tile(samples(s.path, s.stamp, N_ROW, seed), N_ROW, pad=2),
                     caption=f"{s.title}: samples (seed {seed})", width=600, output_format="PNG")
        st.markdown("**Test images and their reconstructions**")
        idx = tuple(int(i) for i in np.random.default_rng(seed).choice(len(labels), N_ROW, replace=False))
        st.image(vc.tile(images[list(idx)] / 255.0, N_ROW, pad=2), caption="originals", width=600,
                 output_format="PNG")
        for s in live:
            st.image(vc.tile(reconstructions(s.path, s.stamp, dataset, data_dir, idx), N_ROW, pad=2),
                     caption=f"{s.title}: reconstructions", width=600, output_format="PNG")

    with train_tab:
        draw_training(dataset)


main()

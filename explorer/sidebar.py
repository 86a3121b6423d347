"""The sidebar: the dataset, the models compared, and each model's key figures."""
from __future__ import annotations

import streamlit as st

import vae_core as vc

from . import cache, state
from .comparison import Slot, default_model, open_slot
from .settings import SIDES
from .text import plain


def dataset_ui() -> str:
    if "dataset" not in st.session_state:  # a shared URL reproduces the view
        wanted = st.query_params.get("dataset")
        st.session_state["dataset"] = wanted if wanted in vc.DATASETS else "mnist"
    return st.sidebar.selectbox("Dataset", list(vc.DATASETS), key="dataset",
                                format_func=lambda k: vc.DATASETS[k].title)


def model_key(side: str, dataset: str) -> str:
    """The sidebar picker of one side, one per dataset (so each dataset keeps its choice)."""
    return f"model_{side}_{dataset}"


def models_ui(dataset: str) -> list[Slot]:
    """A picker per side over every model found (shipped and trained here), then load them."""
    every = st.sidebar.checkbox("List models of every dataset", key="all_models",
                                help="Models trained on another dataset are listed but cannot be shown.")
    entries = vc.list_models(dataset=None if every else dataset)
    entries.sort(key=lambda e: (e.dataset != dataset and not e.error, e.source != "pretrained", e.name))
    # Keyed by the resolved folder, the form in which a training reports where it saved.
    labels = {str(e.path.resolve()): e.label + ("" if e.dataset in ("", dataset) else f" [{e.dataset}]")
              for e in entries}
    chosen: list[vc.ModelEntry | None] = []
    for side in SIDES:
        if not entries:
            chosen.append(None)
            continue
        key = model_key(side, dataset)
        state.keep_choice(key, list(labels))
        # The default only for a fresh picker: a choice set from the page (Open as model A) must
        # not meet a second default, which Streamlit reports as a conflict.
        index = 0 if key in st.session_state else default_model(entries, dataset, side,
                                                                st.query_params.get(side.lower()))
        path = st.sidebar.selectbox(f"Model {side}", list(labels), key=key, format_func=labels.get, index=index)
        chosen.append(next(e for e in entries if str(e.path.resolve()) == path))
    return [open_slot(side, entry, dataset) for side, entry in zip(SIDES, chosen)]


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


def figures_ui(slots: list[Slot], dataset: str) -> None:
    """Each model's key figures (or why it is not shown), the device, missing shipped models."""
    st.sidebar.caption(f"Device: {cache.device_text()}")
    for slot in slots:
        if not slot.ok:
            st.sidebar.error(plain(slot.error))
            continue
        lines = "\n".join(f"- {k}: **{v}**" for k, v in key_figures(slot.bundle))
        st.sidebar.markdown(f"**{plain(slot.title)}**\n{lines}")
    missing = [vc.PRETRAINED_DIR / name / "config.json" for name in (f"{dataset}-vae", f"{dataset}-mmd")
               if not (vc.PRETRAINED_DIR / name / "config.json").exists()]
    if missing:
        st.sidebar.warning("Shipped model missing: " + ", ".join(f"`{f}`" for f in missing) +
                           ". Run `bash pretrained/reproduce.sh`, or train one in the “Train” tab.")


def mirror_to_url(dataset: str, slots: list[Slot]) -> None:
    """Keep the URL reproducing the view: the dataset and both models."""
    st.query_params.update({"dataset": dataset, **{s.side.lower(): s.entry.name for s in slots if s.entry}})

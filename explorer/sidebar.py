"""The sidebar: the dataset, the models compared, and each model's key figures."""
from __future__ import annotations

import streamlit as st

import vae_core as vc

from . import cache, link, state
from .comparison import Slot, default_model, open_slot
from .settings import DEFAULT_MODELS, SIDES
from .text import plain


def model_listing() -> list[vc.ModelEntry]:
    """Every model folder found (each config read once per run: the dataset list and the pickers share it)."""
    return vc.list_models()


def datasets(entries: list[vc.ModelEntry]) -> list[str]:
    """The built-in datasets, then every dataset of the user's own that a model was trained on."""
    own = sorted({e.dataset for e in entries if e.source == "user" and e.dataset and e.dataset not in vc.DATASETS})
    return [*vc.DATASETS, *own]


def dataset_ui(entries: list[vc.ModelEntry], news: link.Arrived | None) -> str:
    options = datasets(entries)
    if news is not None:  # a link, a reload, Back or Forward: the URL's dataset
        wanted = news.asked.get(link.DATASET, "mnist")
        if wanted not in options:
            news.problems.append(f"The dataset {link.shown(wanted)} is not here: showing MNIST.")
            wanted = "mnist"
        st.session_state["dataset"] = wanted
    state.keep_choice("dataset", options)
    return st.sidebar.selectbox("Dataset", options, key="dataset", format_func=vc.dataset_title,
                                help="MNIST, Fashion-MNIST, and the datasets of your own that you trained a model on")


def model_key(side: str, dataset: str) -> str:
    """The sidebar picker of one side, one per dataset (so each dataset keeps its choice)."""
    return f"model_{side}_{dataset}"


def count_ui(news: link.Arrived | None) -> int:
    """How many models to compare (1 to 4; the URL's `n` when it is news)."""
    choices = list(range(1, len(SIDES) + 1))
    if news is not None:
        wanted = news.asked.get(link.COUNT)
        if wanted is not None and wanted not in {str(k) for k in choices}:
            news.problems.append(f"{link.shown(wanted)} models side by side cannot be shown (1 to {len(SIDES)}): "
                                 f"showing {DEFAULT_MODELS}.")
        st.session_state["n_models"] = int(wanted) if wanted in {str(k) for k in choices} else DEFAULT_MODELS
    return st.sidebar.radio("Models side by side", choices, key="n_models", horizontal=True,
                            help="Every view shows each model on the same inputs.")


def adopt_model(news: link.Arrived, side: str, dataset: str, entries: list[vc.ModelEntry],
                listing: list[vc.ModelEntry]) -> str | None:
    """Set a side's picker to the model the URL names (or clear it for the default); returns why the
    named model cannot be shown, if it cannot."""
    key = model_key(side, dataset)
    name = news.asked.get(side.lower())
    match = next((e for e in entries if name is not None and e.name == name and e.dataset == dataset
                  and not e.error), None)
    if match is not None:
        st.session_state[key] = str(match.path.resolve())
        return None
    st.session_state.pop(key, None)  # this side opens on its default
    if name is None:
        return None
    other = next((e for e in listing if e.name == name), None)
    if other is not None and other.dataset != dataset:
        return f"{link.shown(name)} is a model of {vc.dataset_title(other.dataset)}, not of {vc.dataset_title(dataset)}"
    return f"there is no usable model named {link.shown(name)}"


def models_ui(dataset: str, record: vc.Dataset | None, listing: list[vc.ModelEntry],
              news: link.Arrived | None) -> list[Slot]:
    """A picker per side over every model found (shipped and trained here), then load them."""
    sides = SIDES[:count_ui(news)]
    every = st.sidebar.checkbox("List models of every dataset", key="all_models",
                                help="Models trained on another dataset are listed but cannot be shown.")
    entries = [e for e in listing if every or e.dataset == dataset or e.error]  # vc.list_models(dataset=…)'s rule
    entries.sort(key=lambda e: (e.dataset != dataset and not e.error, e.source != "pretrained", e.name))
    # Keyed by the resolved folder, the form in which a training reports where it saved.
    labels = {str(e.path.resolve()): e.label + ("" if e.dataset in ("", dataset) else f" [{e.dataset}]")
              for e in entries}
    chosen: list[vc.ModelEntry | None] = []
    for side in sides:
        if not entries:
            chosen.append(None)
            continue
        key = model_key(side, dataset)
        refused = adopt_model(news, side, dataset, entries, listing) if news is not None else None
        state.keep_choice(key, list(labels))
        # The default only for a fresh picker: a choice set from the page (Open as model A) must
        # not meet a second default, which Streamlit reports as a conflict.
        taken = tuple(str(e.path) for e in chosen if e is not None)
        index = 0 if key in st.session_state else default_model(entries, dataset, side, taken)
        path = st.sidebar.selectbox(f"Model {side}", list(labels), key=key, format_func=labels.get, index=index)
        chosen.append(next(e for e in entries if str(e.path.resolve()) == path))
        if refused:
            news.problems.append(f"Model {side}: {refused}; showing {plain(chosen[-1].name)}.")
    return [open_slot(side, entry, dataset, record) for side, entry in zip(sides, chosen)]


def key_figures(bundle: vc.Bundle) -> dict[str, str]:
    """The headline numbers of a model folder's metrics.json, where present (name -> shown value)."""
    m, ev = bundle.metrics, bundle.metrics.get("evaluation") or {}
    rows = {}
    if isinstance(ev.get("test"), dict) and "neg_elbo" in ev["test"]:
        rows["test −ELBO (nats)"] = f"{ev['test']['neg_elbo']:.1f}"
    elif isinstance(m.get("final_test"), dict) and m["final_test"].get("total") is not None:
        rows["test loss (objective)"] = f"{m['final_test']['total']:.1f}"
    if isinstance(ev.get("iw_nll"), dict):
        rows["−log p(x), IW (nats)"] = f"{ev['iw_nll']['nll']:.1f}"
    if isinstance(ev.get("quadrature_nll"), dict):
        rows["−log p(x), quadrature"] = f"{ev['quadrature_nll']['nll']:.1f}"
    if isinstance(ev.get("knn_accuracy"), dict):
        rows[f"{ev['knn_accuracy'].get('k', 5)}-NN accuracy"] = f"{ev['knn_accuracy']['accuracy']:.1%}"
    rows["latent dimension"] = str(bundle.model_config.latent_dim)
    epochs = m.get("epochs", bundle.train_config.epochs)
    total = m.get("epochs_total", epochs)
    rows["epochs"] = f"{total:g}"
    return rows


# One line for each figure the tables may show (the k-NN row's name carries its k; it is matched by its end).
FIGURE_HELP = {
    "test −ELBO (nats)": "the negative evidence lower bound per test image: reconstruction cost plus KL; lower is "
                         "better, and never below −log p(x)",
    "test loss (objective)": "the model's own training objective on the test set (for the MMD-VAE not a bound on "
                             "−log p(x), so not comparable across objectives)",
    "−log p(x), IW (nats)": "the test images' negative log-likelihood estimated with 1000 importance samples of "
                            "q(z|x) per image (Burda et al. 2016): tighter than the ELBO; lower is better",
    "−log p(x), quadrature": "the same likelihood by numerical integration over the 2-D latent plane (d = 2 only)",
    "-NN accuracy": "how often the majority label of a test code's nearest codes is its own: how well the codes "
                    "keep the classes apart",
    "E[KL] = I + KL(q‖p) (nats)": "the ELBO's KL term, averaged over the data, split into I, the information the "
                                  "codes carry about their image, and KL(q(z)‖p(z)), how far the codes' overall "
                                  "spread is from the prior (Hoffman & Johnson 2016)",
    "active units": "latent dimensions whose code moves with the image (variance of the mean over the data "
                    "> 0.01): the ones the model uses",
    "MMD² to prior": "maximum mean discrepancy between the test codes and prior samples, ± its standard error: "
                     "0 when the codes are spread like the prior",
    "prior mass in holes": "the share of the prior's mass within 2σ of the origin where q(z) < p(z)/10: where "
                           "prior samples decode to what the data never shows",
}


def figure_help(names: list[str]) -> str:
    """One line per figure shown, in the tables' order."""
    lines = [f"- **{name}**: {text}" for name in names
             for key, text in FIGURE_HELP.items() if name == key or (key.startswith("-") and name.endswith(key))]
    return "\n".join(lines)


NO_LEDGER = "—†"  # narrow, so the table fits the sidebar; explained by the note under it
NO_LEDGER_NOTE = ("† a deterministic encoder (the MMD-VAE's): q(z|x) is a point, so its KL to the prior, and "
                  "the ledger, are not defined; the MMD² compares its codes with the prior instead.")


def ledger_figures(geometry: dict, latent_dim: int) -> dict[str, str]:
    """The ELBO's KL ledger (Hoffman & Johnson 2016) and what the codes do with the prior, as shown."""
    rows = {}
    surgery = geometry.get("elbo_surgery") or {}
    if surgery.get("defined"):
        rows["E[KL] = I + KL(q‖p) (nats)"] = (f"{surgery['expected_kl']:.2f} = {surgery['mutual_information']:.2f} "
                                              f"+ {surgery['marginal_kl']:.2f}")
    elif surgery:
        rows["E[KL] = I + KL(q‖p) (nats)"] = NO_LEDGER
    units = geometry.get("active_units")
    if units:
        rows["active units"] = f"{units['count']}/{latent_dim}"
    mmd = geometry.get("mmd_to_prior")
    if mmd:
        rows["MMD² to prior"] = f"{mmd['mmd2']:.5f} ± {mmd['se']:.5f}"
    holes = geometry.get("holes") or {}
    share = (holes.get("aggregate_posterior") or holes.get("kde_of_means") or {}).get("share")
    if share is not None:
        rows["prior mass in holes"] = f"{share:.1%}"
    return rows


def geometry_of(slot: Slot) -> dict:
    """The model's stored geometry block, or the one measured on request this session."""
    stored = slot.bundle.metrics.get("geometry")
    if stored:
        return stored
    if slot.identity in state.get("ledgers"):
        return cache.measure_ledger(slot.path, slot.stamp, slot.codes)
    return {}


TABLE_MODELS = 2  # models per figures table


def figures_of(slot: Slot) -> dict[str, str]:
    return {**key_figures(slot.bundle), **ledger_figures(geometry_of(slot), slot.latent_dim)}


def figure_names(slots: list[Slot]) -> list[str]:
    return list(dict.fromkeys(name for s in slots if s.ok for name in figures_of(s)))


def figures_table(slots: list[Slot]) -> str:
    """A table, a column per model: the same figures side by side, so they compare like with like."""
    shown = [s for s in slots if s.ok]
    figures = {s.side: figures_of(s) for s in shown}
    names = figure_names(shown)
    head = "| | " + " | ".join(f"**{s.side}**" for s in shown) + " |\n|---|" + "---:|" * len(shown)
    rows = [f"| {name} | " + " | ".join(figures[s.side].get(name, "–") for s in shown) + " |" for name in names]
    return "\n".join([head, *rows])


def figures_ui(slots: list[Slot], dataset: str) -> None:
    """Each model's key figures (or why it is not shown), the device, missing shipped models."""
    st.sidebar.caption(f"Device: {cache.device_text()}")
    for slot in slots:
        if not slot.ok:
            st.sidebar.error(plain(slot.error))
    if any(s.ok for s in slots):
        st.sidebar.markdown("  \n".join(f"**{plain(s.title)}**" for s in slots if s.ok))
        shown = [s for s in slots if s.ok]
        # Two models to a table: a third column no longer fits the sidebar's width.
        tables = [figures_table(shown[i:i + TABLE_MODELS]) for i in range(0, len(shown), TABLE_MODELS)]
        for table in tables:
            st.sidebar.markdown(table)
        if any(NO_LEDGER in table for table in tables):
            st.sidebar.caption(NO_LEDGER_NOTE)
        with st.sidebar.expander("What these figures mean"):
            st.markdown(figure_help(figure_names(shown)))
        missing = [s for s in slots if s.ok and s.codes and not geometry_of(s)]
        if missing and st.sidebar.button("Measure the KL ledger of " + ", ".join(s.side for s in missing),
                                         key="measure_ledgers", help="From each model's stored test codes: "
                                         "E[KL] split into the information the codes carry and their mismatch "
                                         "with the prior, active units, MMD² to the prior (about 10 s each)"):
            state.set("ledgers", [*state.get("ledgers"), *(s.identity for s in missing)])
            st.rerun()
    shipped = vc.shipped_names(dataset)
    missing = [vc.PRETRAINED_DIR / name / "config.json" for name in shipped
               if not (vc.PRETRAINED_DIR / name / "config.json").exists()]
    if missing:
        st.sidebar.warning("Shipped model missing: " + ", ".join(f"`{f}`" for f in missing) +
                           ". Run `bash pretrained/reproduce.sh`, or train one in the “Train” tab.")

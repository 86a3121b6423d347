"""The Train tab: a form for a new model, and this browser's training as it runs.

The training runs in a background thread of the server (vae_core.jobs), owned by this
browser's cookie, so it survives reruns, a reload and a second tab; the progress below
redraws itself once a second while it runs.
"""
from __future__ import annotations

import streamlit as st

import vae_core as vc
from vae_core import jobs

from .. import cache, state
from ..figures import big, latest, loss_figure, PART_TITLES
from ..page import Page
from ..settings import SIDES, objective_title
from ..sidebar import model_key
from ..text import plain

TITLE = "Train"
MODEL_FIELDS = ("objective", "arch", "latent_dim")
TRAIN_FIELDS = ("dataset", "epochs", "batch_size", "lr", "beta", "mmd_lambda", "seed", "train_subset", "eval_subset")


def draw(page: Page) -> None:
    form_fragment(page)
    job = cache.job_registry().current(page.owner)
    running = job is not None and job.view().running
    if job is not None:  # announce a finish this session saw coming, not one that was over before it came
        if state.get("announced_job") is None and not running:
            state.set("announced_job", job.id)
    st.fragment(run_every=1.0 if running else None)(progress)(page)


# ----------------------------------------------------------------------------------------------
# The form
# ----------------------------------------------------------------------------------------------

def auto_tag(values: dict) -> str:
    """A name for a model the user did not name: what it is, and the first free number."""
    kind = "vae" if values["objective"] == "standard" else "mmd"
    stem = f"{values['dataset']}-{kind}-{values['arch']}-d{values['latent_dim']}"
    root = vc.models_dir()
    n = 1
    while (root / f"{stem}-{n}").exists():
        n += 1
    return f"{stem}-{n}"


@st.fragment
def form_fragment(page: Page) -> None:
    """The form's widgets rerun only this fragment; a started training reruns the page."""
    st.markdown("**Train a new model** (it is saved in your models directory and listed in the sidebar)")
    c1, c2, c3, c4 = st.columns(4)
    values = {
        "dataset": c1.selectbox("Dataset", list(vc.DATASETS), key="t_dataset",
                                format_func=lambda k: vc.DATASETS[k].title),
        "objective": c2.radio("Model", ("standard", "mmd"), key="t_objective", horizontal=True,
                              format_func={"standard": "standard VAE", "mmd": "MMD-VAE"}.get),
        "arch": c3.selectbox("Architecture", ("mlp", "conv"), key="t_arch",
                             format_func={"mlp": "MLP (3 × 512)", "conv": "convolutional"}.get),
        "latent_dim": c4.number_input("Latent dimension", value=2, step=1, key="t_latent_dim"),
        "epochs": c1.number_input("Epochs", value=10, step=1, key="t_epochs"),
        "batch_size": c2.number_input("Batch size", value=128, step=16, key="t_batch"),
        "lr": c3.number_input("Learning rate", value=1e-3, step=1e-4, format="%.2e", key="t_lr"),
    }
    if values["objective"] == "standard":
        values["beta"] = c4.number_input("β: weight of the KL term", value=1.0, step=0.1, key="t_beta")
    else:
        values["mmd_lambda"] = c4.number_input("λ: weight of the MMD term", value=1000.0, step=100.0,
                                               key="t_lambda")
    tag = c1.text_input("Tag (the new model's name)", key="t_tag", placeholder="leave empty for a name")
    with st.expander("Advanced"):
        a1, a2, a3 = st.columns(3)
        values["train_subset"] = a1.number_input("Training images (0: all)", value=0, step=100, key="t_subset")
        values["eval_subset"] = a2.number_input("Test images scored per epoch", value=2000, step=500, key="t_eval")
        values["seed"] = a3.number_input("Seed", value=0, step=1, key="t_seed")
    values["train_subset"] = values["train_subset"] or None
    tag = tag.strip() or auto_tag(values)
    if not st.session_state.get("t_tag", "").strip():
        c2.caption(f"It will be saved as `{tag}`.")
    if st.button("Train", type="primary", key="t_submit"):
        start(page, values, tag)


def form_errors(values: dict, tag: str) -> list[str]:
    """Every problem of the form at once (not the first only): each field is checked alone."""
    problems = []
    for fields, cls in ((MODEL_FIELDS, vc.ModelConfig), (TRAIN_FIELDS, vc.TrainConfig)):
        for name in fields:
            if name in values:
                try:
                    cls(**{name: values[name]})
                except vc.ConfigError as exc:
                    problems.append(str(exc))
    try:
        path = vc.tag_path(tag)
        if path.exists():
            problems.append(f"a model tagged {tag!r} already exists ({path}); choose another tag")
    except vc.CheckpointError as exc:
        problems.append(str(exc))
    return problems


def start(page: Page, values: dict, tag: str) -> None:
    problems = form_errors(values, tag)
    if not problems:
        try:
            model_cfg = vc.ModelConfig(**{k: values[k] for k in MODEL_FIELDS})
            train_cfg = vc.TrainConfig(**{k: values[k] for k in TRAIN_FIELDS if k in values})
            cache.job_registry().start(model_cfg, train_cfg, tag, owner=page.owner, data_dir=page.data_dir)
        except (vc.VaeCoreError, jobs.JobError) as exc:
            problems.append(str(exc))
    if problems:
        st.error("Not started:\n" + "\n".join(f"- {plain(p)}" for p in problems))
        return
    state.set("announced_job", None)
    st.rerun()  # the whole page: the progress below starts redrawing itself


# ----------------------------------------------------------------------------------------------
# The training as it runs
# ----------------------------------------------------------------------------------------------

def progress(page: Page) -> None:
    registry = cache.job_registry()
    job = registry.current(page.owner)
    busy = len(registry.running())
    if busy:
        st.caption(f"{busy} of {registry.max_running} training slots in use on this server.")
    if job is None:
        st.caption("No training started from this browser yet.")
        return
    v = job.view()
    eta = f" · about {v.eta:.0f} s left" if v.eta is not None else ""
    st.progress(min(max(v.fraction, 0.0), 1.0),
                text=f"{v.tag} ({objective_title(v.objective)}, {vc.DATASETS[v.dataset].title}): "
                     f"{v.fraction:.0%} · {v.elapsed:.0f} s elapsed{eta}")
    if v.running:
        c1, c2, c3 = st.columns([1, 2, 3])
        c1.button("Cancel", key="t_cancel", on_click=job.cancel, disabled=v.cancel_requested,
                  help="Stop now; nothing is saved")
        c2.button("Cancel and keep the weights", key="t_cancel_keep", on_click=job.cancel, kwargs={"keep": True},
                  disabled=v.cancel_requested, help="Stop now and save the model as trained so far")
        c3.caption(v.message if not v.cancel_requested else "cancelling…")
    elif v.state == jobs.COMPLETED:
        st.success(f"{plain(v.message)}.")
    elif v.state == jobs.CANCELLED:
        st.warning(plain(v.message))
    else:
        st.error(plain(v.message))
    if v.path is not None:
        open_buttons(page, v)
    draw_numbers(v)
    if v.history:
        st.plotly_chart(loss_figure(v.history), key="t_curve")
    if v.preview is not None:
        st.image([big(im, 2) for im in v.preview], width=56, output_format="PNG",
                 caption=[""] * (len(v.preview) - 1) + [f"prior samples after epoch {v.preview_epoch:.0f}"])
    if not v.running and state.get("announced_job") != v.id:
        state.set("announced_job", v.id)
        st.rerun()  # the whole page, so the sidebar lists the new model at once


def draw_numbers(v: jobs.JobView) -> None:
    """The current figures: the last training report and the last test evaluation."""
    train, test = latest(v.history, "train"), latest(v.history, "test")
    parts = [p for p in PART_TITLES if p in train or p in test]
    if not parts:
        return
    cols = st.columns(len(parts))
    for col, part in zip(cols, parts):
        shown = test.get(part, train.get(part))
        col.metric(f"{part} ({'test' if part in test else 'train'})", f"{shown:.4g}" if part == "mmd" else f"{shown:.1f}")
    if v.objective == "standard" and test.get("kl") is not None and test["kl"] < 0.5 and not v.running:
        st.warning(f"The KL term is {test['kl']:.2f} nats: the posterior has collapsed onto the prior, so the "
                   "codes carry (almost) nothing about the images. Try a smaller β or more epochs.")


def open_buttons(page: Page, v: jobs.JobView) -> None:
    """Show the new model at once, as model A or B (switching the page to its dataset)."""
    cols = st.columns(len(SIDES) + 2)
    for col, side in zip(cols, SIDES):
        col.button(f"Open as model {side}", key=f"t_open_{side}", on_click=open_as, args=(side, v))


def open_as(side: str, v: jobs.JobView) -> None:
    st.session_state["dataset"] = v.dataset
    st.session_state[model_key(side, v.dataset)] = v.path

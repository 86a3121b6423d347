"""The Train tab: a form for a new model, and this browser's training as it runs.

The training runs in a background thread of the server (vae_core.training.jobs), owned by this
browser's cookie, so it survives reruns, a reload and a second tab; the progress below
redraws itself once a second while it runs.
"""
from __future__ import annotations

import streamlit as st

import vae_core as vc
from vae_core.lazy import LazyModule

from .. import cache, data, firstview, form, keep, state
from ..figures import big, codes_figure, latest, loss_figure, plane_xy, PART_TITLES
from ..page import Page
from ..settings import objective_title
from ..sidebar import model_key
from ..text import plain

jobs = LazyModule("vae_core.training.jobs")  # imports torch: on first use (vae_core.lazy)

TITLE = "Train"


def draw(page: Page) -> None:
    continue_fragment(page)
    form_fragment(page)
    job = cache.job_registry().current(page.owner)
    running = job is not None and job.view().running
    st.fragment(run_every=1.0 if running else None)(progress)(page)


# ----------------------------------------------------------------------------------------------
# The form
# ----------------------------------------------------------------------------------------------

OWN_DATA = "your own data"


def auto_tag(dataset: str, model_fields: dict) -> str:
    """A name for a model the user did not name: what it is, and the first free number."""
    kind = {"standard": "vae"}.get(model_fields["objective"], model_fields["objective"])
    stem = "-".join([vc.dataset_title(dataset).split(".")[0].lower().replace(" ", "-"), kind,
                     model_fields["arch"], f"d{model_fields['latent_dim']}"])
    stem = "".join(c for c in stem if c.isalnum() or c in "-_.")[:50] or "model"
    root = vc.models_dir()
    n = 1
    while (root / f"{stem}-{n}").exists():
        n += 1
    return f"{stem}-{n}"


def dataset_ui(c) -> tuple[str, bool]:
    """A built-in dataset, or the path of the user's own (.npz file or image folder): (spec, is a folder)."""
    choice = c.selectbox("Dataset", [*vc.DATASETS, OWN_DATA], key="t_dataset",
                         format_func=lambda k: vc.DATASETS[k].title if k in vc.DATASETS else "your own data (a path)…")
    if choice != OWN_DATA:
        return choice, False
    path = c.text_input("Path of an .npz file or an image folder", key="t_path",
                        placeholder="~/data/shapes.npz or ~/data/flowers",
                        help="An .npz in the layout of Keras's mnist.npz (x_train, y_train, x_test, y_test), or a "
                             "folder with one subfolder of images per class (16×16 to 64×64, grey or colour).")
    path = path.strip()
    return path, bool(path) and not path.lower().endswith(".npz")


@st.fragment
def form_fragment(page: Page) -> None:
    """The form's widgets rerun only this fragment; a started training reruns the page."""
    st.markdown("**Train a new model** (saved in your models directory and listed in the sidebar)")
    c1, c2 = st.columns([1, 3])
    dataset, folder = dataset_ui(c1)
    tag = c2.text_input("Tag (the new model's name)", key="t_tag", placeholder="leave empty for a name")
    no_data = data.draw_missing_for_training(dataset, page.data_dir)
    values = form.fields_ui(folder)
    model_fields, train_fields = form.split(values)
    evaluate = st.checkbox("When done, evaluate it as the shipped models are (test −ELBO, importance-weighted "
                           "NLL with k = 1000 on as many of 1,000 test images as fit in 40 s, 5-NN accuracy, the KL "
                           "ledger); adds about a minute", key="t_evaluate")
    tag = tag.strip() or auto_tag(dataset or "data", model_fields)
    if not st.session_state.get("t_tag", "").strip():
        c2.caption(f"It will be saved as `{tag}`.")
    if st.button("Train", type="primary", key="t_submit"):
        if no_data:
            st.error(f"Not started: the {vc.dataset_title(dataset)} files are missing (above: Download them, or put "
                     "them in place and press Retry).")
        else:
            start(page, dataset, model_fields, {**train_fields, "dataset": dataset}, tag, evaluate)


@st.fragment
def continue_fragment(page: Page) -> None:
    """Runs that stopped before their end (cancelled, or a server that went down) and can go on from
    their resume checkpoint: the choice and a button; the run ends as if it had never stopped."""
    training = {j.path for j in cache.job_registry().running()}  # its checkpoint is being written now
    runs = {r.tag: r for r in cache.resumable_runs() if r.model_path not in training}
    if not runs:
        return
    if state.get("t_resume") not in runs:
        state.set("t_resume", next(iter(runs)))
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    tag = c1.selectbox("Continue an unfinished run", list(runs), key="t_resume",
                       format_func=lambda t: f"{t}: {runs[t].describe()}, {vc.dataset_title(runs[t].train_config.dataset)}",
                       help="Runs stopped before their end (cancelled, or a server stopped) keep a resume checkpoint: "
                            "continuing one ends with the weights it would have had without the stop.")
    if c2.button("Continue training", key="t_continue"):
        run = runs[tag]
        try:
            cache.job_registry().start(run.model_config, run.train_config, run.tag, owner=page.owner,
                                       data_dir=page.data_dir, resume=run, download=False,
                                       after_save=firstview.after_save)
        except (vc.VaeCoreError, jobs.JobError) as exc:
            st.error(f"Not continued: {plain(str(exc))}")
            return
        state.set("announced_job", None)
        st.rerun()


def start(page: Page, dataset: str, model_fields: dict, train_fields: dict, tag: str, evaluate: bool) -> None:
    problems = [] if dataset else ["give the path of your data (an .npz file or an image folder)"]
    problems += form.errors(model_fields, {k: v for k, v in train_fields.items() if k != "dataset"})
    try:
        path = vc.tag_path(tag)
        if path.exists():
            problems.append(f"a model tagged {tag!r} already exists ({path}); choose another tag")
    except vc.CheckpointError as exc:
        problems.append(str(exc))
    if not problems:
        try:
            train_cfg = vc.TrainConfig(**train_fields)
            record = vc.resolve_dataset(dataset, data_dir=page.data_dir, **train_cfg.folder_options)
            model_cfg = vc.ModelConfig.for_dataset(record, **model_fields)
            cache.job_registry().start(model_cfg, train_cfg, tag, owner=page.owner, data_dir=page.data_dir,
                                       evaluate=evaluate, download=False,  # Download is the user's choice
                                       after_save=firstview.after_save)  # its first view ready when it is
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
    if job.view().running:
        job.watch()  # the live codes are shown: the job encodes them at its next reports
    v = job.view()
    eta = f" · about {v.eta:.0f} s left" if v.eta is not None else ""
    st.progress(min(max(v.fraction, 0.0), 1.0),
                text=f"{v.tag} ({objective_title(v.objective)}, {vc.dataset_title(v.dataset)}): "
                     f"{v.fraction:.0%} · {v.elapsed:.0f} s elapsed{eta}")
    if v.running:
        c1, c2, c3 = st.columns([1, 2, 3])
        c1.button("Cancel", key="t_cancel", on_click=job.cancel, disabled=v.cancel_requested,
                  help="Stop now; nothing is saved")
        c2.button("Cancel and keep the weights", key="t_cancel_keep", on_click=job.cancel, kwargs={"keep": True},
                  disabled=v.cancel_requested, help="Stop now and save the model as trained so far; it can be continued later from where it stopped")
        c3.caption(v.message if not v.cancel_requested else "cancelling…")
    elif v.state == jobs.COMPLETED:
        st.success(f"{plain(v.message)}.")
    elif v.state == jobs.CANCELLED:
        st.warning(plain(v.message))
    else:
        st.error(plain(v.message))
    if v.path is not None:
        open_buttons(page, v)
        formation_button(v)
    draw_numbers(v)
    draw_curve_and_codes(v)
    if v.preview is not None:
        st.image([big(im, 2) for im in v.preview], width=56, output_format="PNG",
                 caption=[""] * (len(v.preview) - 1) + [f"prior samples after epoch {v.preview_epoch:.0f}"])
    if not v.running and v.path is not None and state.get("announced_job") != v.id:
        state.set("announced_job", v.id)
        if not page.lists(v.path):  # saved after this run's sidebar was drawn (whenever the run began)
            st.rerun()  # the whole page, so the sidebar lists the new model at once


def draw_curve_and_codes(v: jobs.JobView) -> None:
    """The loss curve, and beside it the latent space forming: the fixed test subset's codes
    (vae_core.analysis.formation) as the job last encoded them, coloured by class."""
    if not v.history and v.codes is None:
        return
    curve, codes = st.columns(2) if v.codes is not None else (st.container(), None)
    if v.history:
        curve.plotly_chart(loss_figure(v.history), key="t_curve")
    if codes is not None:
        record = vc.DATASETS.get(v.dataset)
        xy, names = plane_xy(v.codes)
        when = "before training" if v.codes_epoch == 0 else f"at step {v.codes_step:,} (epoch {v.codes_epoch:.2f})"
        codes.plotly_chart(codes_figure(xy, v.code_labels, tuple(record.classes) if record else (), axis_names=names,
                                        title=f"{len(xy):,} test images' codes {when}", height=420),
                           key="t_live_codes")


def formation_button(v: jobs.JobView) -> None:
    """The saved training's formation as an animation (built when pressed), when it kept one."""
    from pathlib import Path

    try:
        formation = cache.formation(v.path, cache.folder_stamp(Path(v.path)))
    except vc.CheckpointError:
        return  # the Latent space tab names a damaged file
    if formation is not None:
        record = vc.DATASETS.get(v.dataset)
        classes = tuple(record.classes) if record else ()
        keep.button(st, "the space forming (GIF)", lambda: keep.formation_gif(formation, classes),
                    keep.file_stem(v.tag, "formation") + ".gif", keep.GIF, key="t_formation_gif",
                    help="The codes of the same test images before training and after each epoch, one frame each")


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
    if test.get("kl") is not None and test["kl"] < 0.5 and not v.running:
        st.warning(f"The KL term is {test['kl']:.2f} nats: the posterior has collapsed onto the prior, so the "
                   "codes carry (almost) nothing about the images. Try a smaller β or more epochs.")


def open_buttons(page: Page, v: jobs.JobView) -> None:
    """Show the new model at once, as model A or B (switching the page to its dataset)."""
    sides = [s.side for s in page.slots]
    cols = st.columns(len(sides) + 2)
    for col, side in zip(cols, sides):
        if col.button(f"Open as model {side}", key=f"t_open_{side}", on_click=open_as, args=(side, v)):
            # The whole page, now: a click in this (self-refreshing) fragment reruns only the fragment,
            # and the browser's next full rerun sent the sidebar's old choice back over the new one.
            st.rerun()


def open_as(side: str, v: jobs.JobView) -> None:
    st.session_state["dataset"] = v.dataset
    st.session_state[model_key(side, v.dataset)] = v.path

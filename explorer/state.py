"""Every piece of the page's session state, declared once: its key, its default and its scope.

Streamlit keeps `st.session_state` across reruns. State that is about one dataset (a picked
test image, the interpolation ends) is wrong once the dataset changes, and state about the
models on screen (a latent point) is wrong once they change: that is how a dataset switch
used to crash the page. `sync()` runs before any widget that reads this state is drawn: it
resets each key whose scope changed and repairs values that do not fit the new context (an
index beyond the test set, a class the dataset does not have). Views read and write only
declared keys, so a typo is an error, not a silent new key.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st

import vae_core as vc

from . import form
from .layers import LAYERS
from .settings import DEFAULT_GRID, GRID_PERCENTILE_RANGE, GRID_QUANTILE_RANGE, SIDES

_DEFAULT_Q = (int(DEFAULT_GRID[2]), int(DEFAULT_GRID[3]))  # the quantile slider's handles, in percent

SESSION, DATASET, MODELS = "session", "dataset", "models"
# The drawing pinned on the latent map ("Pin the drawing"): (dataset, (C, H, W) floats in [0, 1]). Not a
# declared Var: the map's callback writes it, and it outlives a dataset switch (it is kept per dataset).
PINNED_DRAWING = "vlm_pinned_drawing"


@dataclass(frozen=True)
class Context:
    """What the state must fit: the dataset on screen, its test set, the models compared."""

    dataset: str
    classes: tuple[str, ...]
    class_counts: tuple[int, ...]  # test images per class; all 0 when the data files are missing
    models: tuple[str, ...] = ()  # identities (folder and version) of the models on screen
    labels: object = None  # the test labels (numpy array), None when the data files are missing

    @property
    def n_test(self) -> int:
        return sum(self.class_counts)


@dataclass(frozen=True)
class Var:
    key: str
    default: Any  # a value, or a function of the Context
    scope: str = SESSION
    # Returns a value that fits the context (the same one when it already does). Gets the
    # value, the context and a getter for keys declared before it.
    repair: Callable[[Any, Context, Callable[[str], Any]], Any] | None = None

    def initial(self, ctx: Context):
        value = self.default(ctx) if callable(self.default) else self.default
        return list(value) if isinstance(value, list) else value


def _int_in(lo: int, hi: Callable[[Context], int] | int, fallback=None):
    """A repair keeping integers in [lo, hi(ctx)); anything else becomes `fallback`."""
    def repair(value, ctx, get):
        top = hi(ctx) if callable(hi) else hi
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value < top
        return value if ok else (fallback(ctx) if callable(fallback) else fallback)
    return repair


def _choice(*options):
    def repair(value, ctx, get):
        return value if value in options else options[0]
    return repair


def _range_in(lo: int, hi: int, fallback: tuple[int, int]):
    """A range slider's (low, high) integers in [lo, hi], low < high: handles dragged onto one value
    are set one step apart (a grid over an empty range cannot be drawn); anything else is `fallback`."""
    def repair(value, ctx, get):
        pair = tuple(value) if isinstance(value, (tuple, list)) else ()
        if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair) \
                or not lo <= pair[0] <= pair[1] <= hi:
            return fallback
        a, b = pair
        return (a, b) if a < b else (a, b + 1) if b < hi else (a - 1, b)
    return repair


def _test_index(value, ctx, get):
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < ctx.n_test
    return value if ok else None


def _test_indices(value, ctx, get):
    return [i for i in value if isinstance(i, int) and 0 <= i < ctx.n_test] if isinstance(value, list) else []


def _member_of_class(end: str):
    """An end's test image must belong to the end's class (the first one of the class if not)."""
    def repair(value, ctx, get):
        if ctx.labels is None:
            return None
        cls = get(f"interp_{end}_class")
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < ctx.n_test \
            and ctx.labels[value] == cls
        if ok:
            return value
        members = (ctx.labels == cls).nonzero()[0]
        return int(members[0]) if len(members) else None
    return repair


def _class_with_images(default: int):
    """A class index of the dataset that has test images (when the test set is here)."""
    def repair(value, ctx, get):
        def ok(c):
            return isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(ctx.classes) and \
                (ctx.n_test == 0 or ctx.class_counts[c] > 0)
        if ok(value):
            return value
        return next((c for c in [default, *range(len(ctx.classes))] if ok(c)), 0)
    return repair


VARS: dict[str, Var] = {v.key: v for v in (
    # The picked test image (click on the map) and the last two picks, for interpolation ends.
    Var("picked", None, DATASET, _test_index),
    Var("picks", [], DATASET, _test_indices),
    # Interpolation ends: a class, and a test image of that class (its index in the test set).
    Var("interp_a_class", 0, DATASET, _class_with_images(0)),
    Var("interp_a_index", None, DATASET, _member_of_class("a")),
    Var("interp_b_class", lambda ctx: min(1, len(ctx.classes) - 1), DATASET, _class_with_images(1)),
    Var("interp_b_index", None, DATASET, _member_of_class("b")),
    # An end may be the drawing pinned on the map instead of a test image (when one is pinned).
    Var("interp_a_drawing", False, DATASET),
    Var("interp_b_drawing", False, DATASET),
    Var("interp_steps", 10, SESSION, _int_in(2, 31, 10)),
    Var("interp_method", "linear", SESSION, _choice("linear", "slerp")),
    # Samples and reconstructions: separate seeds, so "new samples" leaves the test images alone.
    Var("sample_seed", 0, SESSION, _int_in(0, 2**31, 0)),
    Var("recon_seed", 0, DATASET, _int_in(0, 2**31, 0)),
    Var("row_n", 10, SESSION, _int_in(4, 31, 10)),
    # The manifold grid (Latent space tab).
    Var("grid_n", DEFAULT_GRID[0], SESSION, _int_in(5, 31, DEFAULT_GRID[0])),
    Var("grid_spacing", DEFAULT_GRID[1], SESSION, _choice("quantile", "range")),
    Var("grid_q", _DEFAULT_Q, SESSION, _range_in(*GRID_QUANTILE_RANGE, _DEFAULT_Q)),
    Var("grid_r", GRID_PERCENTILE_RANGE, SESSION, _range_in(*GRID_PERCENTILE_RANGE, GRID_PERCENTILE_RANGE)),
    # The geometry layer drawn under the codes (Latent space tab), and the geodesic (Interpolation tab).
    Var("layer", "none", SESSION, _choice("none", *LAYERS)),
    Var("geodesic", False, SESSION),
    # The latent point the sliders decode, per model side (its length is that model's dimension).
    Var("z_A", [], MODELS),
    Var("z_B", [], MODELS),
    Var("z_C", [], MODELS),
    Var("z_D", [], MODELS),
    # The epoch scrubber of each model that kept its formation (Latent space tab): the frame shown, None
    # for the last one (the view knows how many frames a model kept).
    *(Var(f"scrub_{side}", None, MODELS) for side in SIDES),
    # Where the traversals of a model with d > 2 start: the pinned image's code, the codes' mean, the origin.
    Var("trav_center", "pin", SESSION, _choice("pin", "mean", "origin")),
    # The training form (kept while another tab is open): its dataset follows the page's; its other
    # fields come from vae_core's settings list (explorer/form.py).
    Var("t_dataset", lambda ctx: ctx.dataset if ctx.dataset in vc.DATASETS else "your own data", DATASET),
    Var("t_path", "", SESSION),
    Var("t_tag", "", SESSION),
    Var("t_evaluate", True, SESSION),
    Var("t_resume", None, SESSION),  # the unfinished run chosen to continue (its tag)
    *(Var(form.key(s.name), form.initial(s), SESSION) for s in form.SETTINGS),
    # Models whose KL ledger this session asked to measure (explorer/sidebar.py).
    Var("ledgers", [], SESSION),
    # Retries of reading the data files (a new number is a new attempt, past the cache).
    Var("data_attempt", 0, SESSION),
    # The replica (behind nginx) this session's page arrived pinned to (explorer/replica.py).
    Var("arrived_replica", None, SESSION),
    # Names this browser when it sends no cookie (explorer/identity.py).
    Var("owner", lambda ctx: uuid.uuid4().hex, SESSION),
    # The view the page last wrote into the URL, and what a link asked for that is not here (explorer/link.py).
    Var("link_written", None, SESSION),
    Var("link_notice", None, SESSION),
    # The finished training this session has already announced (so it reruns the page once).
    Var("announced_job", None, SESSION),
)}


def sync(ctx: Context, ss=None) -> None:
    """Reset what belongs to another dataset or other models, repair what does not fit `ctx`.

    Call before drawing any widget bound to a declared key (Streamlit refuses a change of a
    widget's state once the widget is drawn in the run). `ss` is the state mapping
    (st.session_state by default; a dict in tests).
    """
    ss = st.session_state if ss is None else ss

    def current(key):
        return ss[key]

    scope_of = {SESSION: "", DATASET: ctx.dataset, MODELS: "|".join(ctx.models)}
    for var in VARS.values():
        stamp_key = f"_scope.{var.key}"
        stamp = scope_of[var.scope]
        if var.key not in ss or ss.get(stamp_key) != stamp:
            ss[var.key] = var.initial(ctx)
            ss[stamp_key] = stamp
        if var.repair is not None:
            fixed = var.repair(ss[var.key], ctx, current)
            if fixed != ss[var.key]:
                ss[var.key] = fixed
        # Written back every run: Streamlit forgets the state of a widget that a run does not draw
        # (a closed tab's), unless the script itself set it.
        ss[var.key] = ss[var.key]


def get(key: str):
    """A declared key's value (KeyError for an undeclared one)."""
    var = VARS[key]
    return st.session_state.get(key, var.default if not callable(var.default) else None)


def set(key: str, value) -> None:  # noqa: A001 - reads as state.set(key, value)
    if key not in VARS:
        raise KeyError(f"undeclared page state {key!r}: declare it in explorer/state.py")
    st.session_state[key] = value


def pinned_drawing(dataset: str):
    """The drawing pinned on the latent map for `dataset`, (C, H, W) floats in [0, 1]; None without one."""
    kept = st.session_state.get(PINNED_DRAWING)
    return kept[1] if kept and kept[0] == dataset else None


def pick(index: int) -> None:
    """Remember a picked test image, and keep the last two picks for the interpolation ends."""
    set("picked", int(index))
    set("picks", ([*get("picks"), int(index)])[-2:])


def keep_choice(key: str, options: list) -> None:
    """Drop a widget's remembered choice once it is no longer offered (a deleted model folder)."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def shift_end(index: int, cls: int) -> None:
    """A shift-click on the map: the clicked image becomes the interpolation's end, the old end its start."""
    set("interp_a_class", get("interp_b_class"))
    set("interp_a_index", get("interp_b_index"))
    set("interp_b_class", int(cls))
    set("interp_b_index", int(index))

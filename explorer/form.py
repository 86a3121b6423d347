"""The training form, built from vae_core's one list of settings (`vae_core.settings()`).

Each setting brings its type, default, help text, choices and the members it applies to, so a
new objective, prior or option shows up here (and on the CLI) without a line of page code. A
setting is shown only when it applies to what is chosen (β for the standard VAE, λ for the
MMD-VAE, K for a learned prior, the split options for an image folder). The widgets' values live
in declared page state (`explorer/state.py`, `t_<name>`), so the form survives a tab switch.
"""
from __future__ import annotations

import streamlit as st

import vae_core as vc

# Shown first, in this order; everything else that applies goes under "Advanced".
MAIN = ("objective", "arch", "latent_dim", "prior", "epochs", "batch_size", "lr", "beta", "mmd_lambda", "samples",
        "anneal_schedule", "anneal_warmup", "anneal_cycles", "anneal_ratio", "prior_components")
HIDDEN = ("dataset", "snapshot_every", "device", "image_shape")  # the form's own dataset box; no snapshots here
LABELS = {  # the words a person reads; the help text says the rest
    "objective": "Model", "arch": "Architecture", "latent_dim": "Latent dimension", "prior": "Prior p(z)",
    "epochs": "Epochs", "batch_size": "Batch size", "lr": "Learning rate", "beta": "β: weight of the KL term",
    "mmd_lambda": "λ: weight of the MMD term", "samples": "Samples per input (L, or K for IWAE)",
    "prior_components": "Prior components K", "train_subset": "Training images (0: all)",
    "eval_subset": "Test images scored per epoch", "seed": "Seed", "max_iters": "Stop after steps (0: never)",
    "image_size": "Resize images to N×N (0: the most common size)", "hidden": "MLP layer widths",
}
# Each choice's words, per setting (values repeat across settings: "standard" is an objective and a prior).
CHOICE_TITLES = {
    "objective": {"standard": "standard VAE", "mmd": "MMD-VAE", "iwae": "IWAE bound", "annealed": "β-VAE, KL annealing"},
    "arch": {"mlp": "MLP", "conv": "convolutional"},
    "prior": {"standard": "N(0, I)", "vamp": "VampPrior", "mog": "mixture of Gaussians"},
    "likelihood": {"bernoulli": "Bernoulli", "cbernoulli": "continuous Bernoulli", "gaussian": "Gaussian (learned σ)"},
}
BINARIZE = {"auto": None, "on": True, "off": False}
SETTINGS = [s for s in vc.settings() if s.name not in HIDDEN]


def key(name: str) -> str:
    return f"t_{name}"


AUTO = "auto"  # the likelihood that fits the dataset (its record's: Bernoulli for MNIST and for yours)


def initial(setting: vc.Setting):
    """The widget's starting value: optional numbers start at 0 (meaning none), lists as text."""
    if setting.name == "likelihood":
        return AUTO
    if setting.type == "ints":
        return ", ".join(str(v) for v in setting.default)
    if setting.type == "bool":
        return next(k for k, v in BINARIZE.items() if v == setting.default)
    if setting.default is None and setting.type in ("int", "float"):
        return 0
    return setting.default


def to_value(setting: vc.Setting, shown):
    """The widget's value as the config takes it (0 -> None for optional numbers, text -> ints)."""
    if setting.type == "ints":
        try:
            return tuple(int(part) for part in str(shown).replace(" ", "").split(",") if part)
        except ValueError:
            return str(shown)  # the config refuses it with its own message
    if setting.type == "bool":
        return BINARIZE[shown]
    if setting.name == "likelihood" and shown == AUTO:
        return None
    if setting.optional and setting.type in ("int", "float") and shown == 0:
        return None
    return shown


def widget(setting: vc.Setting, column):
    label = LABELS.get(setting.name, setting.name.replace("_", " ").capitalize())
    k = key(setting.name)
    if setting.type == "bool":
        return column.selectbox(label, list(BINARIZE), key=k, help=setting.help)
    if setting.choices:
        options = [AUTO, *setting.choices] if setting.name == "likelihood" else list(setting.choices)
        return column.selectbox(label, options, key=k, help=setting.help,
                                format_func=lambda c: "as fits the data" if c == AUTO
                                else CHOICE_TITLES.get(setting.name, {}).get(c, c))
    if setting.type == "int":
        return column.number_input(label, step=1, key=k, help=setting.help)
    if setting.type == "float":
        fmt = "%.2e" if setting.name == "lr" else None
        return column.number_input(label, key=k, help=setting.help, format=fmt,
                                   step=None if setting.name != "lr" else 1e-4)
    return column.text_input(label, key=k, help=setting.help)


def applies(setting: vc.Setting, values: dict, folder: bool) -> bool:
    return setting.applies(objective=values.get("objective"), prior=values.get("prior"), arch=values.get("arch"),
                           likelihood=values.get("likelihood"), dataset="folder" if folder else "builtin")


def fields_ui(folder: bool) -> dict:
    """Every setting that applies, main ones in four columns, the rest under Advanced: name -> value."""
    values: dict = {}
    main = [s for s in SETTINGS if s.name in MAIN]
    main.sort(key=lambda s: MAIN.index(s.name))
    columns = st.columns(4)
    shown = 0
    for s in main:  # objective, arch and prior come first, so later ones know what applies
        if applies(s, values, folder):
            values[s.name] = to_value(s, widget(s, columns[shown % 4]))
            shown += 1
    with st.expander("Advanced"):
        columns = st.columns(3)
        rest = [s for s in SETTINGS if s.name not in MAIN]
        shown = 0
        for s in rest:
            if applies(s, values, folder):
                values[s.name] = to_value(s, widget(s, columns[shown % 3]))
                shown += 1
    return values


def errors(model_fields: dict, train_fields: dict) -> list[str]:
    """Every problem at once (not the first only): each field is checked alone, then together."""
    problems = []
    for fields, cls in ((model_fields, vc.ModelConfig), (train_fields, vc.TrainConfig)):
        for name, value in fields.items():
            if value is None and name == "likelihood":
                continue
            try:
                cls(**{name: value})
            except vc.ConfigError as exc:
                problems.append(str(exc))
    return problems


def split(values: dict) -> tuple[dict, dict]:
    """The form's values as (ModelConfig fields, TrainConfig fields)."""
    sections = {s.name: s.section for s in SETTINGS}
    model = {k: v for k, v in values.items() if sections.get(k) == "model"}
    train = {k: v for k, v in values.items() if sections.get(k) == "train"}
    return model, train

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

# The form's own dataset box stands for "dataset"; no snapshots, device or derived shape here. Every
# other setting comes with its label, whether it is shown first (`main`) and its choices' titles from
# vae_core (the members declare them: vae_core.registry.Option).
HIDDEN = ("dataset", "snapshot_every", "device", "image_shape")
BINARIZE = {"auto": None, "on": True, "off": False}
SETTINGS = [s for s in vc.settings() if s.name not in HIDDEN]


def key(name: str) -> str:
    return f"t_{name}"


AUTO = "auto"  # the likelihood that fits the dataset (its record's: Bernoulli for MNIST and for yours)


def label(setting: vc.Setting) -> str:
    return setting.label


class Unreadable(str):
    """What the user typed into a number field that is not a number: kept as typed (the field shows it
    still), and refused by `errors` with the field's label."""


def _number_text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def initial(setting: vc.Setting):
    """The widget's starting value: numbers as text (a number field keeps what was typed, even when it is
    not a number, so the message can quote it), optional numbers 0 (meaning none), lists as text."""
    if setting.name == "likelihood":
        return AUTO
    if setting.type == "ints":
        return ", ".join(str(v) for v in setting.default)
    if setting.type == "bool":
        return next(k for k, v in BINARIZE.items() if v == setting.default)
    if setting.type in ("int", "float"):
        return "0" if setting.default is None else _number_text(setting.default)
    return setting.default


def _number(setting: vc.Setting, shown: str):
    """A number field's text as the config takes it: an int or a float, None for an optional field left
    at 0 or empty, else the text itself (Unreadable)."""
    text = str(shown).strip() if shown is not None else ""
    if not text:
        return None if setting.optional else Unreadable(shown or "")
    try:
        value = float(text)
    except ValueError:
        return Unreadable(shown)
    if setting.type == "int":
        if not value.is_integer():
            return Unreadable(shown)
        value = int(value)
    return None if setting.optional and value == 0 else value


def to_value(setting: vc.Setting, shown):
    """The widget's value as the config takes it (0 -> None for optional numbers, text -> numbers or ints)."""
    if setting.type in ("int", "float"):
        return _number(setting, shown)
    if setting.type == "ints":
        try:
            return tuple(int(part) for part in str(shown).replace(" ", "").split(",") if part)
        except ValueError:
            return str(shown)  # the config refuses it with its own message
    if setting.type == "bool":
        return BINARIZE[shown]
    if setting.name == "likelihood" and shown == AUTO:
        return None
    return shown


def widget(setting: vc.Setting, column):
    k = key(setting.name)
    if setting.type == "bool":
        return column.selectbox(label(setting), list(BINARIZE), key=k, help=setting.help)
    if setting.choices:
        options = [AUTO, *setting.choices] if setting.name == "likelihood" else list(setting.choices)
        return column.selectbox(label(setting), options, key=k, help=setting.help,
                                format_func=lambda c: "as fits the data" if c == AUTO
                                else setting.choice_titles.get(c, c))
    # Numbers too are typed as text: a number field would turn what it cannot read into 0, unseen.
    return column.text_input(label(setting), key=k, help=setting.help)


def applies(setting: vc.Setting, values: dict, folder: bool) -> bool:
    return setting.applies(objective=values.get("objective"), prior=values.get("prior"), arch=values.get("arch"),
                           likelihood=values.get("likelihood"), dataset="folder" if folder else "builtin")


def fields_ui(folder: bool) -> dict:
    """Every setting that applies, main ones in four columns, the rest under Advanced: name -> value."""
    values: dict = {}
    main = [s for s in SETTINGS if s.main]
    columns = st.columns(4)
    shown = 0
    for s in main:  # objective, arch and prior come first, so later ones know what applies
        if applies(s, values, folder):
            values[s.name] = to_value(s, widget(s, columns[shown % 4]))
            shown += 1
    with st.expander("Advanced"):
        columns = st.columns(3)
        rest = [s for s in SETTINGS if not s.main]
        shown = 0
        for s in rest:
            if applies(s, values, folder):
                values[s.name] = to_value(s, widget(s, columns[shown % 3]))
                shown += 1
    return values


def errors(model_fields: dict, train_fields: dict) -> list[str]:
    """Every problem at once (not the first only), each named by its field's label as the form shows it."""
    by_name = {s.name: s for s in SETTINGS}
    problems = []
    for fields, cls in ((model_fields, vc.ModelConfig), (train_fields, vc.TrainConfig)):
        for name, value in fields.items():
            setting = by_name.get(name)
            title = label(setting) if setting is not None else name
            if isinstance(value, Unreadable):
                what = "a whole number" if setting.type == "int" else "a number"
                problems.append(f"“{title}” must be {what}; " + (f"got “{value}”" if value.strip() else
                                                                   "the field is empty"))
                continue
            if value is None and name == "likelihood":
                continue
            try:
                cls(**{name: value})
            except vc.ConfigError as exc:
                message = str(exc)
                problems.append(f"“{title}” {message[len(name):].lstrip()}" if message.startswith(name + " ")
                                else message)
    return problems


def split(values: dict) -> tuple[dict, dict]:
    """The form's values as (ModelConfig fields, TrainConfig fields)."""
    sections = {s.name: s.section for s in SETTINGS}
    model = {k: v for k, v in values.items() if sections.get(k) == "model"}
    train = {k: v for k, v in values.items() if sections.get(k) == "train"}
    return model, train

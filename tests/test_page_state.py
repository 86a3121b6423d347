"""The page's state module alone: a scope change leaves only state that fits the new context.

These are the states a person reaches by clicking in their own order (pick a class, switch
the dataset, come back): each test builds the state a click left behind and checks what
`sync` makes of it, without a page or a browser.
"""
from __future__ import annotations

import numpy as np
import pytest

from explorer import state
from explorer.state import Context

MNIST_LABELS = np.repeat(np.arange(10), 1000)  # 10,000 test images, 1,000 per class
FASHION = tuple(f"garment {k}" for k in range(10))


def ctx(dataset="mnist", labels=MNIST_LABELS, classes=tuple(str(d) for d in range(10)), models=("A=a@1", "B=b@1")):
    counts = tuple(int(c) for c in np.bincount(labels, minlength=len(classes))) if labels is not None \
        else (0,) * len(classes)
    return Context(dataset, classes, counts, models, labels)


def synced(context, ss=None) -> dict:
    ss = {} if ss is None else ss
    state.sync(context, ss)
    return ss


def test_every_declared_key_gets_its_default():
    ss = synced(ctx())
    for key, var in state.VARS.items():
        assert key in ss, key
    assert ss["picked"] is None and ss["picks"] == [] and ss["interp_steps"] == 10
    assert ss["interp_a_index"] == 0 and ss["interp_b_index"] == 1000  # first image of class 0, of class 1
    assert ss["t_dataset"] == "mnist"


def test_switching_dataset_resets_what_was_about_the_old_one():
    ss = synced(ctx())
    ss.update(picked=9999, picks=[5, 9999], interp_a_class=7, interp_a_index=7005, interp_steps=17,
              sample_seed=4, recon_seed=3)
    fashion_labels = np.tile(np.arange(10), 1000)  # another order: index 7005 is class 5 here
    synced(ctx("fashion", fashion_labels, FASHION), ss)
    assert ss["picked"] is None and ss["picks"] == []
    assert ss["interp_a_class"] == 0 and fashion_labels[ss["interp_a_index"]] == 0
    assert ss["t_dataset"] == "fashion" and ss["recon_seed"] == 0
    assert ss["interp_steps"] == 17 and ss["sample_seed"] == 4  # session choices stay


def test_coming_back_to_a_dataset_starts_it_clean():
    ss = synced(ctx())
    ss.update(picked=42)
    synced(ctx("fashion", np.tile(np.arange(10), 1000), FASHION), ss)
    synced(ctx(), ss)
    assert ss["picked"] is None


def test_out_of_range_values_are_repaired_in_place():
    ss = synced(ctx())
    ss.update(picked=10_000, picks=[3, -1, 10_000, "x"], interp_steps=99, interp_method="cubic",
              interp_b_class=12, interp_b_index=3)
    synced(ctx(), ss)
    assert ss["picked"] is None and ss["picks"] == [3]
    assert ss["interp_steps"] == 10 and ss["interp_method"] == "linear"
    assert ss["interp_b_class"] == 1 and MNIST_LABELS[ss["interp_b_index"]] == 1


def test_an_end_follows_its_class():
    """Choosing another class keeps no image of the old one at that end."""
    ss = synced(ctx())
    ss.update(interp_a_class=7)  # the class box changed; the index still names a 0
    synced(ctx(), ss)
    assert MNIST_LABELS[ss["interp_a_index"]] == 7


def test_a_class_without_test_images_is_not_chosen():
    labels = np.repeat([0, 1, 3], [5, 5, 5])  # class 2 has no test image
    ss = synced(ctx(labels=labels, classes=("a", "b", "c", "d")))
    ss.update(interp_b_class=2)
    synced(ctx(labels=labels, classes=("a", "b", "c", "d")), ss)
    assert ss["interp_b_class"] == 1 and labels[ss["interp_b_index"]] == 1


def test_no_data_keeps_no_test_indices():
    ss = synced(ctx())
    ss.update(picked=12, picks=[1, 2])
    synced(ctx(labels=None), ss)
    assert ss["picked"] is None and ss["picks"] == [] and ss["interp_a_index"] is None


def test_other_models_reset_the_latent_point():
    ss = synced(ctx())
    ss.update(z_A=[3.0, -3.4], z_B=[3.0, -3.4])
    synced(ctx(models=("A=a@1", "B=other@5")), ss)
    assert ss["z_A"] == [] and ss["z_B"] == []


def test_a_key_streamlit_dropped_comes_back_with_its_default():
    """Streamlit deletes a widget's key when the widget is not drawn in a run."""
    ss = synced(ctx())
    del ss["interp_steps"]
    synced(ctx(), ss)
    assert ss["interp_steps"] == 10


def test_undeclared_keys_are_refused():
    with pytest.raises(KeyError, match="undeclared page state"):
        state.set("piked", 3)


def test_a_grid_range_never_collapses():
    """Both handles of a range slider on one value: set one step apart (at the top, the lower one moves)."""
    ss = synced(ctx())
    ss.update(grid_r=(20, 20), grid_q=(99, 99))
    synced(ctx(), ss)
    assert ss["grid_r"] == (20, 21) and ss["grid_q"] == (98, 99)
    ss.update(grid_r=(70, 30), grid_q="5-95")
    synced(ctx(), ss)
    assert ss["grid_r"] == (0, 100) and ss["grid_q"] == (5, 95)

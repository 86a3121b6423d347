"""One list of settings: every config field carries its help, bounds, choices and the members it
applies to; the CLI's options are built from it; the page can ask for it."""
import dataclasses

import pytest

import vae_core as vc
from vae_core import ConfigError, ModelConfig, TrainConfig, settings
from vae_core.cli import build_parser


def test_every_user_field_is_a_setting_with_help():
    listed = {(s.section, s.name) for s in settings()}
    fields = {("model", f.name) for f in dataclasses.fields(ModelConfig)} | \
             {("train", f.name) for f in dataclasses.fields(TrainConfig)}
    assert fields - listed == {("model", "image_shape")}  # derived from the dataset, not chosen
    for s in settings():
        assert len(s.help) > 10, s.name
        assert s.type in ("int", "float", "str", "bool", "ints")
        assert s.flags[0] == "--" + s.name.replace("_", "-")
    assert [s.name for s in settings("model")][:3] == ["objective", "arch", "latent_dim"]


def test_choices_come_from_the_registries():
    by_name = {s.name: s for s in settings()}
    assert by_name["objective"].choices == tuple(vc.OBJECTIVES)
    assert by_name["prior"].choices == tuple(vc.PRIORS)
    assert by_name["likelihood"].choices == tuple(vc.LIKELIHOODS)
    assert by_name["dataset"].choices is None and by_name["dataset"].suggestions == tuple(vc.DATASETS)
    assert by_name["estimator"].choices == ("analytic", "mc")  # the legacy "iwae" is readable, not offered
    assert by_name["lr"].maximum == 10.0 and by_name["epochs"].minimum == 1 and by_name["seed"].minimum == 0
    assert by_name["train_subset"].optional and by_name["binarize"].optional


def test_which_members_a_setting_applies_to():
    by_name = {s.name: s for s in settings()}
    assert by_name["beta"].applies(objective="standard") and by_name["beta"].applies(objective="annealed")
    assert not by_name["beta"].applies(objective="mmd")
    assert by_name["mmd_lambda"].applies(objective="mmd") and not by_name["mmd_lambda"].applies(objective="iwae")
    assert by_name["samples"].applies(objective="iwae")
    assert by_name["prior_components"].applies(prior="vamp") and not by_name["prior_components"].applies(prior="standard")
    assert by_name["hidden"].applies(arch="mlp") and not by_name["hidden"].applies(arch="conv")
    assert by_name["anneal_cycles"].applies_to == {"objective": ("annealed",)}
    assert by_name["test_fraction"].applies_to == {"dataset": ("folder",)}
    assert by_name["lr"].applies(objective="mmd", prior="vamp", arch="conv")  # applies everywhere


def test_the_cli_has_one_option_per_setting_with_its_help():
    train = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    options = {a.dest: a for a in train._actions}
    for s in settings():
        action = options[s.name]
        assert set(s.flags) <= set(action.option_strings), s.name
        assert action.help.startswith(s.help[:20].replace("%", "%%")), s.name
        if s.choices:
            assert tuple(action.choices) == s.choices
    assert "--model" in options["objective"].option_strings  # the first version's flag still works


def test_unknown_keys_stay_errors():
    with pytest.raises(ConfigError, match="unknown TrainConfig key"):
        TrainConfig.from_dict({**TrainConfig().to_dict(), "warmup": 3})
    with pytest.raises(ConfigError, match="unknown ModelConfig key"):
        ModelConfig.from_dict({**ModelConfig().to_dict(), "prior_k": 3})
    with pytest.raises(TypeError):
        TrainConfig(warmup=3)


def test_for_dataset_takes_shape_and_likelihood_from_the_record():
    cfg = ModelConfig.for_dataset(vc.DATASETS["fashion"], objective="mmd", likelihood=None)
    assert cfg.image_shape == (1, 28, 28) and cfg.likelihood == "bernoulli" and cfg.objective == "mmd"

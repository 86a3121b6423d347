"""The shipped models: each folder rebuilds itself and reproduces what its metrics.json claims."""
import json

import numpy as np
import pytest

from vae_core import PRETRAINED_DIR, encode_means, load_bundle, load_split, neg_elbo
from vae_core.data import fixed_binarization

SHIPPED = {
    "mnist-vae": ("mnist", "standard", "mlp"),
    "mnist-mmd": ("mnist", "mmd", "mlp"),
    "fashion-vae": ("fashion", "standard", "conv"),
    "fashion-mmd": ("fashion", "mmd", "conv"),
}


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def shipped(request):
    path = PRETRAINED_DIR / request.param
    assert path.is_dir(), f"{path} is missing: run bash pretrained/reproduce.sh"
    return request.param, load_bundle(path)


def test_folder_rebuilds_its_model(shipped):
    name, bundle = shipped
    dataset, objective, arch = SHIPPED[name]
    assert (bundle.dataset, bundle.model_config.objective, bundle.model_config.arch) == (dataset, objective, arch)
    assert bundle.model_config.latent_dim == 2
    assert bundle.metrics["status"] == "completed"


def test_cached_latents_equal_a_fresh_encoding(shipped, data_dir):
    name, bundle = shipped
    test = load_split(bundle.dataset, "test", data_dir=data_dir)
    assert bundle.latents is not None
    np.testing.assert_array_equal(bundle.latents["labels"], test.labels.numpy())
    fresh = encode_means(bundle.model, test.images)
    np.testing.assert_allclose(bundle.latents["mu"], fresh, atol=1e-4)


def test_stored_test_elbo_reproduces(shipped, data_dir):
    name, bundle = shipped
    evaluation = bundle.metrics.get("evaluation")
    assert evaluation, f"{name}: metrics.json has no evaluation block (run pretrained/reproduce.sh evaluate)"
    test = load_split(bundle.dataset, "test", data_dir=data_dir).subset(evaluation["n_test"])
    x = fixed_binarization(test.images, seed=evaluation["binarization_seed"])
    got = neg_elbo(bundle.model, x, scale=evaluation.get("proposal_scale"))
    assert got["neg_elbo"] == pytest.approx(evaluation["test"]["neg_elbo"], abs=0.5)


def test_importance_weighted_estimate_is_close_to_quadrature(shipped):
    name, bundle = shipped
    evaluation = bundle.metrics["evaluation"]
    iw = evaluation["iw_nll"]
    # The quadrature is nearly exact for d = 2; the IW estimate is an upper bound on the NLL in
    # expectation, and with k ≥ 1000 it must sit within a few nats of it.
    assert iw["nll"] - iw["quadrature_nll_same_images"] > -0.5
    assert iw["nll"] - iw["quadrature_nll_same_images"] < 3.0


def test_weights_are_small_enough_for_git():
    total = sum(f.stat().st_size for f in PRETRAINED_DIR.rglob("*") if f.is_file())
    assert total < 20 * 2**20


def test_metrics_json_is_plain_json():
    for name in SHIPPED:
        json.loads((PRETRAINED_DIR / name / "metrics.json").read_text())

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
    fresh = encode_means(bundle.model, bundle.inputs.of(test.images))  # the inputs its codes were made from
    np.testing.assert_allclose(bundle.latents["mu"], fresh, atol=1e-4)


def test_stored_test_elbo_reproduces(shipped, data_dir):
    name, bundle = shipped
    evaluation = bundle.metrics.get("evaluation")
    assert evaluation, f"{name}: metrics.json has no evaluation block (run pretrained/reproduce.sh evaluate)"
    test = load_split(bundle.dataset, "test", data_dir=data_dir).subset(evaluation["n_test"])
    x = fixed_binarization(test.images, seed=evaluation["binarization_seed"])
    got = neg_elbo(bundle.model, x, scale=evaluation.get("proposal_scale"))
    assert got["neg_elbo"] == pytest.approx(evaluation["test"]["neg_elbo"], abs=0.5)


# Images, importance samples and quadrature grid per architecture: the conv decoder costs about 5×
# the MLP's per decode, so its check looks at fewer images.
LIKELIHOOD_CHECK = {"mlp": (100, 1000, 200), "conv": (25, 300, 150)}


def test_likelihood_estimates_reproduce_and_agree(shipped, data_dir):
    """Computed afresh on some test images: the quadrature (nearly exact for d = 2) and the
    importance-weighted estimate with the stored proposal agree within a few nats, with the IW
    estimate above (it bounds −log p(x) from above in expectation); and the quadrature matches
    the shipped whole-test-set figure to within what that many images can vary."""
    from vae_core import iw_log_likelihood, quadrature_log_likelihood

    name, bundle = shipped
    n, k, grid = LIKELIHOOD_CHECK[bundle.model_config.arch]
    evaluation = bundle.metrics["evaluation"]
    test = load_split(bundle.dataset, "test", data_dir=data_dir).subset(n)
    x = fixed_binarization(test.images, seed=evaluation["binarization_seed"])
    quad = -quadrature_log_likelihood(bundle.model, x, grid=grid)
    iw = -iw_log_likelihood(bundle.model, x, k=k, scale=evaluation.get("proposal_scale"))
    assert -0.5 < iw.mean() - quad.mean() < 3.0, (iw.mean(), quad.mean())
    spread = quad.std() / np.sqrt(len(quad))  # standard error of an n-image mean
    assert abs(quad.mean() - evaluation["quadrature_nll"]["nll"]) < 4 * spread + 1.0


def test_weights_are_small_enough_for_git():
    total = sum(f.stat().st_size for f in PRETRAINED_DIR.rglob("*") if f.is_file())
    assert total < 20 * 2**20


def test_metrics_json_holds_finite_figures_for_the_sidebar():
    """What the sidebar and README read from each folder: present, finite, and consistent."""
    for name in SHIPPED:
        metrics = json.loads((PRETRAINED_DIR / name / "metrics.json").read_text())
        ev = metrics["evaluation"]
        parts = ev["test"]
        assert np.isfinite([parts["neg_elbo"], parts["recon"], parts["kl"], ev["iw_nll"]["nll"]]).all(), name
        assert parts["neg_elbo"] == pytest.approx(parts["recon"] + parts["kl"], abs=1e-6), name
        assert ev["iw_nll"]["k"] >= 1000 and 0 < ev["knn_accuracy"]["accuracy"] <= 1, name
        assert metrics["history"] and all(r["split"] in ("train", "test") for r in metrics["history"]), name

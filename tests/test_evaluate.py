"""Likelihood estimates checked against each other on a small trained 2-D model; latent metrics on toys."""
import numpy as np
import pytest
import torch

import vae_core as vc
from vae_core import (
    ConfigError,
    ModelConfig,
    TrainConfig,
    build_model,
    evaluate_model,
    iw_log_likelihood,
    knn_accuracy,
    neg_elbo,
    quadrature_log_likelihood,
    fit as train,
)
from vae_core.data import fixed_binarization
from vae_core.analysis.evaluate import PASS_BYTES, aggregate_posterior, best_proposal_scale, decode_floats, decodes_per_pass, \
    proposal


@pytest.fixture(scope="module")
def trained_2d(data_dir):
    """A 2-D standard VAE trained for two short epochs on 2,048 real images (a few seconds)."""
    from vae_core import load_split

    result = train(ModelConfig(hidden=(64,), latent_dim=2),
                   TrainConfig(epochs=2, batch_size=64, train_subset=2048, eval_subset=0, lr=3e-3,
                               schedule="constant"),
                   train_split=load_split("mnist", "train", data_dir=data_dir),
                   test_split=load_split("mnist", "test", data_dir=data_dir))
    assert result.ok
    return result.model


@pytest.fixture(scope="module")
def x50(mnist_test):
    return fixed_binarization(mnist_test.images[:50], seed=0)


@pytest.fixture(scope="module")
def iw1000(trained_2d, x50):
    return iw_log_likelihood(trained_2d, x50, k=1000, seed=0)


def test_quadrature_and_importance_weighting_agree(trained_2d, x50, iw1000):
    iw = iw1000
    quad = quadrature_log_likelihood(trained_2d, x50, grid=150)
    assert iw.shape == quad.shape == (50,)
    assert np.isfinite(iw).all() and np.isfinite(quad).all()
    assert (quad < 0).all()
    # Stated bound: on average the two estimates of log p(x) agree within 3 nats; the IW
    # estimate is a stochastic lower bound, so it may not exceed quadrature by more than noise.
    assert abs(iw.mean() - quad.mean()) < 3.0
    assert np.median(np.abs(iw - quad)) < 3.0
    assert iw.mean() <= quad.mean() + 0.5
    # The lattice is fine enough: a denser one changes the mean by far less than a nat.
    assert abs(quadrature_log_likelihood(trained_2d, x50, grid=300).mean() - quad.mean()) < 0.1


def test_iw_bound_is_above_the_elbo(trained_2d, x50, iw1000):
    elbo = -neg_elbo(trained_2d, x50, samples=20)["neg_elbo"]
    iw10 = iw_log_likelihood(trained_2d, x50, k=10).mean()
    assert elbo < iw10 < iw1000.mean()
    assert iw1000.mean() - elbo > 1.0  # a loose posterior leaves a visible gap
    # seeded: the same call gives the same numbers; chunking does not change them in distribution
    np.testing.assert_array_equal(iw_log_likelihood(trained_2d, x50[:5], k=50),
                                  iw_log_likelihood(trained_2d, x50[:5], k=50))
    whole = iw_log_likelihood(trained_2d, x50[:10], k=200).mean()
    chunked = iw_log_likelihood(trained_2d, x50[:10], k=200, max_bytes=300 * 4 * decode_floats(trained_2d)).mean()
    assert abs(chunked - whole) < 1.0


def test_evaluation_draws_from_its_own_cpu_generator(trained_2d, x50):
    """The bounds' draws come from seeded CPU generators: the global RNG is left alone, and a model on
    another device gets the same draws (its numbers agree up to float error, bench/gpu_check.sh)."""
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = neg_elbo(trained_2d, x50, samples=3, seed=5)
    iw_log_likelihood(trained_2d, x50[:5], k=20, seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    assert neg_elbo(trained_2d, x50, samples=3, seed=5) == a  # the same call, the same draws
    assert neg_elbo(trained_2d, x50, samples=3, seed=6)["recon"] != a["recon"]


def test_a_pass_holds_at_most_its_byte_budget():
    """A pass decodes as many points as PASS_BYTES allows for the decoder's activations and scoring:
    the 32×32 colour conv decoder that took ~11 GB in passes of 50,000 now gets a few hundred."""
    colour = vc.build_model(vc.ModelConfig(arch="conv", image_shape=(3, 32, 32), likelihood="cbernoulli"))
    floats = decode_floats(colour)
    # Every layer's output, counted by hand: dense, ReLU and unflatten (8·8·32 each), deconv and ReLU
    # (64·16·16 each), deconv and ReLU (32·32·32 each), the last deconv (3·32·32); and four image-sized
    # tensors of the scoring.
    by_hand = (8 * 8 * 32) * 3 + (64 * 16 * 16) * 2 + (32 * 32 * 32) * 2 + 3 * 32 * 32 + 4 * 3 * 32 * 32
    assert floats == by_hand
    assert decodes_per_pass(colour) * 4 * floats <= PASS_BYTES
    assert decodes_per_pass(colour, max_bytes=1) == 1


def test_a_time_budget_stops_after_the_minimum(trained_2d, x50):
    """With `seconds` the estimate stops at the first pass past the budget once `min_images` are
    done: a clock that jumps 10 s per reading makes every pass late."""
    ticks = iter(range(0, 10_000, 10))
    ll = iw_log_likelihood(trained_2d, x50, k=20, seconds=1.0, min_images=7, clock=lambda: next(ticks),
                           max_bytes=3 * 20 * 4 * decode_floats(trained_2d))  # passes of 3 images
    assert len(ll) == 9  # three passes: 3, 6, then 9 ≥ 7
    full = iw_log_likelihood(trained_2d, x50, k=20, max_bytes=3 * 20 * 4 * decode_floats(trained_2d))
    np.testing.assert_allclose(ll, full[:9], rtol=1e-6)  # the same draws for the images it covered


def test_neg_elbo_parts(trained_2d, x50):
    parts = neg_elbo(trained_2d, x50)
    assert parts["neg_elbo"] == pytest.approx(parts["recon"] + parts["kl"])
    assert parts["kl"] > 0 and parts["recon"] > 0


def test_quadrature_needs_two_dimensions():
    model = build_model(ModelConfig(hidden=(16,), latent_dim=3))
    with pytest.raises(ConfigError, match="2-D"):
        quadrature_log_likelihood(model, torch.zeros(1, 1, 28, 28))


def test_deterministic_encoder_needs_a_proposal_scale():
    torch.manual_seed(0)
    model = build_model(ModelConfig(objective="mmd", hidden=(16,), latent_dim=2)).eval()
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3))
    with pytest.raises(ConfigError, match="scale"):
        proposal(model, x)
    mu, logvar = proposal(model, x, 0.1)
    torch.testing.assert_close(torch.exp(0.5 * logvar), torch.full_like(mu, 0.1))
    assert best_proposal_scale(model, x) in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
    assert np.isfinite(iw_log_likelihood(model, x, k=20, scale=0.1)).all()


def test_knn_accuracy_on_toy_clusters():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], np.float32)
    train_labels = np.repeat(np.arange(4), 50)
    train_codes = centers[train_labels] + rng.normal(scale=0.5, size=(200, 2))
    test_labels = np.repeat(np.arange(4), 10)
    test_codes = centers[test_labels] + rng.normal(scale=0.5, size=(40, 2))
    assert knn_accuracy(train_codes, train_labels, test_codes, test_labels, k=5, chunk=7) == 1.0
    # shuffled labels: chance level
    wrong = (test_labels + 1) % 4
    assert knn_accuracy(train_codes, train_labels, test_codes, wrong, k=5) == 0.0


def test_aggregate_posterior_of_the_prior():
    codes = np.random.default_rng(0).normal(size=(5000, 3))
    stats = aggregate_posterior(codes)
    np.testing.assert_allclose(stats["mean"], 0.0, atol=0.05)
    np.testing.assert_allclose(stats["cov"], np.eye(3), atol=0.07)
    assert stats["cov_distance_to_identity"] < 0.1
    assert abs(stats["mmd_to_prior"]) < 4 * stats["mmd_to_prior_se"] + 1e-4  # unbiased: ≈ 0, either sign
    shifted = aggregate_posterior(codes * 3 + 2)
    assert shifted["mmd_to_prior"] > 10 * stats["mmd_to_prior"] + 0.05
    assert shifted["cov_distance_to_identity"] > 10


def test_evaluate_model_reports_every_metric(trained_2d, mnist_small, mnist_test):
    metrics = evaluate_model(trained_2d, mnist_small, mnist_test, n_test=200, iw_k=50, iw_n=20,
                             quadrature_grid=60)
    assert metrics["n_test"] == 200
    assert set(metrics) >= {"test", "iw_nll", "quadrature_nll", "knn_accuracy", "aggregate_posterior"}
    assert metrics["iw_nll"]["n"] == 20 and metrics["iw_nll"]["k"] == 50
    assert abs(metrics["iw_nll"]["nll"] - metrics["iw_nll"]["quadrature_nll_same_images"]) < 5
    assert metrics["iw_nll"]["nll"] <= metrics["test"]["neg_elbo"] + 5
    assert 0.3 < metrics["knn_accuracy"]["accuracy"] <= 1.0  # digits cluster after two short epochs
    assert len(metrics["aggregate_posterior"]["mean"]) == 2

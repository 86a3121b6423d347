"""The likelihoods against independent computations: the continuous Bernoulli's normaliser and mean
by numerical integration, the Gaussian against torch.distributions, every member's all-pairs
matrix against its per-image log-density, and the mean image each shows the user."""
import math

import numpy as np
import pytest
import torch
from scipy import integrate

from vae_core import LIKELIHOODS, ModelConfig, build_model, decode
from vae_core.model.likelihoods import Bernoulli, ContinuousBernoulli, Gaussian, cb_log_normalizer, cb_mean

LAMBDAS = [1e-4, 0.01, 0.2, 0.4, 0.49, 0.4999, 0.5 - 1e-7, 0.5, 0.5 + 1e-6, 0.5001, 0.51, 0.7, 0.99, 1 - 1e-4]


def _logit(lam: float) -> float:
    return math.log(lam) - math.log1p(-lam)


@pytest.mark.parametrize("lam", LAMBDAS)
def test_cb_normaliser_matches_numerical_integration(lam):
    # C(λ) = 1 / ∫_0^1 λ^x (1 − λ)^(1 − x) dx
    integral, _ = integrate.quad(lambda x: lam ** x * (1 - lam) ** (1 - x), 0.0, 1.0, epsabs=1e-14, epsrel=1e-12)
    expected = -math.log(integral)
    got64 = cb_log_normalizer(torch.tensor(_logit(lam), dtype=torch.float64)).item()
    got32 = cb_log_normalizer(torch.tensor(_logit(lam), dtype=torch.float32)).item()
    assert got64 == pytest.approx(expected, abs=1e-10)
    assert got32 == pytest.approx(expected, abs=2e-6)


def test_cb_normaliser_is_smooth_through_one_half():
    """No jump where the Taylor branch meets the closed form, and finite gradients at logit 0."""
    l = torch.linspace(-0.05, 0.05, 2001, dtype=torch.float64, requires_grad=True)
    v = cb_log_normalizer(l)
    v.sum().backward()
    assert torch.isfinite(l.grad).all()
    np.testing.assert_allclose(l.grad.numpy(), (l / 6 - 7 * l ** 3 / 360).detach().numpy(), atol=1e-9)
    assert torch.diff(v.detach()).abs().max() < 1e-6
    assert cb_log_normalizer(torch.zeros(1)).item() == pytest.approx(math.log(2), abs=1e-7)
    # Large |logits|: log C ≈ log|l| (C = l / tanh(l/2)).
    big = torch.tensor([50.0, -80.0])
    np.testing.assert_allclose(cb_log_normalizer(big).numpy(), np.log(np.abs(big.numpy())), rtol=1e-6)


@pytest.mark.parametrize("lam", LAMBDAS)
def test_cb_mean_matches_numerical_integration(lam):
    c = math.exp(cb_log_normalizer(torch.tensor(_logit(lam), dtype=torch.float64)).item())
    mean, _ = integrate.quad(lambda x: x * c * lam ** x * (1 - lam) ** (1 - x), 0.0, 1.0, epsabs=1e-13)
    assert cb_mean(torch.tensor(_logit(lam), dtype=torch.float64)).item() == pytest.approx(mean, abs=2e-9)
    assert cb_mean(torch.tensor(_logit(lam), dtype=torch.float32)).item() == pytest.approx(mean, abs=1e-6)


def test_cb_mean_is_smooth_where_the_series_meets_the_closed_form():
    l = torch.linspace(-1.2, 1.2, 24001, dtype=torch.float64)
    m = cb_mean(l)
    assert torch.diff(m).min() > 0 and torch.diff(m).max() < 1e-5

def test_cb_density_integrates_to_one():
    lik = ContinuousBernoulli((1, 1, 1))
    for logit in (-6.0, -0.3, 0.0, 0.002, 2.5):
        logits = torch.tensor(logit, dtype=torch.float64).view(1, 1, 1, 1)
        total, _ = integrate.quad(lambda x: math.exp(lik.log_prob(logits, torch.tensor(x, dtype=torch.float64)
                                                                   .view(1, 1, 1, 1)).item()), 0.0, 1.0)
        assert total == pytest.approx(1.0, abs=1e-8)


def test_gaussian_matches_torch_distributions_and_has_a_floor():
    lik = Gaussian((1, 2, 2)).double()
    with torch.no_grad():
        lik.raw_log_scale.copy_(torch.tensor([[[-1.0, 0.0], [0.5, -30.0]]]))
    logits = torch.randn(3, 1, 2, 2, dtype=torch.float64)
    x = torch.rand(3, 1, 2, 2, dtype=torch.float64)
    scale = torch.exp(lik.log_scale())
    assert scale.min().item() >= 0.01 and scale.min().item() == pytest.approx(0.01, rel=1e-6)  # the floor
    ref = torch.distributions.Normal(torch.sigmoid(logits), scale).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(lik.log_prob(logits, x), ref)
    assert set(dict(lik.named_parameters())) == {"raw_log_scale"}


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_all_pairs_matrix_equals_the_per_image_density(name):
    """log_prob_pairs (the quadrature's matrix product) agrees with log_prob for every (image, decode) pair."""
    g = torch.Generator().manual_seed(0)
    lik = LIKELIHOODS[name]((3, 4, 5))
    if name == "gaussian":
        with torch.no_grad():
            lik.raw_log_scale.normal_(0.0, 1.0, generator=g)
    x = torch.rand(6, 3, 4, 5, generator=g)
    if name == "bernoulli":
        x = torch.bernoulli(x, generator=g)
    logits = torch.randn(7, 3, 4, 5, generator=g) * 3
    pairs = lik.log_prob_pairs(x.flatten(1), logits.flatten(1))
    assert pairs.shape == (6, 7)
    loop = torch.stack([lik.log_prob(logits, x[n].expand_as(logits)) for n in range(6)])
    torch.testing.assert_close(pairs.to(loop.dtype), loop, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_mean_image_is_in_the_unit_interval_and_rises_with_the_logit(name):
    lik = LIKELIHOODS[name]((1, 1, 5))
    logits = torch.tensor([-40.0, -3.0, 0.0, 3.0, 40.0]).view(1, 1, 1, 5)
    m = lik.mean(logits).flatten()
    assert (m >= 0).all() and (m <= 1).all() and (torch.diff(m) > 0).all()
    assert m[2].item() == pytest.approx(0.5)


def test_decode_shows_each_likelihoods_mean():
    """What `decode` hands the page is exactly the likelihood's mean of the decoder's output; for
    Bernoulli that is sigmoid, as the shipped models always showed."""
    z = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    for name in LIKELIHOODS:
        torch.manual_seed(0)
        model = build_model(ModelConfig(hidden=(16,), likelihood=name, image_shape=(3, 16, 16))).eval()
        with torch.no_grad():
            expected = model.likelihood.mean(model.decode(torch.as_tensor(z))).permute(0, 2, 3, 1).numpy()
        got = decode(model, z)
        assert got.shape == (4, 16, 16, 3)
        # decode runs the decoder again: float32 sums that another SIMD path or thread split may order
        # otherwise move a mean pixel by ~1e-7 (logits ~1, the means' slopes at most 1/4).
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert Bernoulli.binarized and not ContinuousBernoulli.binarized and not Gaussian.binarized


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_logits_for_mean_inverts_the_mean(name):
    """The inverse the decoder's output bias starts from, clamped into [0.01, 0.99]."""
    lik = LIKELIHOODS[name]((1, 1, 1))
    m = torch.tensor([0.0, 0.004, 0.01, 0.03, 0.2, 0.5, 0.77, 0.99, 1.0])
    torch.testing.assert_close(lik.mean(lik.logits_for_mean(m)), m.clamp(0.01, 0.99), rtol=0, atol=1e-6)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_a_fresh_run_starts_at_the_training_images_mean(name, arch, tmp_path):
    """fit() sets a new model's output bias so the likelihood's mean of it is the training images'
    mean: per pixel for the MLP (one bias each), per channel for the conv decoder; a model handed
    in to continue keeps its own."""
    import vae_core as vc

    x = np.random.default_rng(1).integers(0, 256, (80, 16, 16, 3), dtype=np.uint8)
    x[..., 1] //= 4  # a dark channel
    x[:, :2] = 0  # black rows: their mean is clamped to 0.01
    path = tmp_path / "toy.npz"
    np.savez(path, x_train=x[:64], y_train=np.zeros(64, np.int64), x_test=x[64:], y_test=np.zeros(16, np.int64))
    cfg = ModelConfig.for_dataset(vc.resolve_dataset(str(path)), arch=arch, hidden=(16,), likelihood=name)
    train = vc.TrainConfig(dataset=str(path), epochs=1, max_iters=1, batch_size=64, lr=1e-12, eval_subset=0)
    result = vc.fit(cfg, train)
    bias = result.model.decoder.net[-1].bias.detach()
    mean_image = torch.from_numpy(x[:64]).double().mean(0).permute(2, 0, 1) / 255  # (C, H, W)
    want = mean_image.flatten() if arch == "mlp" else mean_image.mean((1, 2))
    got = result.model.likelihood.mean(bias.double())
    torch.testing.assert_close(got, want.clamp(0.01, 0.99), rtol=0, atol=1e-5)
    again = vc.fit(cfg, train, model=result.model)
    torch.testing.assert_close(again.model.decoder.net[-1].bias.detach(), bias, rtol=0, atol=1e-6)

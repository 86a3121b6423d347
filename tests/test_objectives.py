"""Unit tests of the losses: each against its formula or an independent estimate."""
import math

import pytest
import torch

from vae_core import ModelConfig, build_model, gaussian_kl, mmd, mmd_vae_loss, standard_vae_loss
from vae_core.objectives import (
    bernoulli_log_likelihood,
    gaussian_kernel,
    log_normal,
    log_standard_normal,
    log_weights,
)


@pytest.fixture(scope="module")
def small_model():
    """A fixed, untrained small model: the estimators are compared on it, not its quality.

    Its q(z|x) is made narrow and off-centre and its decoder sensitive to z, so that
    the ELBO is clearly loose and the importance-weighted bounds have room to grow.
    """
    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden=(32,), latent_dim=2)).eval()
    with torch.no_grad():
        model.decoder.net[0].weight.mul_(4.0)
        model.encoder.net[-1].bias[2:] = -3.0  # logvar
        model.encoder.net[-1].bias[:2] = 1.0  # mu
    return model


@pytest.fixture(scope="module")
def binary_x():
    g = torch.Generator().manual_seed(1)
    return torch.bernoulli(torch.full((8, 1, 28, 28), 0.2), generator=g)


def test_gaussian_kl_is_zero_at_the_prior():
    kl = gaussian_kl(torch.zeros(5, 3), torch.zeros(5, 3))
    assert kl.shape == (5,)
    assert torch.equal(kl, torch.zeros(5))


def test_gaussian_kl_is_positive_away_from_the_prior():
    assert (gaussian_kl(torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2)) == 0.5).all()  # ½ mu²
    assert gaussian_kl(torch.zeros(1, 2), torch.full((1, 2), -1.0)).item() > 0


def test_gaussian_kl_matches_a_monte_carlo_estimate():
    g = torch.Generator().manual_seed(0)
    mu = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    logvar = torch.tensor([[-1.0, 0.3, -2.0]], dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(400_000, 3, generator=g, dtype=torch.float64)
    mc = (log_normal(z, mu, logvar) - log_standard_normal(z)).mean().item()
    exact = gaussian_kl(mu, logvar).item()
    # The estimator's standard error here is about 0.005; allow ~6 of them.
    assert mc == pytest.approx(exact, abs=0.03)


def test_log_normal_matches_torch_distributions():
    z, mu, logvar = torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3)
    ref = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    torch.testing.assert_close(log_normal(z, mu, logvar), ref)
    torch.testing.assert_close(log_standard_normal(z), torch.distributions.Normal(0, 1).log_prob(z).sum(-1))


def test_bernoulli_log_likelihood_equals_the_formula():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 1, 28, 28, generator=g, dtype=torch.float64) * 3
    x = torch.bernoulli(torch.full((3, 1, 28, 28), 0.4, dtype=torch.float64), generator=g)
    p = torch.sigmoid(logits)
    expected = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)
    got = bernoulli_log_likelihood(logits, x)
    assert got.shape == (3,)
    torch.testing.assert_close(got, expected)
    assert (got < 0).all()


def test_kernel_matches_its_formula():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 4, generator=g), torch.randn(7, 4, generator=g)
    k = gaussian_kernel(a, b)
    assert k.shape == (5, 7)
    d = a.shape[1]
    expected = torch.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / d ** 2)
    torch.testing.assert_close(k, expected, atol=1e-5, rtol=1e-5)
    # Same as the InfoVAE code's exp(−mean_i (x_i − y_i)² / d).
    expected_code = torch.exp(-((a[:, None, :] - b[None, :, :]) ** 2).mean(-1) / d)
    torch.testing.assert_close(k, expected_code, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gaussian_kernel(a, a).diagonal(), torch.ones(5), atol=1e-5, rtol=0)


def test_mmd_biased_is_zero_for_identical_samples_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(300, 2, generator=g)
    assert mmd(a, a).item() == pytest.approx(0.0, abs=1e-6)
    same = mmd(a, torch.randn(300, 2, generator=g)).item()
    shifted = mmd(a, torch.randn(300, 2, generator=g) + 2.0).item()
    assert same >= 0
    assert same < 0.02
    assert shifted > 0.3
    assert shifted > 20 * same


def test_mmd_unbiased_is_near_zero_for_one_gaussian():
    g = torch.Generator().manual_seed(0)
    values = [mmd(torch.randn(200, 4, generator=g), torch.randn(200, 4, generator=g), unbiased=True).item()
              for _ in range(10)]
    assert abs(sum(values) / len(values)) < 0.003
    assert max(abs(v) for v in values) < 0.01
    shifted = mmd(torch.randn(200, 4, generator=g), torch.randn(200, 4, generator=g) + 2.0, unbiased=True).item()
    assert shifted > 0.1


def test_mc_elbo_agrees_with_the_analytic_elbo(small_model, binary_x):
    torch.manual_seed(0)
    with torch.no_grad():
        analytic = standard_vae_loss(small_model, binary_x, samples=2000, estimator="analytic")
        mc = standard_vae_loss(small_model, binary_x, samples=2000, estimator="mc")
    # Same reconstruction estimator; the KL estimate differs by Monte Carlo noise only.
    assert mc.kl.item() == pytest.approx(analytic.kl.item(), abs=0.05)
    assert mc.total.item() == pytest.approx(analytic.total.item(), rel=0.01)
    assert set(mc.as_floats()) == {"total", "recon", "kl"}


def test_beta_weights_the_kl(small_model, binary_x):
    torch.manual_seed(0)
    with torch.no_grad():
        parts = standard_vae_loss(small_model, binary_x, beta=3.0)
    torch.testing.assert_close(parts.total, parts.recon + 3.0 * parts.kl)


def _iw_bound(model, x, k, repeats):
    with torch.no_grad():
        return torch.stack([(torch.logsumexp(log_weights(model, x, k), 0) - math.log(k)).mean()
                            for _ in range(repeats)]).mean().item()


def test_iwae_bound_is_above_the_elbo_and_grows_with_k(small_model, binary_x):
    torch.manual_seed(0)
    elbo = _iw_bound(small_model, binary_x, 1, 200)  # K = 1 is the ELBO itself
    with torch.no_grad():
        analytic = -standard_vae_loss(small_model, binary_x, samples=2000).total.item()
    assert elbo == pytest.approx(analytic, abs=2.0)  # std error of the K = 1 mean is about 0.4
    # On this model the bound rises by about 12, 12 and 5 nats; each mean has std error < 1.
    bounds = [_iw_bound(small_model, binary_x, k, 5) for k in (4, 32, 256)]
    assert elbo + 5 < bounds[0] < bounds[1] < bounds[2]
    # The training loss with estimator="iwae" is that bound, negated.
    with torch.no_grad():
        iwae = standard_vae_loss(small_model, binary_x, samples=50, estimator="iwae")
    assert -iwae.total.item() > elbo


def test_mmd_vae_loss_parts():
    torch.manual_seed(0)
    model = build_model(ModelConfig(objective="mmd", hidden=(32,), latent_dim=2))
    x = torch.rand(16, 1, 28, 28)
    parts = mmd_vae_loss(model, x, lam=10.0, prior_samples=100)
    assert parts.kl is None and parts.mmd is not None
    torch.testing.assert_close(parts.total, parts.recon + 10.0 * parts.mmd)
    mse = mmd_vae_loss(model, x, lam=0.0, recon="mse")
    expected = (torch.sigmoid(model.decode(model.encode(x).mu)) - x).pow(2).flatten(1).sum(1).mean()
    torch.testing.assert_close(mse.recon, expected)
    with pytest.raises(ValueError):
        mmd_vae_loss(model, x, recon="l1")

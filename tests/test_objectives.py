"""Unit tests of the losses: each against its formula or an independent estimate; the objective
registry's members, their parts recomputed by hand on known inputs; the KL annealing schedule."""
import math

import pytest
import torch
import torch.nn.functional as F

from vae_core import OBJECTIVES, ConfigError, ModelConfig, TrainConfig, build_model, gaussian_kl, make_objective, mmd
from vae_core.model.likelihoods import Bernoulli
from vae_core.objectives import gaussian_kernel, kl_weight, log_normal, log_standard_normal, log_weights


def standard_vae_loss(model, x, *, beta=1.0, samples=1, estimator="analytic", objective="standard", step=0):
    cfg = TrainConfig(beta=beta, samples=samples, estimator=estimator)
    return make_objective(objective, cfg).loss(model, x, step)


def bernoulli_log_likelihood(logits, x):
    return Bernoulli(tuple(logits.shape[1:])).log_prob(logits, x)


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
    # The objective "iwae" trains on that bound, negated.
    with torch.no_grad():
        iwae = standard_vae_loss(small_model, binary_x, samples=50, objective="iwae")
    assert -iwae.total.item() > elbo


def test_mmd_vae_loss_parts():
    torch.manual_seed(0)
    model = build_model(ModelConfig(objective="mmd", hidden=(32,), latent_dim=2))
    x = torch.rand(16, 1, 28, 28)
    mmd_loss = make_objective("mmd", TrainConfig(mmd_lambda=10.0, mmd_prior_samples=100))
    parts = mmd_loss(model, x)
    assert parts.get("kl") is None and parts.mmd is not None
    torch.testing.assert_close(parts.total, parts.recon + 10.0 * parts.mmd)
    mse = make_objective("mmd", TrainConfig(mmd_lambda=0.0, mmd_recon="mse"))(model, x)
    expected = (torch.sigmoid(model.decode(model.encode(x).mu)) - x).pow(2).flatten(1).sum(1).mean()
    torch.testing.assert_close(mse.recon, expected)
    with pytest.raises(ConfigError, match="mmd_recon"):
        TrainConfig(mmd_recon="l1")
    assert TrainConfig(mmd_recon="bce").mmd_recon == "nll"  # format 1's name for the likelihood's term


# --- the registry: every member's parts recomputed by hand on known inputs --------------------------

def test_the_registry_holds_the_four_objectives():
    assert set(OBJECTIVES) == {"standard", "mmd", "iwae", "annealed"}
    assert [name for name, cls in OBJECTIVES.items() if not cls.stochastic_encoder] == ["mmd"]
    for name, cls in OBJECTIVES.items():
        assert cls.name == name and cls.title


def _draws(model, x, samples, seed):
    """The (mu, logvar, z) an objective sees after torch.manual_seed(seed): eps drawn as it draws it."""
    mu, logvar = model.encode(x)
    torch.manual_seed(seed)
    eps = torch.randn((samples, *mu.shape))
    return mu, logvar, mu + torch.exp(0.5 * logvar) * eps


def _log_px(model, z, x):
    logits = model.decode(z.flatten(0, 1)).flatten(1)  # (S*B, P)
    target = x.flatten(1).repeat(z.shape[0], 1)
    return -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1).view(z.shape[0], -1)


@pytest.mark.parametrize("objective, step", [("standard", 0), ("annealed", 0), ("annealed", 30), ("annealed", 200)])
def test_standard_and_annealed_parts_by_hand(small_model, binary_x, objective, step):
    cfg = TrainConfig(beta=2.0, samples=3, anneal_schedule="linear", anneal_warmup=0.5)
    loss = make_objective(objective, cfg, total_steps=100)
    torch.manual_seed(5)
    with torch.no_grad():
        parts = loss(small_model, binary_x, step)
        mu, logvar, z = _draws(small_model, binary_x, 3, 5)
        recon = -_log_px(small_model, z, binary_x).mean()
        kl = (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)).mean()
    weight = 2.0 if objective == "standard" else 2.0 * min(1.0, step / 50)
    torch.testing.assert_close(parts.recon, recon, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(parts.kl, kl, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(parts.total, recon + weight * kl, rtol=1e-5, atol=1e-4)


def test_mc_estimator_parts_by_hand(small_model, binary_x):
    torch.manual_seed(2)
    with torch.no_grad():
        parts = standard_vae_loss(small_model, binary_x, samples=4, estimator="mc")
        mu, logvar, z = _draws(small_model, binary_x, 4, 2)
    normal = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    kl = (normal.log_prob(z).sum(-1) - torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)).mean()
    torch.testing.assert_close(parts.kl, kl, rtol=1e-5, atol=1e-4)


def test_iwae_parts_by_hand(small_model, binary_x):
    k = 6
    torch.manual_seed(3)
    with torch.no_grad():
        parts = standard_vae_loss(small_model, binary_x, samples=k, objective="iwae")
        mu, logvar, z = _draws(small_model, binary_x, k, 3)
        log_px = _log_px(small_model, z, binary_x)  # (K, B)
        log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        log_qz = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
        bound = (torch.logsumexp((log_px + log_pz - log_qz).double(), 0) - math.log(k)).float()  # log (1/K) Σ w_k
    torch.testing.assert_close(parts.total, -bound.mean(), rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(parts.recon, -log_px.mean(), rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(parts.kl, (log_qz - log_pz).mean(), rtol=1e-5, atol=1e-4)


def test_mmd_parts_by_hand():
    torch.manual_seed(0)
    model = build_model(ModelConfig(objective="mmd", hidden=(16,), latent_dim=3)).eval()
    x = torch.bernoulli(torch.full((12, 1, 28, 28), 0.3))
    loss = make_objective("mmd", TrainConfig(mmd_lambda=7.0, mmd_prior_samples=50))
    torch.manual_seed(4)
    with torch.no_grad():
        parts = loss(model, x)
        z = model.encode(x).mu
        torch.manual_seed(4)
        prior = torch.randn(50, 3)
        recon = F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none").flatten(1).sum(1).mean()

        def k(a, b):  # the InfoVAE code's kernel, written out
            return torch.exp(-((a[:, None] - b[None]) ** 2).mean(-1) / 3)

        expected = k(prior, prior).mean() + k(z, z).mean() - 2 * k(prior, z).mean()
    torch.testing.assert_close(parts.recon, recon, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(parts.mmd, expected, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(parts.total, recon + 7.0 * expected, rtol=1e-5, atol=1e-3)


def test_linear_warmup_values():
    w = [kl_weight(s, 100, beta=4.0, schedule="linear", warmup=0.25) for s in (0, 5, 12, 25, 26, 99)]
    assert w == pytest.approx([0.0, 0.8, 1.92, 4.0, 4.0, 4.0])


def test_cyclical_schedule_values():
    # Fu et al. 2019 with M = 4 cycles over T = 200 steps and R = 0.5: each 50-step cycle climbs for 25 steps.
    schedule = [kl_weight(s, 200, beta=1.0, schedule="cyclical", cycles=4, ratio=0.5) for s in range(200)]
    assert schedule[0] == 0.0 and schedule[50] == 0.0 and schedule[100] == 0.0 and schedule[150] == 0.0
    assert schedule[10] == pytest.approx(10 / 25) and schedule[60] == pytest.approx(10 / 25)
    assert schedule[25] == 1.0 and schedule[49] == 1.0 and schedule[199] == 1.0
    assert all(b >= a for a, b in zip(schedule[:49], schedule[1:50]))  # rises within a cycle
    assert sum(1 for s in schedule if s == 1.0) == 4 * 25


def test_the_objective_sees_the_step_through_training(mnist_small, mnist_test):
    """The annealed objective's KL weight climbs through a real run (the loop passes the step)."""
    from vae_core import fit

    seen = []
    real = OBJECTIVES["annealed"].beta_at

    def spy(self, step):
        seen.append((step, real(self, step)))
        return seen[-1][1]

    OBJECTIVES["annealed"].beta_at = spy
    try:
        fit(ModelConfig(objective="annealed", hidden=(16,)), TrainConfig(epochs=1, batch_size=64, eval_subset=0,
                                                                        beta=2.0, anneal_warmup=0.5),
            train_split=mnist_small, test_split=mnist_test)
    finally:
        OBJECTIVES["annealed"].beta_at = real
    steps = [s for s, _ in seen]
    assert steps == list(range(8))  # 512 images, batch 64
    assert [w for _, w in seen] == pytest.approx([2.0 * min(1, s / 4) for s in range(8)])

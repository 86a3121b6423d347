"""The priors against independent computations: N(0, I) against torch.distributions, the VampPrior
against a direct mixture log-mean-exp of the encoder's posteriors, the mixture of Gaussians against
torch's MixtureSameFamily; sampling; and every consumer (objectives, evaluation, samples) using the
model's own prior."""
import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from vae_core import PRIORS, ModelConfig, TrainConfig, build_model, load_bundle, make_objective, prior_samples, \
    save_bundle
from vae_core.analysis.evaluate import iw_log_likelihood, neg_elbo, quadrature_log_likelihood


def _model(prior, **kw):
    torch.manual_seed(0)
    return build_model(ModelConfig(hidden=(32,), latent_dim=2, prior=prior, **kw)).eval()


def test_the_registry():
    assert set(PRIORS) == {"standard", "vamp", "mog"}
    assert _model("standard").prior.__class__.__name__ == "StandardNormal"
    assert not list(_model("standard").prior.parameters())  # old models' state dicts are unchanged


def test_standard_normal_log_prob_sample_and_closed_form_kl():
    prior = _model("standard").prior
    z = torch.randn(5, 7, 2, dtype=torch.float64)
    torch.testing.assert_close(prior.log_prob(z), D.Normal(0.0, 1.0).log_prob(z).sum(-1))
    s = prior.sample(100_000, generator=torch.Generator().manual_seed(0))
    assert s.shape == (100_000, 2)
    torch.testing.assert_close(s.mean(0), torch.zeros(2), atol=0.02, rtol=0)
    torch.testing.assert_close(s.var(0), torch.ones(2), atol=0.02, rtol=0)
    mu, logvar = torch.tensor([[0.3, -1.0]]), torch.tensor([[-0.5, 0.2]])
    closed = prior.kl(mu, logvar, None)
    ref = D.kl_divergence(D.Normal(mu, torch.exp(0.5 * logvar)), D.Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(closed, ref)


def test_vamp_log_prob_is_the_mixture_of_the_encoders_posteriors():
    model = _model("vamp", prior_components=7)
    prior = model.prior
    z = torch.randn(11, 2, dtype=torch.float64) * 2
    seen = []  # what the prior's own call to the encoder gave: the reference below mixes those very numbers

    def encode(x):
        seen.append((x, model.encode(x)))
        return seen[-1][1]

    prior.bind(encode)
    with torch.no_grad():
        got = prior.log_prob(z)
        [(inputs, (mu, logvar))] = seen  # q(z | u_k)
        pseudo = torch.sigmoid(prior.pseudo_inputs)  # (K, 1, 28, 28)
        again = model.encode(pseudo)
    # The encoder saw the pseudo-images, and gave what a second float32 encode gives (that one may differ
    # in the last bits: another SIMD path or thread split orders the sums otherwise; ~1e-7 relative).
    torch.testing.assert_close(inputs, pseudo, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(mu, again.mu, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logvar, again.logvar, rtol=1e-5, atol=1e-6)
    # log (1/K) Σ_k N(z; mu_k, diag σ²_k), written out one component at a time in float64
    per_k = torch.stack([D.Normal(mu[k].double(), torch.exp(0.5 * logvar[k].double())).log_prob(z).sum(-1)
                         for k in range(7)])  # (K, N)
    expected = torch.logsumexp(per_k, 0) - math.log(7)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    assert got.shape == (11,)
    assert prior.log_prob(z.float().view(1, 11, 2)).shape == (1, 11)  # (..., D) -> (...)


def test_vamp_samples_come_from_the_mixture():
    model = _model("vamp", prior_components=3)
    with torch.no_grad():
        mu, logvar = model.encode(torch.sigmoid(model.prior.pseudo_inputs))
        s = model.prior.sample(60_000, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(s.mean(0), mu.mean(0), atol=0.03, rtol=0)
    second = (mu ** 2 + logvar.exp()).mean(0)  # E[z²] of the equal-weight mixture
    torch.testing.assert_close((s ** 2).mean(0), second, atol=0.05, rtol=0.02)
    a = model.prior.sample(5, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, model.prior.sample(5, generator=torch.Generator().manual_seed(2)))


def test_mog_log_prob_matches_torch_and_samples_follow_the_weights():
    model = _model("mog", prior_components=4)
    prior = model.prior
    with torch.no_grad():
        prior.weight_logits.copy_(torch.tensor([0.0, 1.0, -1.0, 2.0]))
        prior.logvars.uniform_(-1.0, 0.5)
    z = torch.randn(9, 2)
    ref = D.MixtureSameFamily(D.Categorical(logits=prior.weight_logits.detach()),
                              D.Independent(D.Normal(prior.means.detach(), torch.exp(0.5 * prior.logvars.detach())), 1))
    torch.testing.assert_close(prior.log_prob(z).detach(), ref.log_prob(z), rtol=1e-5, atol=1e-5)
    s = prior.sample(80_000, generator=torch.Generator().manual_seed(0)).detach()
    torch.testing.assert_close(s.mean(0), ref.mean, atol=0.03, rtol=0)


def test_sampling_is_differentiable_in_the_learned_priors_parameters():
    for prior in ("vamp", "mog"):
        model = _model(prior, prior_components=5)
        model.train()
        model.prior.sample(16).sum().backward()
        grads = [p.grad for p in model.prior.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), prior


def test_a_one_component_mog_at_the_origin_is_n01_everywhere_it_is_used(mnist_test):
    """Swap N(0, I) for a mixture that equals it: every consumer of the prior gives the same numbers
    (quadrature, importance weights, the ELBO with its Monte Carlo KL), so each really asks the model's prior."""
    from vae_core.data import fixed_binarization

    std = _model("standard")
    mog = _model("mog", prior_components=1)
    mog.load_state_dict({**std.state_dict(), "prior.means": torch.zeros(1, 2), "prior.logvars": torch.zeros(1, 2),
                         "prior.weight_logits": torch.zeros(1)})
    x = fixed_binarization(mnist_test.images[:20], seed=0)
    np.testing.assert_allclose(quadrature_log_likelihood(mog, x, grid=60, limit=6.0),
                               quadrature_log_likelihood(std, x, grid=60, limit=6.0), rtol=1e-6)
    np.testing.assert_allclose(iw_log_likelihood(mog, x, k=50), iw_log_likelihood(std, x, k=50), rtol=1e-5)
    a, b = neg_elbo(mog, x, samples=400), neg_elbo(std, x, samples=400)
    assert a["recon"] == pytest.approx(b["recon"], rel=1e-6)
    assert a["kl"] == pytest.approx(b["kl"], abs=0.1)  # Monte Carlo vs closed form
    torch.manual_seed(0)
    loss_mog = make_objective("standard", TrainConfig(samples=200))(mog, x)
    torch.manual_seed(0)
    loss_std = make_objective("standard", TrainConfig(samples=200))(std, x)
    assert loss_mog.kl.item() == pytest.approx(loss_std.kl.item(), abs=0.1)
    np.testing.assert_array_equal(prior_samples(std, 4, seed=1).shape, prior_samples(mog, 4, seed=1).shape)


def test_quadrature_widens_to_hold_a_learned_prior():
    from vae_core.analysis.evaluate import quadrature_limit

    model = _model("mog", prior_components=2)
    with torch.no_grad():
        model.prior.means.copy_(torch.tensor([[9.0, 0.0], [-2.0, 1.0]]))
    assert quadrature_limit(model) >= 12
    assert quadrature_limit(_model("standard")) == 6.0


@pytest.mark.parametrize("prior", ["vamp", "mog"])
def test_a_learned_prior_round_trips_through_a_model_folder(tmp_path, prior):
    model = _model(prior, prior_components=6)
    with torch.no_grad():
        for p in model.prior.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    path = save_bundle(tmp_path / "m", model, TrainConfig())
    loaded = load_bundle(path).model
    z = torch.randn(8, 2)
    with torch.no_grad():
        torch.testing.assert_close(loaded.prior.log_prob(z), model.prior.log_prob(z))
    for k, v in model.state_dict().items():  # the stored bytes come back exactly
        assert torch.equal(loaded.state_dict()[k], v), k
    # Samples are decoded afresh by each model: a float32 re-run (the VampPrior encodes its pseudo-inputs
    # too), which another SIMD path or thread split may move by ~1e-7 in a pixel's probability.
    np.testing.assert_allclose(prior_samples(loaded, 6, seed=3), prior_samples(model, 6, seed=3), rtol=0, atol=1e-5)
    assert any(k.startswith("prior.") for k in loaded.state_dict())

"""The standard VAE's negative ELBO with a β weight on the KL (β = 1: Kingma & Welling 2013;
β ≠ 1: Higgins et al. 2017)."""
from __future__ import annotations


from ..densities import log_normal, reparameterize
from .base import LossParts, Objective, repeat_batch


class StandardVAE(Objective):
    """−E_q log p(x|z) + β·KL(q(z|x) || p(z)), L = `samples` draws per input.

    estimator 'analytic': the KL in closed form where the prior has one (N(0, I): Kingma & Welling
    eq. 10), else the Monte Carlo estimate over the same draws; 'mc': always
    −E_q [log p(z) − log q(z|x)] by Monte Carlo (the TF CVAE example).
    """

    name, title = "standard", "VAE"

    def beta_at(self, step: int) -> float:
        return self.cfg.beta

    def loss(self, model, x, step=0):
        samples = self.cfg.samples
        mu, logvar = model.encode(x)
        z = reparameterize(mu, logvar, samples=samples)  # (L, B, D)
        logits = model.decode(z.flatten(0, 1))
        log_px_z = model.likelihood.log_prob(logits, repeat_batch(x, samples)).view(samples, -1)  # (L, B)
        recon = -log_px_z.mean()
        if self.cfg.estimator == "mc":
            kl = (log_normal(z, mu, logvar) - model.prior.log_prob(z)).mean()
        else:
            kl = model.prior.kl(mu, logvar, z).mean()
        return LossParts(recon + self.beta_at(step) * kl, recon, kl=kl)

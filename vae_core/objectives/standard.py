"""The standard VAE's negative ELBO with a β weight on the KL (β = 1: Kingma & Welling 2013;
β ≠ 1: Higgins et al. 2017)."""
from __future__ import annotations

from ..model.densities import log_normal, reparameterize
from ..errors import ConfigError
from ..registry import Option
from .base import KL_PART, LossParts, Objective, repeat_batch

BETA = Option("beta", 1.0, "weight β of the KL term (for annealed: the weight it climbs to)", strict=False,
              label="β: weight of the KL term", main=True)
SAMPLES = Option("samples", 1, "latent samples per input: L for the ELBO, K for the IWAE bound", max=10000,
                 label="Samples per input (L, or K for IWAE)", main=True)
ESTIMATOR = Option("estimator", "analytic", "KL estimator: analytic (closed form for the N(0, I) prior; learned "
                   "priors have none and use Monte Carlo) or mc (always Monte Carlo)", choices=("analytic", "mc"),
                   legacy=("iwae",))  # format-1 models trained with the IWAE bound under objective "standard"


class StandardVAE(Objective):
    """−E_q log p(x|z) + β·KL(q(z|x) || p(z)), L = `samples` draws per input.

    estimator 'analytic': the KL in closed form where the prior has one (N(0, I): Kingma & Welling
    eq. 10), else the Monte Carlo estimate over the same draws; 'mc': always
    −E_q [log p(z) − log q(z|x)] by Monte Carlo (the TF CVAE example).
    """

    name, title = "standard", "standard VAE"
    help = "ELBO with a β weight"
    options = (BETA, SAMPLES, ESTIMATOR)
    reports = {**Objective.reports, **KL_PART}

    @classmethod
    def check(cls, model_cfg, train_cfg) -> None:
        if train_cfg.estimator in ESTIMATOR.legacy:
            raise ConfigError("estimator 'iwae' is now the objective 'iwae' (the importance-weighted bound, K = "
                              "samples): use objective iwae (--objective iwae --samples K)")

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

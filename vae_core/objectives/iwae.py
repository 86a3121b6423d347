"""The importance-weighted bound of Burda et al. (2015)."""
from __future__ import annotations

import math

import torch

from ..model.densities import log_normal, reparameterize
from .base import KL_PART, LossParts, Objective, repeat_batch
from .standard import SAMPLES


def log_weights(model, x: torch.Tensor, samples: int) -> torch.Tensor:
    """log w = log p(x|z) + log p(z) − log q(z|x) for `samples` draws z ~ q(z|x): (samples, B)."""
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar, samples=samples)  # (K, B, D)
    logits = model.decode(z.flatten(0, 1))
    log_px_z = model.likelihood.log_prob(logits, repeat_batch(x, samples)).view(samples, -1)
    return log_px_z + model.prior.log_prob(z) - log_normal(z, mu, logvar)


class IWAE(Objective):
    """−log (1/K) Σ_k w_k with K = `samples` (K = 1 is the ELBO). The parts report the plain
    Monte Carlo reconstruction and KL over the same K draws."""

    name, title = "iwae", "IWAE bound"
    help = "importance-weighted bound, K = samples"
    options = (SAMPLES,)
    reports = {**Objective.reports, **KL_PART}

    def loss(self, model, x, step=0):
        k = self.cfg.samples
        mu, logvar = model.encode(x)
        z = reparameterize(mu, logvar, samples=k)  # (K, B, D)
        logits = model.decode(z.flatten(0, 1))
        log_px_z = model.likelihood.log_prob(logits, repeat_batch(x, k)).view(k, -1)  # (K, B)
        log_pz_minus_qz = model.prior.log_prob(z) - log_normal(z, mu, logvar)  # (K, B)
        bound = torch.logsumexp(log_px_z + log_pz_minus_qz, 0) - math.log(k)  # (B,)
        return LossParts(-bound.mean(), -log_px_z.mean(), kl=-log_pz_minus_qz.mean())

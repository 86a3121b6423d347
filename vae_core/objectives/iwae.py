"""The importance-weighted bound of Burda et al. (2015)."""
from __future__ import annotations

import math

from ..lazy import torch
from ..model.densities import log_normal, reparameterize
from .base import KL_PART, LossParts, Objective, repeat_batch
from .standard import SAMPLES


def weight_terms(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                 z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The importance weight's two terms for draws z (S, B, D) of q(z|x) = N(mu, exp(logvar)):
    (log p(x|z), log p(z) − log q(z|x)), (S, B) each; log w is their sum. The one place the weight is
    written: the IWAE bound, `log_weights` and the evaluation's importance-weighted NLL use it."""
    samples = z.shape[0]
    logits = model.decode(z.flatten(0, 1))
    log_px_z = model.likelihood.log_prob(logits, repeat_batch(x, samples)).view(samples, -1)
    return log_px_z, model.prior.log_prob(z) - log_normal(z, mu, logvar)


def log_weights(model, x: torch.Tensor, samples: int) -> torch.Tensor:
    """log w = log p(x|z) + log p(z) − log q(z|x) for `samples` draws z ~ q(z|x): (samples, B)."""
    mu, logvar = model.encode(x)
    log_px_z, log_pz_minus_qz = weight_terms(model, x, mu, logvar, reparameterize(mu, logvar, samples=samples))
    return log_px_z + log_pz_minus_qz


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
        log_px_z, log_pz_minus_qz = weight_terms(model, x, mu, logvar, reparameterize(mu, logvar, samples=k))
        bound = torch.logsumexp(log_px_z + log_pz_minus_qz, 0) - math.log(k)  # (B,)
        return LossParts(-bound.mean(), -log_px_z.mean(), kl=-log_pz_minus_qz.mean())

"""p(z): the prior as an object the model owns, registered by name.

Every member has
- `log_prob(z)`: log p(z) for z of shape (..., D) -> (...);
- `sample(n, generator=None)`: n draws (n, D), reparameterised where the prior has parameters;
- `kl(mu, logvar, z)`: KL(q(z|x) || p(z)) per example (B,): in closed form where there is one
  (N(0, I)), else the Monte Carlo estimate mean_s [log q(z_s|x) − log p(z_s)] over the draws
  z (S, B, D) the caller already made.

A new prior is one file here (a subclass of `Prior` declaring its name, title, help and the
options it brings) and one line in `PRIORS` (docs/extending.md). Members:
- `standard`: N(0, I), no parameters (every model saved before priors existed has it);
- `vamp`: the VampPrior (Tomczak & Welling 2018), p(z) = 1/K Σ_k q(z | u_k), a mixture of the
  encoder's own posteriors at K learned pseudo-inputs u_k (stored as logits; the images are
  sigmoid(u_k)). Needs the encoder, so it holds a reference to the model's `encode`;
- `mog`: a learned mixture of K diagonal Gaussians with learned weights.
"""
from __future__ import annotations

from ...registry import Registry
from .base import COMPONENTS, Prior
from .mog import MixturePrior
from .standard import StandardNormal
from .vamp import VampPrior

PRIORS = Registry("priors", "prior", [
    StandardNormal,
    VampPrior,
    MixturePrior,
])


def build_prior(cfg) -> Prior:
    """The prior a ModelConfig names, built from that config (its own options included)."""
    return PRIORS[cfg.prior](cfg)


__all__ = ["PRIORS", "Prior", "build_prior", "StandardNormal", "VampPrior", "MixturePrior", "COMPONENTS"]

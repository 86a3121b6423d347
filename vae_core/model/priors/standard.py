"""N(0, I): no parameters, a KL in closed form (Kingma & Welling 2013, eq. 10); every model saved
before priors existed has it."""
from __future__ import annotations

from ..densities import gaussian_kl, log_standard_normal
from ...lazy import torch
from .base import Prior


class StandardNormal(Prior):
    name, title = "standard", "N(0, I)"
    help = "the standard normal"

    def log_prob(self, z):
        return log_standard_normal(z)

    def sample(self, n, generator=None, *, device=None):
        if device is None:
            device = generator.device if generator is not None else torch.device("cpu")
        return torch.randn(n, self.latent_dim, generator=generator, device=device)

    def kl(self, mu, logvar, z=None):
        return gaussian_kl(mu, logvar)  # closed form: no draws needed

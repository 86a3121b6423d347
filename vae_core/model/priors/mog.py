"""A learned mixture of K diagonal Gaussians with learned weights."""
from __future__ import annotations

from ...lazy import nn, torch
from .base import COMPONENTS, Prior, _mixture_log_prob, _mixture_sample


class MixturePrior(Prior):
    name, title = "mog", "mixture of Gaussians"
    help = "a learned mixture of Gaussians"
    options = (COMPONENTS,)

    def __init__(self, cfg):
        super().__init__(cfg)
        k, d = cfg.prior_components, cfg.latent_dim
        self.means = nn.Parameter(torch.randn(k, d))  # (K, D)
        self.logvars = nn.Parameter(torch.zeros(k, d))  # (K, D)
        self.weight_logits = nn.Parameter(torch.zeros(k))  # (K,)

    def log_prob(self, z):
        dt = z.dtype
        return _mixture_log_prob(z, self.means.to(dt), self.logvars.to(dt), self.weight_logits.log_softmax(0).to(dt))

    def sample(self, n, generator=None, *, device=None):
        z = _mixture_sample(n, self.means, self.logvars, self.weight_logits, generator)
        return z if device is None else z.to(device)

"""The VampPrior (Tomczak & Welling 2018): p(z) = 1/K Σ_k q(z | u_k), a mixture of the encoder's own
posteriors at K learned pseudo-inputs u_k (stored as logits; the images are sigmoid(u_k)). It needs
the encoder, so it holds a reference to the model's `encode`."""
from __future__ import annotations

import math
from typing import Callable

from ...lazy import nn, torch
from .base import COMPONENTS, Prior, _mixture_log_prob, _mixture_sample


class VampPrior(Prior):
    name, title, needs_stochastic_encoder = "vamp", "VampPrior", True
    help = "a mixture of the encoder's posteriors at learned pseudo-inputs"
    options = (COMPONENTS,)

    def __init__(self, cfg):
        super().__init__(cfg)
        # Pseudo-inputs as logits: sigmoid keeps the images in (0, 1) like the data.
        self.pseudo_inputs = nn.Parameter(torch.randn(cfg.prior_components, *cfg.image_shape) * 0.5)  # (K, C, H, W)
        self.register_buffer("initialized", torch.zeros(()))  # 1 once started from training images
        self._encode: Callable | None = None

    def bind(self, encode):
        object.__setattr__(self, "_encode", encode)  # a plain reference: the encoder's weights stay the model's

    def init_from_data(self, x):
        """Start the pseudo-inputs at K training images (softened away from 0 and 1), once: a model
        that continues training keeps its learned pseudo-inputs."""
        if self.initialized.item():
            return
        k = self.pseudo_inputs.shape[0]
        idx = torch.arange(k, device=x.device) % len(x)
        with torch.no_grad():
            p = 0.05 + 0.9 * x[idx].to(self.pseudo_inputs.dtype)
            self.pseudo_inputs.copy_(torch.log(p) - torch.log1p(-p))
            self.initialized.fill_(1.0)

    def components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z | u_k) for every pseudo-input: (K, D) each."""
        if self._encode is None:
            raise RuntimeError("VampPrior is not bound to an encoder")
        mu, logvar = self._encode(torch.sigmoid(self.pseudo_inputs))
        return mu, logvar

    def log_prob(self, z):
        mu, logvar = self.components()
        k = mu.shape[0]
        log_w = torch.full((k,), -math.log(k), device=mu.device, dtype=z.dtype)
        return _mixture_log_prob(z, mu.to(z.dtype), logvar.to(z.dtype), log_w)

    def sample(self, n, generator=None, *, device=None):
        mu, logvar = self.components()
        k = mu.shape[0]
        z = _mixture_sample(n, mu, logvar, torch.zeros(k, device=mu.device), generator)
        return z if device is None else z.to(device)

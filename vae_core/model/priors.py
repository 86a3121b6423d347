"""p(z): the prior as an object the model owns, registered by name.

Every member has
- `log_prob(z)`: log p(z) for z of shape (..., D) -> (...);
- `sample(n, generator=None)`: n draws (n, D), reparameterised where the prior has parameters;
- `kl(mu, logvar, z)`: KL(q(z|x) || p(z)) per example (B,): in closed form where there is one
  (N(0, I)), else the Monte Carlo estimate mean_s [log q(z_s|x) − log p(z_s)] over the draws
  z (S, B, D) the caller already made.

Members:
- `standard`: N(0, I), no parameters (every model saved before priors existed has it);
- `vamp`: the VampPrior (Tomczak & Welling 2018), p(z) = 1/K Σ_k q(z | u_k), a mixture of the
  encoder's own posteriors at K learned pseudo-inputs u_k (stored as logits; the images are
  sigmoid(u_k)). Needs the encoder, so it holds a reference to the model's `encode`;
- `mog`: a learned mixture of K diagonal Gaussians with learned weights.
"""
from __future__ import annotations

import math
from typing import Callable, ClassVar

import torch
from torch import nn

from .densities import gaussian_kl, log_normal, log_standard_normal
from ..registry import Member, Option, Registry

COMPONENTS = Option("prior_components", 100, "K, the number of pseudo-inputs (vamp) or mixture components (mog)",
                    section="model", max=10000, label="Prior components K", main=True)


class Prior(Member, nn.Module):
    """Base of the registry's members: built from the model's config (`cfg.latent_dim`,
    `cfg.image_shape` and the prior's own options), owned by the model."""

    needs_stochastic_encoder: ClassVar[bool] = False

    def __init__(self, cfg):
        super().__init__()
        self.latent_dim = cfg.latent_dim

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None, *,
               device: torch.device | str | None = None) -> torch.Tensor:
        """n draws (n, D) on `device` (default: where the prior's parameters are, else the generator's)."""
        raise NotImplementedError

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Monte Carlo KL over the draws z (S, B, D): (B,)."""
        return (log_normal(z, mu, logvar) - self.log_prob(z)).mean(0)

    def bind(self, encode: Callable) -> None:
        """Priors that depend on the encoder (VampPrior) get the model's `encode` here."""

    def init_from_data(self, x: torch.Tensor) -> None:
        """Called by every training run with training inputs (B, C, H, W) before the first step; a
        prior that starts from data does so once; most priors ignore it."""


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


def _mixture_log_prob(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor,
                      log_weights: torch.Tensor) -> torch.Tensor:
    """log Σ_k w_k N(z; m_k, v_k) for z (..., D), means/logvars (K, D), log_weights (K,) -> (...)."""
    per_component = log_normal(z.unsqueeze(-2), means, logvars)  # (..., K)
    return torch.logsumexp(per_component + log_weights, dim=-1)


def _mixture_sample(n: int, means: torch.Tensor, logvars: torch.Tensor, log_weights: torch.Tensor,
                    generator: torch.Generator | None) -> torch.Tensor:
    g_device = generator.device if generator is not None else means.device
    probs = log_weights.detach().softmax(0).to(g_device)
    k = torch.multinomial(probs, n, replacement=True, generator=generator).to(means.device)
    eps = torch.randn(n, means.shape[1], generator=generator, device=g_device).to(means.device, means.dtype)
    return means[k] + torch.exp(0.5 * logvars[k]) * eps


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


PRIORS = Registry("priors", "prior", [
    StandardNormal,
    VampPrior,
    MixturePrior,
])


def build_prior(cfg) -> Prior:
    """The prior a ModelConfig names, built from that config (its own options included)."""
    return PRIORS[cfg.prior](cfg)

"""The contract every prior keeps (`Prior`), the option the mixtures share, and the mixture's density
and sampler (the VampPrior and the mixture of Gaussians both are mixtures)."""
from __future__ import annotations

from typing import Callable, ClassVar

from ..densities import log_normal
from ...lazy import BuiltAsModule, torch
from ...registry import Member, Option

COMPONENTS = Option("prior_components", 100, "K, the number of pseudo-inputs (vamp) or mixture components (mog)",
                    section="model", max=10000, label="Prior components K", main=True)


class Prior(Member, BuiltAsModule):
    """Base of the registry's members: built from the model's config (`cfg.latent_dim`,
    `cfg.image_shape` and the prior's own options), owned by the model; a `torch.nn.Module` once built."""

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

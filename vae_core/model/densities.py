"""Diagonal Gaussians: the one sampler (`reparameterize`), their log densities and the closed-form KL.

Everything that draws z ~ q(z|x) — the objectives, the evaluation, the priors — calls
`reparameterize`; everything that scores a Gaussian calls `log_normal`.
"""
from __future__ import annotations

import math

from ..lazy import torch

from ..shards import global_rows

LOG_2PI = math.log(2 * math.pi)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, *, samples: int | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I) (Kingma & Welling 2013, section 2.4): the draw stays
    differentiable in (mu, logvar).

    mu, logvar: (B, D). `samples=None` gives one draw per row, (B, D); `samples=S` gives
    (S, B, D). `generator` seeds eps (evaluation); without it the global RNG is used. eps is drawn
    on the generator's device and moved to mu's: a CPU generator gives the same draws for a model
    on the GPU as on the CPU, so evaluations agree across devices up to float error.
    In a training step under torchrun, eps is drawn for the global batch and this rank's rows are
    taken (`vae_core.shards.global_rows`), so every image gets the eps it gets in one process.
    """
    rows = global_rows(mu.shape[0]) if generator is None else None
    if rows is None:
        shape = mu.shape if samples is None else (samples, *mu.shape)
        where = generator.device if generator is not None else mu.device
        eps = torch.randn(shape, generator=generator, device=where, dtype=mu.dtype).to(mu.device)
    else:
        total, offset = rows
        shape = (total, *mu.shape[1:]) if samples is None else (samples, total, *mu.shape[1:])
        eps = torch.randn(shape, device=mu.device, dtype=mu.dtype).narrow(0 if samples is None else 1, offset,
                                                                          mu.shape[0])
    return mu + torch.exp(0.5 * logvar) * eps


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) = ½ Σ (mu² + exp(logvar) − 1 − logvar), Appendix B of
    Kingma & Welling (2013). Per example: (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)

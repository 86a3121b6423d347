"""Losses as pure functions: each returns its named parts, averaged over the batch.

Per-example quantities are summed over pixels and latent dimensions (nats per
image); a mean over pixels would weigh the prior 784x too heavily and every
decoded image would become the same blob.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .config import TrainConfig
from .densities import gaussian_kl, log_normal, log_standard_normal, reparameterize
from .models import VAE


class LossParts(NamedTuple):
    total: torch.Tensor  # scalar that training minimises
    recon: torch.Tensor  # scalar: −E log p(x|z), nats per image
    kl: torch.Tensor | None = None  # scalar: KL(q(z|x) || p(z)) (standard VAE)
    mmd: torch.Tensor | None = None  # scalar: MMD²(codes, prior samples) (MMD-VAE)

    def as_floats(self) -> dict[str, float]:
        return {name: float(value.detach()) for name, value in self._asdict().items() if value is not None}


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) = sum_i x_i log s(l_i) + (1 − x_i) log(1 − s(l_i)), per example: (B,)."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """k(x, y) = exp(−mean_i (x_i − y_i)² / d) = exp(−‖x − y‖² / d²), as in the InfoVAE
    authors' code. a: (N, D), b: (M, D) -> (N, M)."""
    d = a.shape[1]
    sq = torch.cdist(a, b).pow(2)  # (N, M)
    return torch.exp(-sq / (d * d))


def mmd(a: torch.Tensor, b: torch.Tensor, *, unbiased: bool = False) -> torch.Tensor:
    """MMD²(a, b) = E k(a, a') + E k(b, b') − 2 E k(a, b).

    The default is the biased (V-statistic) estimator of the InfoVAE code: it keeps
    the diagonal terms, is ≥ 0 and exactly 0 for identical samples. `unbiased=True`
    drops the diagonals (the U-statistic): zero mean under equal distributions, can
    be slightly negative.
    """
    k_aa, k_bb, k_ab = gaussian_kernel(a, a), gaussian_kernel(b, b), gaussian_kernel(a, b)
    if not unbiased:
        return k_aa.mean() + k_bb.mean() - 2 * k_ab.mean()
    n, m = a.shape[0], b.shape[0]
    term_aa = (k_aa.sum() - k_aa.diagonal().sum()) / (n * (n - 1))
    term_bb = (k_bb.sum() - k_bb.diagonal().sum()) / (m * (m - 1))
    return term_aa + term_bb - 2 * k_ab.mean()


def log_weights(model: VAE, x: torch.Tensor, samples: int) -> torch.Tensor:
    """log p(x|z) + log p(z) − log q(z|x) for `samples` draws z ~ q(z|x): (samples, B)."""
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar, samples=samples)  # (S, B, D)
    logits = model.decode(z.flatten(0, 1))  # (S*B, 1, 28, 28)
    x_rep = x.expand(samples, *x.shape).flatten(0, 1)
    log_px_z = bernoulli_log_likelihood(logits, x_rep).view(samples, -1)
    return log_px_z + log_standard_normal(z) - log_normal(z, mu, logvar)


def standard_vae_loss(model: VAE, x: torch.Tensor, *, beta: float = 1.0, samples: int = 1,
                      estimator: str = "analytic") -> LossParts:
    """Negative ELBO of the standard VAE, with L = `samples` draws per input.

    analytic: −E_q log p(x|z) + β·KL(q || p), the KL in closed form (Kingma & Welling eq. 10).
    mc:       −E_q [log p(x|z) + log p(z) − log q(z|x)], all Monte Carlo (the TF CVAE example).
    iwae:     −log (1/K) Σ_k w_k, the importance-weighted bound of Burda et al. (2015), K = samples.
    """
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar, samples=samples)  # (L, B, D)
    logits = model.decode(z.flatten(0, 1))
    x_rep = x.expand(samples, *x.shape).flatten(0, 1)
    log_px_z = bernoulli_log_likelihood(logits, x_rep).view(samples, -1)  # (L, B)
    recon = -log_px_z.mean()
    if estimator == "analytic":
        kl = gaussian_kl(mu, logvar).mean()
        return LossParts(recon + beta * kl, recon, kl=kl)
    log_pz_minus_qz = log_standard_normal(z) - log_normal(z, mu, logvar)  # (L, B)
    kl = -log_pz_minus_qz.mean()  # Monte Carlo KL estimate
    if estimator == "mc":
        return LossParts(recon + beta * kl, recon, kl=kl)
    if estimator == "iwae":
        log_w = log_px_z + log_pz_minus_qz
        bound = torch.logsumexp(log_w, 0) - math.log(samples)
        return LossParts(-bound.mean(), recon, kl=kl)
    raise ValueError(f"unknown estimator {estimator!r}")


def mmd_vae_loss(model: VAE, x: torch.Tensor, *, lam: float = 1000.0, recon: str = "bce",
                 prior_samples: int = 200) -> LossParts:
    """InfoVAE's MMD-VAE: reconstruction of the deterministic code + λ·MMD²(prior samples, codes).

    recon 'bce' is −log p(x|z) summed over pixels (λ ≈ 1000 matches its scale); 'mse' is
    Σ_i (sigmoid(l_i) − x_i)² per image.
    """
    z = model.encode(x).mu
    logits = model.decode(z)
    if recon == "bce":
        rec = -bernoulli_log_likelihood(logits, x).mean()
    elif recon == "mse":
        rec = (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1).mean()
    else:
        raise ValueError(f"unknown reconstruction {recon!r}")
    prior = torch.randn(prior_samples, z.shape[1], device=z.device, dtype=z.dtype)
    divergence = mmd(prior, z)
    return LossParts(rec + lam * divergence, rec, mmd=divergence)


def loss(model: VAE, x: torch.Tensor, cfg: TrainConfig) -> LossParts:
    """The one entry training uses: picks the objective the model was built for."""
    if model.config.objective == "standard":
        return standard_vae_loss(model, x, beta=cfg.beta, samples=cfg.samples, estimator=cfg.estimator)
    return mmd_vae_loss(model, x, lam=cfg.mmd_lambda, recon=cfg.mmd_recon, prior_samples=cfg.mmd_prior_samples)

"""InfoVAE's MMD-VAE (Zhao, Song & Ermon 2017): a deterministic code, its reconstruction, and
λ·MMD² between the codes and draws from the prior."""
from __future__ import annotations

from ..lazy import torch
from ..shards import gather_rows
from ..registry import Option
from .base import LossParts, Objective


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


class MMDVAE(Objective):
    """reconstruction + λ·MMD²(prior draws, codes).

    mmd_recon 'nll' is −log p(x|z) under the model's likelihood, summed over pixels (λ ≈ 1000
    matches its scale on MNIST); 'mse' is Σ_i (E[x_i|z] − x_i)² per image.

    Under torchrun the MMD² is computed on the codes of the whole global batch, gathered from all
    ranks with an all_gather that carries the gradient (`vae_core.shards.gather_rows`), not
    per rank: the same term, and the same gradient, as one process on that batch.
    """

    name, title, stochastic_encoder = "mmd", "MMD-VAE", False
    help = "InfoVAE, deterministic encoder"
    options = (
        Option("mmd_lambda", 1000.0, "MMD weight λ (1000 matches a likelihood summed over 784 pixels)", strict=False,
               label="λ: weight of the MMD term", main=True),
        Option("mmd_recon", "nll", "reconstruction term: nll (−log p(x|z) of the likelihood) or mse",
               choices=("nll", "mse"), legacy={"bce": "nll"}),  # format 1's name for "nll"
        Option("mmd_prior_samples", 200, "prior draws per step for the MMD term", max=100000),
    )
    reports = {**Objective.reports, "mmd": "MMD² to the prior"}

    def loss(self, model, x, step=0):
        z = model.encode(x).mu
        logits = model.decode(z)
        if self.cfg.mmd_recon == "mse":
            rec = (model.mean_image(logits) - x).pow(2).flatten(1).sum(1).mean()
        else:
            rec = -model.likelihood.log_prob(logits, x).mean()
        prior = model.prior.sample(self.cfg.mmd_prior_samples, device=z.device).to(z.dtype)
        divergence = mmd(prior, gather_rows(z))  # the global batch's codes under torchrun
        return LossParts(rec + self.cfg.mmd_lambda * divergence, rec, mmd=divergence)

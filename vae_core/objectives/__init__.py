"""Objectives as a registry with one contract: `make_objective(...)` then `loss(model, x, step)`.

A new objective is one file here (a subclass of `Objective`) and one line in `OBJECTIVES`.
Members: `standard` (β-VAE), `mmd` (InfoVAE's MMD-VAE), `iwae` (the importance-weighted bound),
`annealed` (β-VAE with a linear or cyclical KL warm-up).
"""
from __future__ import annotations

from ..densities import gaussian_kl, log_normal, log_standard_normal
from .annealed import AnnealedVAE, kl_weight
from .base import LossParts, Objective
from .iwae import IWAE, log_weights
from .mmd import MMDVAE, gaussian_kernel, mmd
from .standard import StandardVAE

OBJECTIVES: dict[str, type[Objective]] = {
    StandardVAE.name: StandardVAE,
    MMDVAE.name: MMDVAE,
    IWAE.name: IWAE,
    AnnealedVAE.name: AnnealedVAE,
}


def make_objective(name: str, cfg, *, total_steps: int = 1) -> Objective:
    """The objective `name` (a ModelConfig's `objective`) for a run of `total_steps` steps."""
    return OBJECTIVES[name](cfg, total_steps=total_steps)


__all__ = ["OBJECTIVES", "Objective", "LossParts", "make_objective", "StandardVAE", "MMDVAE", "IWAE", "AnnealedVAE",
           "kl_weight", "log_weights", "gaussian_kernel", "mmd", "gaussian_kl", "log_normal", "log_standard_normal"]

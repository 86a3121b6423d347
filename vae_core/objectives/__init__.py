"""Objectives as a registry with one contract: `make_objective(...)` then `loss(model, x, step)`.

A new objective is one file here (a subclass of `Objective` declaring its name, title, help, the
options it brings and the parts it reports) and one line in `OBJECTIVES` (docs/extending.md).
Members: `standard` (β-VAE), `mmd` (InfoVAE's MMD-VAE), `iwae` (the importance-weighted bound),
`annealed` (β-VAE with a linear or cyclical KL warm-up).
"""
from __future__ import annotations

from ..model.densities import gaussian_kl, log_normal, log_standard_normal
from ..registry import Registry
from .annealed import AnnealedVAE, kl_weight
from .base import LossParts, Objective
from .iwae import IWAE, log_weights
from .mmd import MMDVAE, gaussian_kernel, mmd
from .standard import StandardVAE

OBJECTIVES = Registry("objectives", "objective", [
    StandardVAE,
    MMDVAE,
    IWAE,
    AnnealedVAE,
])


def make_objective(name: str, cfg, *, total_steps: int = 1) -> Objective:
    """The objective `name` (a ModelConfig's `objective`) for a run of `total_steps` steps."""
    return OBJECTIVES[name](cfg, total_steps=total_steps)


__all__ = ["OBJECTIVES", "Objective", "LossParts", "make_objective", "StandardVAE", "MMDVAE", "IWAE", "AnnealedVAE",
           "kl_weight", "log_weights", "gaussian_kernel", "mmd", "gaussian_kl", "log_normal", "log_standard_normal"]

"""The contract every objective keeps, and the pieces they share.

An objective is built once per run from the training config (and the run's length, so a schedule
can depend on the step) and is then called as `loss(model, x, step) -> LossParts`. Per-example
quantities are summed over pixels and latent dimensions (nats per image) and averaged over the
batch: a mean over pixels would weigh the prior hundreds of times too heavily and every decoded
image would become the same blob.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NamedTuple

import torch

if TYPE_CHECKING:
    from ..config import TrainConfig
    from ..models import VAE


class LossParts(NamedTuple):
    total: torch.Tensor  # scalar that training minimises
    recon: torch.Tensor  # scalar: −E log p(x|z), nats per image
    kl: torch.Tensor | None = None  # scalar: KL(q(z|x) || p(z)) (or its Monte Carlo estimate)
    mmd: torch.Tensor | None = None  # scalar: MMD²(codes, prior samples) (MMD-VAE)

    def as_floats(self) -> dict[str, float]:
        return {name: float(value.detach()) for name, value in self._asdict().items() if value is not None}


class Objective:
    """Base of the registry's members: `name` is the config value, `title` what people read."""

    name: ClassVar[str]
    title: ClassVar[str]
    stochastic_encoder: ClassVar[bool] = True  # False: the encoder returns a code, not a distribution

    def __init__(self, cfg: "TrainConfig", *, total_steps: int = 1):
        self.cfg = cfg
        self.total_steps = max(int(total_steps), 1)

    def loss(self, model: "VAE", x: torch.Tensor, step: int = 0) -> LossParts:
        raise NotImplementedError

    def __call__(self, model: "VAE", x: torch.Tensor, step: int = 0) -> LossParts:
        return self.loss(model, x, step)


def repeat_batch(x: torch.Tensor, samples: int) -> torch.Tensor:
    """(B, ...) -> (S*B, ...), sample-major, to score S decodes of each input."""
    return x.expand(samples, *x.shape).flatten(0, 1)

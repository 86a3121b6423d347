"""The contract every objective keeps, and the pieces they share.

An objective is built once per run from the training config (and the run's length, so a schedule
can depend on the step) and is then called as `loss(model, x, step) -> LossParts`. Per-example
quantities are summed over pixels and latent dimensions (nats per image) and averaged over the
batch: a mean over pixels would weigh the prior hundreds of times too heavily and every decoded
image would become the same blob.
"""
from __future__ import annotations

from typing import ClassVar

from ..lazy import torch
from ..registry import Member



class LossParts:
    """What a loss returns: `total` (what training minimises) and the parts the objective reports,
    by name (nats per image, averaged over the batch): `recon` (−E log p(x|z)) and, as the objective
    has them, `kl`, `mmd` or parts of its own (named in its `reports`). `parts.kl` reads a part;
    `parts.get("kl")` is None for a part this objective does not report."""

    __slots__ = ("total", "parts")

    def __init__(self, total: torch.Tensor, recon: torch.Tensor | None = None, **parts: torch.Tensor | None):
        self.total = total
        self.parts = {name: value for name, value in {"recon": recon, **parts}.items() if value is not None}

    def __getattr__(self, name: str) -> torch.Tensor:
        try:
            return self.parts[name]
        except KeyError:
            raise AttributeError(f"this loss reports no part {name!r} (it has {', '.join(self.parts)})") from None

    def get(self, name: str) -> torch.Tensor | None:
        return self.parts.get(name)

    def named(self) -> dict[str, torch.Tensor]:
        """{"total": …, then each part}: the order the history and the loss curve use."""
        return {"total": self.total, **self.parts}

    def as_floats(self) -> dict[str, float]:
        return {name: float(value.detach()) for name, value in self.named().items()}


class Objective(Member):
    """Base of the registry's members. Besides `name`, `title`, `help` and `options` (the settings it
    brings, `vae_core.registry.Option`), an objective says what its loss `reports` (each part's name
    and the words for it: the loss curve's legend) and whether its encoder is stochastic."""

    stochastic_encoder: ClassVar[bool] = True  # False: the encoder returns a code, not a distribution
    step_dependent: ClassVar[bool] = False  # the loss changes with the step (a schedule): never a captured graph
    reports: ClassVar[dict[str, str]] = {"recon": "reconstruction −log p(x|z)"}

    @classmethod
    def check(cls, model_cfg, train_cfg) -> None:
        """Refuse (ConfigError) settings this objective cannot train with; called before a run starts."""

    def __init__(self, cfg, *, total_steps: int = 1):
        self.cfg = cfg
        self.total_steps = max(int(total_steps), 1)

    def loss(self, model, x: torch.Tensor, step: int = 0) -> LossParts:
        raise NotImplementedError

    def __call__(self, model, x: torch.Tensor, step: int = 0) -> LossParts:
        return self.loss(model, x, step)


KL_PART = {"kl": "KL(q(z|x) ‖ p(z))"}


def repeat_batch(x: torch.Tensor, samples: int) -> torch.Tensor:
    """(B, ...) -> (S*B, ...), sample-major, to score S decodes of each input."""
    return x.expand(samples, *x.shape).flatten(0, 1)

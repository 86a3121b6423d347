"""β-VAE with KL annealing: the KL weight climbs from 0 to β, once (a linear warm-up, Bowman et
al. 2016) or in cycles (Fu et al. 2019, "Cyclical Annealing Schedule")."""
from __future__ import annotations

from ..registry import Option
from .standard import StandardVAE


def kl_weight(step: int, total_steps: int, *, beta: float, schedule: str, warmup: float = 0.25,
              cycles: int = 4, ratio: float = 0.5) -> float:
    """The KL weight at `step` of `total_steps`.

    linear:   β · min(1, step / (warmup · T)).
    cyclical: T is cut into `cycles` periods; within each, τ = (step mod period) / period and the
              weight is β · min(1, τ / ratio): it rises linearly over the first `ratio` of the
              period and stays at β for the rest (Fu et al. 2019, eq. 5 with f linear).
    """
    total_steps = max(int(total_steps), 1)
    if schedule == "linear":
        ramp = max(warmup * total_steps, 1.0)
        return beta * min(1.0, step / ramp)
    if schedule == "cyclical":
        period = total_steps / cycles
        tau = (step % period) / period
        return beta * min(1.0, tau / ratio)
    raise ValueError(f"unknown annealing schedule {schedule!r}")


class AnnealedVAE(StandardVAE):
    name, title = "annealed", "β-VAE, KL annealing"
    help = "β-VAE with a KL warm-up"
    step_dependent = True  # the KL weight follows the step
    options = StandardVAE.options + (
        Option("anneal_schedule", "linear", "KL weight schedule: linear warm-up, or cyclical (Fu et al. 2019)",
               choices=("linear", "cyclical"), main=True),
        Option("anneal_warmup", 0.25, "linear: share of the run over which the KL weight climbs from 0 to β", max=1.0,
               main=True),
        Option("anneal_cycles", 4, "cyclical: number of cycles M over the run", max=1000, main=True),
        Option("anneal_ratio", 0.5, "cyclical: share R of each cycle spent climbing (the rest at β)", max=1.0,
               main=True),
    )

    def beta_at(self, step: int) -> float:
        c = self.cfg
        return kl_weight(step, self.total_steps, beta=c.beta, schedule=c.anneal_schedule, warmup=c.anneal_warmup,
                         cycles=c.anneal_cycles, ratio=c.anneal_ratio)

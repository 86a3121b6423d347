"""p(x|z): what the decoder's output means. One class per likelihood, registered by name.

The decoder always returns one real number per pixel ("logits", (B, C, H, W)). A likelihood
turns them into
- `log_prob(logits, x)`: log p(x|z) summed over pixels, per image (B,), nats;
- `mean(logits)`: the mean image E[x|z] in [0, 1], the one image shown to the user (the page,
  the browser decoder export and the geometry module all call this, nothing else);
- `log_prob_pairs(x, logits)`: log p(x_n|z_g) for every image n and every latent point g, as a
  matrix product where the likelihood allows it (the quadrature log-likelihood for d = 2);
- `browser_mean`: the op that computes `mean` in the browser (vae_core.store.export writes it into the
  decoder's spec, explorer/latent_map/decoder.js's OUTPUT_OPS runs it);
- `logits_for_mean(m)`: the inverse of `mean`, where a fresh decoder's output bias starts
  (`VAE.init_output_bias`: at the training images' mean).

Members:
- `bernoulli`: binarised images (dynamic binarisation in training, one fixed draw for evaluation),
  as in Kingma & Welling and the shipped models;
- `cbernoulli`: the continuous Bernoulli (Loaiza-Ganem & Cunningham 2019), the normalised
  Bernoulli-like density on [0, 1] for grey or colour intensities. Its density at exactly 0 grows
  without bound as the logit falls (log p(0 | l) ≈ log|l|), and a dark mean needs a logit of about
  −1/mean: on images with a black background, training spends itself on driving the background's
  logits down (measured on 1,500 32×32 shapes: −90 to −190 after 15 epochs, the codes pushed out
  to |z| ≈ 18, KL 280 nats) and every class reconstructs in one grey;
- `gaussian`: N(x; sigmoid(logits), σ²) with one learned σ per pixel (floored at 0.01). On the
  same shapes it reconstructed one grey too (KL 0.5 nats after 10 epochs: the codes unused); with
  the decoder started at the data's mean and 1,000 steps, pale versions of the classes' colours.

Datasets default to `bernoulli`, your own included (vae_core.data.own): on those shapes it is the
member whose reconstructions take their class's colour.
"""
from __future__ import annotations

import math
from typing import ClassVar

from ..lazy import BuiltAsModule, F, nn, torch
from .densities import LOG_2PI

# Below this |logit| the continuous Bernoulli's normaliser and mean use their Taylor series:
# the closed forms are 0/0 at logit 0 (λ = 0.5).
CB_TAYLOR_BELOW = 1e-2
CB_MEAN_SERIES_BELOW = 1.0
MEAN_INIT_MIN = 1e-2  # logits_for_mean's clamp: a starting bias of at most |logit(0.01)| = 4.6 (Bernoulli)


def _logit(mean: torch.Tensor) -> torch.Tensor:
    m = mean.clamp(MEAN_INIT_MIN, 1 - MEAN_INIT_MIN)
    return torch.log(m) - torch.log1p(-m)


def cb_log_normalizer(logits: torch.Tensor) -> torch.Tensor:
    """log C(λ) of the continuous Bernoulli, elementwise, with λ = sigmoid(logits).

    C(λ) = 2 artanh(1 − 2λ) / (1 − 2λ) (Loaiza-Ganem & Cunningham 2019, eq. 7). With
    1 − 2λ = −tanh(l/2) and artanh(1 − 2λ) = −l/2 this is C = l / tanh(l/2), and
    log C = log|l| − log(1 − e^−|l|) + log(1 + e^−|l|), accurate for all |l| > 0 through expm1
    and log1p. Near l = 0 (λ = 0.5, where C = 2) the Taylor series log 2 + l²/12 − 7l⁴/1440
    is used; the inputs of the other branch are kept away from 0 so no NaN gradient leaks.
    """
    a = logits.abs()
    small = a < CB_TAYLOR_BELOW
    safe = torch.where(small, torch.full_like(a, 1.0), a)
    exact = torch.log(safe) - torch.log(-torch.expm1(-safe)) + torch.log1p(torch.exp(-safe))
    l2 = logits * logits
    taylor = math.log(2.0) + l2 / 12.0 - 7.0 * l2 * l2 / 1440.0
    return torch.where(small, taylor, exact)


def cb_mean(logits: torch.Tensor) -> torch.Tensor:
    """E[x] of the continuous Bernoulli: λ/(2λ − 1) + 1/(2 artanh(1 − 2λ)) = −1/expm1(−l) − 1/l.

    The two terms are each about 1/l and cancel as l -> 0, so for |l| < 1 the series
    1/2 + l/12 − l³/720 + l⁵/30240 − l⁷/1209600 + l⁹/47900160 (Bernoulli numbers) is used instead
    (truncation error < 1e-9 there).
    """
    small = logits.abs() < CB_MEAN_SERIES_BELOW
    safe = torch.where(small, torch.ones_like(logits), logits)
    exact = -1.0 / torch.expm1(-safe) - 1.0 / safe
    l2 = logits * logits
    series = 0.5 + logits * (1.0 / 12 + l2 * (-1.0 / 720 + l2 * (1.0 / 30240 + l2 * (-1.0 / 1209600
                                                                                    + l2 / 47900160))))
    return torch.where(small, series, exact)


class Likelihood(BuiltAsModule):
    """The interface every member implements (see the module docstring); a `torch.nn.Module` once built."""

    name: ClassVar[str]
    title: ClassVar[str]
    binarized: ClassVar[bool] = False  # inputs are Bernoulli draws of the intensities, not the intensities
    browser_mean: ClassVar[dict]  # `mean` as decoder.js's output op: {"op": name, **its parameters}

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        self.shape = tuple(shape)

    def log_prob(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def log_prob_pairs(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """x: (N, P) flattened images, logits: (G, P) flattened decodes -> (N, G)."""
        raise NotImplementedError

    def logits_for_mean(self, mean: torch.Tensor) -> torch.Tensor:
        """The logits whose `mean` is `mean`, clamped into [MEAN_INIT_MIN, 1 − MEAN_INIT_MIN] (so
        an always-black pixel starts at a finite logit)."""
        raise NotImplementedError


class Bernoulli(Likelihood):
    name, title, binarized = "bernoulli", "Bernoulli (binarised pixels)", True
    browser_mean: ClassVar[dict] = {"op": "sigmoid"}

    def log_prob(self, logits, x):
        """log p(x|z) = Σ_i x_i log s(l_i) + (1 − x_i) log(1 − s(l_i)), per example: (B,)."""
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)

    def mean(self, logits):
        return torch.sigmoid(logits)

    def log_prob_pairs(self, x, logits):
        # Σ_i x_i l_i − softplus(l_i): one matrix product for all pairs.
        return x @ logits.T - F.softplus(logits).sum(1)

    def logits_for_mean(self, mean):
        return _logit(mean)


class ContinuousBernoulli(Likelihood):
    name, title = "cbernoulli", "continuous Bernoulli (intensities in [0, 1])"
    browser_mean: ClassVar[dict] = {"op": "cbernoulli_mean", "series_below": CB_MEAN_SERIES_BELOW}

    def log_prob(self, logits, x):
        """log p(x|λ) = x log λ + (1 − x) log(1 − λ) + log C(λ), summed over pixels: (B,)."""
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        return (cb_log_normalizer(logits) - bce).flatten(1).sum(1)

    def mean(self, logits):
        return cb_mean(logits)

    def log_prob_pairs(self, x, logits):
        return x @ logits.T - (F.softplus(logits) - cb_log_normalizer(logits)).sum(1)

    def logits_for_mean(self, mean):
        """cb_mean inverted by bisection in float64 (it rises with the logit; the clamped means lie
        between cb_mean(∓100) ≈ 0.01 and 0.99, inside the bracket ±200)."""
        target = mean.double().clamp(MEAN_INIT_MIN, 1 - MEAN_INIT_MIN)
        lo, hi = torch.full_like(target, -200.0), torch.full_like(target, 200.0)
        for _ in range(60):  # 400 / 2^60: exact in float32
            mid = (lo + hi) / 2
            below = cb_mean(mid) < target
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        return ((lo + hi) / 2).to(mean.dtype)


class Gaussian(Likelihood):
    """N(x; m, σ²) per pixel with m = sigmoid(logits) and one learned σ per pixel, σ ≥ 0.01
    (a smooth floor: without one, a pixel that is constant in the data drives σ to 0 and the
    density to infinity)."""

    name, title = "gaussian", "Gaussian with learned variance"
    browser_mean: ClassVar[dict] = {"op": "sigmoid"}  # the mean is sigmoid(logits); σ does not move it
    LOG_SCALE_MIN = math.log(0.01)

    def __init__(self, shape):
        super().__init__(shape)
        self.raw_log_scale = nn.Parameter(torch.zeros(self.shape))  # (C, H, W)

    def log_scale(self) -> torch.Tensor:
        return self.LOG_SCALE_MIN + F.softplus(self.raw_log_scale - self.LOG_SCALE_MIN)

    def log_prob(self, logits, x):
        log_s = self.log_scale()
        m = torch.sigmoid(logits)
        per_pixel = -0.5 * (LOG_2PI + 2 * log_s + (x - m).pow(2) * torch.exp(-2 * log_s))
        return per_pixel.flatten(1).sum(1)

    def mean(self, logits):
        return torch.sigmoid(logits)

    def log_prob_pairs(self, x, logits):
        # −½ Σ_p [log 2π + 2 log σ_p + (x_p − m_p)²/σ_p²], expanded into a matrix product; in float64,
        # since the expanded terms are large when σ is small.
        log_s = self.log_scale().flatten().double()
        inv_var = torch.exp(-2 * log_s)  # (P,)
        x, m = x.double(), torch.sigmoid(logits.double())
        const = (LOG_2PI + 2 * log_s).sum()
        quad = (x.pow(2) * inv_var).sum(1)[:, None] - 2 * x @ (m * inv_var).T + (m.pow(2) * inv_var).sum(1)[None, :]
        return -0.5 * (const + quad)

    def logits_for_mean(self, mean):
        return _logit(mean)


LIKELIHOODS: dict[str, type[Likelihood]] = {cls.name: cls for cls in (Bernoulli, ContinuousBernoulli, Gaussian)}


def build_likelihood(name: str, shape: tuple[int, int, int]) -> Likelihood:
    return LIKELIHOODS[name](shape)

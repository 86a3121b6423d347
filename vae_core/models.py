"""Encoders, decoders and the VAE module: encode -> reparameterize -> decode.

One builder per architecture serves both objectives: the standard VAE's encoder
returns (mu, logvar) of q(z|x) = N(mu, diag(exp(logvar))); the MMD-VAE's encoder
is deterministic and returns its code as `mu` with `logvar = None`. The decoder
always returns Bernoulli logits of p(x|z), so both compare on one likelihood scale.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .config import ModelConfig
from .densities import reparameterize

PIXELS = 28 * 28

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "leaky_relu": nn.LeakyReLU}


class Posterior(NamedTuple):
    mu: torch.Tensor  # (B, D)
    logvar: torch.Tensor | None  # (B, D); None for a deterministic encoder


class VAEOutput(NamedTuple):
    logits: torch.Tensor  # (B, 1, 28, 28)
    mu: torch.Tensor  # (B, D)
    logvar: torch.Tensor | None
    z: torch.Tensor  # (B, D)


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig, out_dim: int):
        super().__init__()
        self.net = _mlp([PIXELS, *cfg.hidden, out_dim], cfg.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))  # (B, out_dim)


class MLPDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.net = _mlp([cfg.latent_dim, *reversed(cfg.hidden), PIXELS], cfg.activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, 28, 28)


class ConvEncoder(nn.Module):
    """The Keras/TensorFlow CVAE encoder: conv 32 s2 -> conv 64 s2 -> dense."""

    def __init__(self, cfg: ModelConfig, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),  # (B, 64, 7, 7)
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """Dense 7*7*32 -> deconv 64 s2 -> deconv 32 s2 -> deconv 1 (logits)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(cfg.latent_dim, 7 * 7 * 32), nn.ReLU(),
            nn.Unflatten(1, (32, 7, 7)),
            nn.ConvTranspose2d(32, 64, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # 14x14
            nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # 28x28
            nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1),  # (B, 1, 28, 28)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class VAE(nn.Module):
    """p(x|z) p(z) with an encoder q(z|x) (standard) or a deterministic code (MMD-VAE)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        out_dim = 2 * cfg.latent_dim if cfg.stochastic_encoder else cfg.latent_dim
        if cfg.arch == "mlp":
            self.encoder, self.decoder = MLPEncoder(cfg, out_dim), MLPDecoder(cfg)
        else:
            self.encoder, self.decoder = ConvEncoder(cfg, out_dim), ConvDecoder(cfg)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, x: torch.Tensor) -> Posterior:
        h = self.encoder(x)
        if not self.config.stochastic_encoder:
            return Posterior(h, None)
        mu, logvar = h.chunk(2, dim=1)
        return Posterior(mu, logvar)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I) (`vae_core.densities.reparameterize`, the one sampler)."""
        return reparameterize(mu, logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p(x|z), (B, 1, 28, 28)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> VAEOutput:
        mu, logvar = self.encode(x)
        z = mu if logvar is None else reparameterize(mu, logvar)
        return VAEOutput(self.decode(z), mu, logvar, z)


def build_model(cfg: ModelConfig, device: torch.device | str = "cpu") -> VAE:
    model = VAE(cfg).to(device)
    if cfg.arch == "conv" and torch.device(device).type == "cpu":
        model = model.to(memory_format=torch.channels_last)  # measured 35 s vs 50 s per epoch on CPU
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

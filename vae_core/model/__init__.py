"""The model: networks sized by the dataset (`networks`: encode → reparameterize → decode), what p(x|z)
means (`likelihoods`, one registry), p(z) (`priors`, one registry) and the Gaussian densities they
share (`densities`)."""
import importlib

__all__ = ["VAE", "build_model"]


def __getattr__(name: str):
    """`vae_core.model.VAE` imports the networks (and torch) when first read, so that reading a registry
    (`vae_core.model.priors`) does not (vae_core.lazy)."""
    if name in __all__:
        return getattr(importlib.import_module(".networks", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

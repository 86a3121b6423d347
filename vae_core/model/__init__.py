"""The model: networks sized by the dataset (`networks`: encode → reparameterize → decode), what p(x|z)
means (`likelihoods`, one registry), p(z) (`priors`, one registry) and the Gaussian densities they
share (`densities`)."""
from .networks import VAE, build_model

__all__ = ["VAE", "build_model"]

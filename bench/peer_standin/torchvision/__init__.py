"""A stand-in for the three pieces of torchvision that pytorch/examples' VAE imports (see ../README.md)."""
from . import datasets, transforms, utils

__all__ = ["datasets", "transforms", "utils"]

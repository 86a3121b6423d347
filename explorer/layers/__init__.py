"""The latent map's layers as a registry (`MapLayer` in base.py): the picker, the page's state, the
cache, the pictures and the downloads all list them from here. A new layer is one file here and one
line in `LAYERS` (docs/extending.md)."""
from __future__ import annotations

from vae_core.registry import Registry

from .base import MapLayer
from .classes import DecodedClasses
from .holes import Holes
from .stretch import Stretch

LAYERS = Registry("map layers", "layer", [
    DecodedClasses,
    Holes,
    Stretch,
])

__all__ = ["LAYERS", "MapLayer"]

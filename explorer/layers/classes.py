"""What it decodes to: the class a classifier sees in each decoded point, paler where it is unsure."""
from __future__ import annotations

import numpy as np

from vae_core.lazy import LazyModule

from .base import MapLayer, hex_rgb

geometry = LazyModule("vae_core.analysis.geometry")  # imports torch: on first use (vae_core.lazy)


class DecodedClasses(MapLayer):
    name, title = "classes", "what it decodes to"
    help = "What each point decodes to: the class a classifier gives the decoded image, and how sure it is."
    legend = "classifier's confidence (top class probability)"
    needs_classifier = True

    @classmethod
    def compute(cls, model, z, codes, plane, classifier):
        classes, confidence = geometry.decoded_class_layer(model, classifier, z)
        return {"values": classes, "confidence": confidence}

    @classmethod
    def scale(cls, layers):
        return None  # a class colour, paler where the classifier is less sure

    @classmethod
    def paint(cls, layer, palette, scale):
        values = np.asarray(layer["values"], np.float64)
        colours = np.array([hex_rgb(c) for c in palette])[values.astype(int) % len(palette)]
        confidence = np.asarray(layer["confidence"], np.float64)[..., None]
        return (255 * (1 - confidence) + colours * confidence, np.full(values.shape, 0.9),
                {"kind": "confidence", "lo": 1.0 / len(palette), "hi": 1.0,
                 "text": "colour: the class the decoded image is taken for; pale: unsure"})

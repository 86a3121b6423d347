"""The CVAE blog's claims about the MMD-VAE, turned into numbers.

The blog says the MMD-VAE gives sharper samples, clusters centred at (0, 0) and
spread out, smoother morphing, and a latent space where "nearly all space is
filled with meaningful objects". Each is measured here for any model:

- coverage: the share of the 20×20 quantile grid whose decoded images a small
  classifier (trained on the real training set) labels with confidence ≥ 0.9;
- sharpness: mean binary entropy of the decoded pixel probabilities of prior
  samples (lower is sharper; a crisp image has probabilities near 0 or 1), and the
  classifier's mean confidence on them;
- smoothness: mean L2 change between consecutive frames of interpolations between
  random test pairs, relative to the L2 distance of the two endpoint decodes
  (1/(k−1) is the ideal even walk), and the classifier's mean entropy along the path;
- centring and spread come from `evaluate.aggregate_posterior`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data import Inputs, Split, to_float
from .explore import decode, default_inputs, encode_means, grid_points, interpolation_path, normal_quantiles, prior_samples, \
    to_model_layout
from ..model.networks import VAE


class Classifier(nn.Module):
    """A small MLP classifier of the dataset's images: good enough to judge decoded images
    (~98 % on MNIST, ~88 % on Fashion-MNIST). The image shape and the class count come from the data."""

    def __init__(self, shape: tuple[int, int, int], n_classes: int):
        super().__init__()
        self.shape = tuple(shape)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(shape)), 512), nn.ReLU(), nn.Linear(512, 256),
                                 nn.ReLU(), nn.Linear(256, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def train_classifier(train: Split, *, epochs: int = 5, batch_size: int = 128, lr: float = 1e-3,
                     seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    model = Classifier(train.shape, len(train.classes))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x_all, y_all = to_float(train.images), train.labels
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x_all), generator=g)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            loss = nn.functional.cross_entropy(model(x_all[idx]), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.inference_mode()
def classifier_probs(clf: Classifier, images: np.ndarray) -> np.ndarray:
    """Class probabilities (N, classes) for float images in [0, 1], as `decode` returns them
    ((N, H, W) or (N, H, W, C))."""
    x = to_model_layout(np.asarray(images, np.float32), clf.shape)
    return torch.softmax(clf(x), 1).numpy()


def classifier_accuracy(clf: Classifier, split: Split) -> float:
    probs = classifier_probs(clf, to_float(split.images).numpy())
    return float((probs.argmax(1) == split.labels.numpy()).mean())


def save_classifier(clf: Classifier, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({k: v.half() for k, v in clf.state_dict().items()}, tmp)
    tmp.replace(path)


def load_classifier(path: Path, shape: tuple[int, int, int] | None = None) -> Classifier:
    """A saved classifier; its input shape is `shape`, else a square greyscale image of the first
    layer's width (28×28 for the shipped ones), its class count that of the last layer."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    n_in, n_classes = state["net.1.weight"].shape[1], state["net.5.weight"].shape[0]
    if shape is None:
        side = int(round(n_in ** 0.5))
        shape = (1, side, side)
    clf = Classifier(shape, n_classes)
    clf.load_state_dict({k: v.float() for k, v in state.items()})
    return clf.eval()


def _entropy(p: np.ndarray, axis=-1) -> np.ndarray:
    p = np.clip(p, 1e-7, 1.0)
    return -(p * np.log(p)).sum(axis)


def pixel_entropy(images: np.ndarray) -> float:
    """Mean binary entropy (nats) of decoded pixel probabilities."""
    p = np.clip(np.asarray(images, np.float64), 1e-7, 1 - 1e-7)
    return float(-(p * np.log(p) + (1 - p) * np.log(1 - p)).mean())


def grid_coverage(model: VAE, clf: Classifier, *, n: int = 20, threshold: float = 0.9) -> dict:
    """Share of the n×n Gaussian-quantile grid decoded to images the classifier is sure of."""
    axis = normal_quantiles(n)
    center = None if model.latent_dim == 2 else np.zeros(model.latent_dim, np.float32)
    probs = classifier_probs(clf, decode(model, grid_points(axis, axis, latent_dim=model.latent_dim,
                                                            center=center)))
    conf = probs.max(1)
    return {"share_confident": float((conf >= threshold).mean()), "threshold": threshold, "n": n,
            "mean_confidence": float(conf.mean()),
            "classes_present": int(len(np.unique(probs.argmax(1)[conf >= threshold])))}


def sample_sharpness(model: VAE, clf: Classifier, *, n: int = 500, seed: int = 0) -> dict:
    images = prior_samples(model, n, seed=seed)
    probs = classifier_probs(clf, images)
    return {"pixel_entropy": pixel_entropy(images), "classifier_confidence": float(probs.max(1).mean()), "n": n}


def interpolation_smoothness(model: VAE, clf: Classifier, test: Split, *, pairs: int = 200, steps: int = 10,
                             seed: int = 0, inputs: Inputs | None = None) -> dict:
    """Evenness of the walk between random test pairs: max and mean frame-to-frame step relative
    to the endpoints' distance (1/(steps−1) is perfectly even), and classifier entropy along it.
    The pairs' codes come from `inputs` (default `explore.default_inputs`)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(test), size=(pairs, 2), replace=False if 2 * pairs <= len(test) else True)
    x = (inputs or default_inputs(model)).of(test.images)
    codes = encode_means(model, x[idx.ravel()]).reshape(pairs, 2, -1)
    paths = np.concatenate([interpolation_path(c[0], c[1], steps) for c in codes])  # (pairs*steps, D)
    decoded = decode(model, paths)
    decode_shape = decoded.shape[1:]
    frames = decoded.reshape(pairs, steps, -1).astype(np.float64)
    step_sizes = np.linalg.norm(np.diff(frames, axis=1), axis=2)  # (pairs, steps−1)
    total = np.linalg.norm(frames[:, -1] - frames[:, 0], axis=1, keepdims=True)
    rel = step_sizes / np.maximum(total, 1e-6)
    probs = classifier_probs(clf, frames.reshape(-1, *decode_shape).astype(np.float32))
    return {"mean_step_relative": float(rel.mean()), "max_step_relative": float(rel.max(1).mean()),
            "ideal_step_relative": 1.0 / (steps - 1), "mean_path_length_relative": float(rel.sum(1).mean()),
            "classifier_entropy_along_path": float(_entropy(probs).mean()), "pairs": pairs, "steps": steps}


def measure_claims(model: VAE, clf: Classifier, test: Split, *, seed: int = 0, inputs: Inputs | None = None) -> dict:
    return {"grid_coverage": grid_coverage(model, clf), "sample_sharpness": sample_sharpness(model, clf, seed=seed),
            "interpolation": interpolation_smoothness(model, clf, test, seed=seed, inputs=inputs)}

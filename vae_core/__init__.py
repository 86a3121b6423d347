"""vae_core: standard and MMD variational autoencoders on MNIST and Fashion-MNIST.

The page and the CLI use only the names below; each module has one job
(see README.md for the map).
"""
from ._version import __version__
from .checkpoints import (
    Bundle,
    ModelEntry,
    PRETRAINED_DIR,
    list_models,
    load_bundle,
    models_dir,
    save_bundle,
    tag_path,
    validate_tag,
)
from .config import ModelConfig, TrainConfig
from .data import DATASETS, Split, dataset_info, load_split, resolve_data_dir
from .errors import CheckpointError, ConfigError, DatasetError, VaeCoreError
from .evaluate import evaluate_model, iw_log_likelihood, knn_accuracy, neg_elbo, quadrature_log_likelihood
from .explore import (
    decode,
    encode_means,
    interpolate,
    interpolation_path,
    manifold_grid,
    pca_2d,
    png_bytes,
    prior_samples,
    reconstruct,
    tile,
)
from .models import VAE, build_model
from .objectives import LossParts, gaussian_kl, mmd, mmd_vae_loss, standard_vae_loss
from .runtime import describe_device, pick_device
from .train import CANCELLED, COMPLETED, DIVERGED, Progress, TrainResult, train

__all__ = [
    "__version__", "VaeCoreError", "Bundle", "CheckpointError", "ModelEntry", "PRETRAINED_DIR", "list_models",
    "load_bundle", "models_dir", "save_bundle", "tag_path", "validate_tag", "ConfigError", "ModelConfig", "TrainConfig",
    "DATASETS", "DatasetError", "Split", "dataset_info", "load_split", "resolve_data_dir", "evaluate_model",
    "iw_log_likelihood", "knn_accuracy", "neg_elbo", "quadrature_log_likelihood", "decode", "encode_means",
    "interpolate", "interpolation_path", "manifold_grid", "pca_2d", "png_bytes", "prior_samples", "reconstruct",
    "tile", "VAE", "build_model", "LossParts", "gaussian_kl", "mmd", "mmd_vae_loss", "standard_vae_loss",
    "describe_device", "pick_device", "CANCELLED", "COMPLETED", "DIVERGED", "Progress", "TrainResult", "train",
]

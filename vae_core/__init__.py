"""vae_core: variational autoencoders on MNIST, Fashion-MNIST and your own images.

The page and the CLI use the names below. The package by job, each floor importing only those below it:
`errors`, `registry`, `shards` (nothing of the package) → `data` (datasets, splits, inputs) → `model`
(networks, likelihoods, priors, densities) and `objectives` → `config` (settings, built from the
members) → `analysis` (explore, evaluate, geometry, claims, formation) → `store` (model folders, the
browser's export) → `training` (the run and its loop, torchrun, resume, runs, the page's jobs) → `cli`.
"""
from ._version import __version__
from .store.folders import (
    Bundle,
    ModelEntry,
    PRETRAINED_DIR,
    shipped_names,
    list_models,
    load_bundle,
    models_dir,
    save_bundle,
    tag_path,
    validate_tag,
)
from .config import ModelConfig, Setting, TrainConfig, check_compatible, default_epochs, run_inputs, settings
from .data import DATASETS, Dataset, Inputs, Split, dataset_title, load_split, resolve_data_dir, resolve_dataset
from .model.densities import reparameterize
from .errors import CheckpointError, ConfigError, DatasetError, VaeCoreError
from .analysis.evaluate import evaluate_model, iw_log_likelihood, knn_accuracy, neg_elbo, quadrature_log_likelihood
from .analysis.explore import (
    decode,
    encode_means,
    interpolate,
    interpolation_path,
    manifold_grid,
    latent_plane,
    plane_points,
    png_bytes,
    prior_samples,
    reconstruct,
    tile,
)
from .store.export import DecoderExport, UnsupportedDecoderError, decoder_export, export_to_folder
from .analysis.geometry import (
    GeometryError,
    active_units,
    aggregate_log_density,
    curve_length,
    decoded_class_layer,
    elbo_surgery,
    elbo_surgery_from_posteriors,
    encode_posteriors,
    geodesic,
    hole_layer,
    hole_prior_samples,
    hole_share,
    lattice,
    log_magnification,
    magnification,
    mmd_to_prior,
    posterior_ellipse,
    scott_bandwidth,
    stretch_layer,
    unit_activity,
)
from .model.likelihoods import LIKELIHOODS, Likelihood
from .model.networks import VAE, build_model
from .objectives import OBJECTIVES, LossParts, Objective, gaussian_kl, make_objective, mmd
from .model.priors import PRIORS, Prior
from .training.resume import ResumeState, clear_resume, read_resume, resumable_runs, resume_file
from .training.runs import SHIPPED_EVALUATION, finish_run
from .training.runtime import describe_device, pick_device
from .training.loop import CANCELLED, COMPLETED, DIVERGED, Progress, TrainResult, fit

__all__ = [
    "__version__", "VaeCoreError", "ConfigError", "DatasetError", "CheckpointError",
    "Bundle", "ModelEntry", "PRETRAINED_DIR", "shipped_names", "list_models", "load_bundle", "models_dir", "save_bundle", "tag_path",
    "validate_tag", "ModelConfig", "TrainConfig", "Setting", "settings", "check_compatible", "default_epochs",
    "run_inputs", "DATASETS", "Dataset", "Inputs", "Split", "dataset_title", "load_split", "resolve_data_dir",
    "resolve_dataset", "reparameterize", "evaluate_model", "iw_log_likelihood", "knn_accuracy", "neg_elbo",
    "quadrature_log_likelihood", "decode", "encode_means", "interpolate", "interpolation_path", "manifold_grid",
    "latent_plane", "plane_points", "png_bytes", "prior_samples", "reconstruct", "tile", "DecoderExport",
    "UnsupportedDecoderError", "decoder_export", "export_to_folder", "LIKELIHOODS", "Likelihood", "VAE",
    "build_model", "OBJECTIVES", "LossParts", "Objective", "gaussian_kl", "make_objective", "mmd", "PRIORS", "Prior",
    "SHIPPED_EVALUATION", "finish_run", "describe_device", "pick_device", "CANCELLED", "COMPLETED", "DIVERGED",
    "Progress", "TrainResult", "fit", "ResumeState", "clear_resume", "read_resume", "resumable_runs", "resume_file",
    "GeometryError", "active_units", "aggregate_log_density", "curve_length", "decoded_class_layer", "elbo_surgery",
    "elbo_surgery_from_posteriors", "encode_posteriors", "geodesic", "hole_layer", "hole_prior_samples", "hole_share",
    "lattice", "log_magnification", "magnification", "mmd_to_prior", "posterior_ellipse", "scott_bandwidth",
    "stretch_layer", "unit_activity",
]

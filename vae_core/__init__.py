"""vae_core: variational autoencoders on MNIST, Fashion-MNIST and your own images.

The page and the CLI use the names below. The package by job, each floor importing only those below it:
`errors`, `registry`, `shards` (nothing of the package) → `data` (datasets, splits, inputs) → `model`
(networks, likelihoods, priors, densities) and `objectives` → `config` (settings, built from the
members) → `analysis` (explore, evaluate, geometry, claims, formation) → `store` (model folders, the
browser's export) → `training` (the run and its loop, torchrun, resume, runs, the page's jobs) → `cli`.

Every name below is imported from its module when it is first read (`vc.decode`, `from vae_core import
ModelConfig`), so `import vae_core` costs nothing and a caller that reads only what model folders and the
registries declare never imports torch (vae_core.lazy: the page's first view).
"""
import importlib

from ._version import __version__

_MODULES = {
    ".store.folders": (
        "Bundle", "ModelEntry", "PRETRAINED_DIR", "shipped_names", "list_models", "load_bundle", "read_bundle",
        "models_dir", "save_bundle", "tag_path", "validate_tag",
    ),
    ".config": (
        "ModelConfig", "Setting", "TrainConfig", "check_compatible", "default_epochs", "run_inputs",
        "settings",
    ),
    ".data": (
        "DATASETS", "Dataset", "Inputs", "Split", "dataset_title", "load_arrays", "load_split", "resolve_data_dir",
        "resolve_dataset",
    ),
    ".model.densities": ("reparameterize",),
    ".errors": ("CheckpointError", "ConfigError", "DatasetError", "VaeCoreError"),
    ".analysis.evaluate": (
        "evaluate_model", "iw_log_likelihood", "knn_accuracy", "neg_elbo", "quadrature_log_likelihood",
    ),
    ".analysis.explore": (
        "decode", "encode_means", "interpolate", "manifold_grid", "prior_samples", "reconstruct",
    ),
    ".analysis.plane": ("interpolation_path", "latent_plane", "plane_points"),
    ".analysis.pictures": ("png_bytes", "tile"),
    ".store.export": ("DecoderExport", "UnsupportedDecoderError", "decoder_export", "export_to_folder"),
    ".analysis.geometry": (
        "GeometryError", "active_units", "aggregate_log_density", "curve_length", "decoded_class_layer",
        "elbo_surgery", "elbo_surgery_from_posteriors", "encode_posteriors", "geodesic", "hole_layer",
        "hole_prior_samples", "hole_share", "lattice", "log_magnification", "magnification", "mmd_to_prior",
        "posterior_ellipse", "scott_bandwidth", "stretch_layer", "unit_activity",
    ),
    ".model.likelihoods": ("LIKELIHOODS", "Likelihood"),
    ".model.networks": ("VAE", "build_model"),
    ".objectives": ("OBJECTIVES", "LossParts", "Objective", "gaussian_kl", "make_objective", "mmd"),
    ".model.priors": ("PRIORS", "Prior"),
    ".training.resume": ("ResumeState", "clear_resume", "read_resume", "resumable_runs", "resume_file"),
    ".training.runs": ("SHIPPED_EVALUATION", "finish_run"),
    ".training.runtime": ("describe_device", "pick_device"),
    ".training.loop": ("CANCELLED", "COMPLETED", "DIVERGED", "Progress", "TrainResult", "fit"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}
__all__ = ["__version__", *_WHERE]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value  # read once: later reads are a module attribute's
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

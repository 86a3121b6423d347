"""A model is a folder: config.json, weights.pt, metrics.json, optionally latents.npz.

Written atomically: the whole folder is built under a temporary name beside the
target and renamed into place, so a crash mid-save leaves the old bundle whole. The
one moment the target is absent (old folder moved aside, new one not yet in) is
repaired by the next reader or writer: a `.<name>.old-<pid>-*` folder whose process
is gone is put back. Temporary folders of dead processes are swept on the next save;
`list_models` never lists dot-folders.
Loaded safely: `torch.load(weights_only=True)` (no pickled code runs), strict
shape checks against the config, and one `CheckpointError` naming the file.

config.json records the dataset the model was trained on (name, title, shape, classes and a
fingerprint of its content), so a caller can check a model against the data it is about to show
(`Bundle.check_dataset`, `ModelEntry.fits`). Format 1 (the first shipped models) has no such
block: its dataset is a built-in one, named in the train config.
"""
from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._version import __version__
from ..config import ConfigError, ModelConfig, TrainConfig, run_inputs
from ..data import DATASETS, Dataset, Inputs, dataset_title
from ..errors import CheckpointError, VaeCoreError
from ..analysis.formation import FORMATION_FILE
from ..lazy import torch
from ..objectives import OBJECTIVES

if TYPE_CHECKING:
    from ..model.networks import VAE

FORMAT_VERSION = 2  # 2: the "data" block, image_shape, likelihood and prior in the model config
CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE, LATENTS_FILE = "config.json", "weights.pt", "metrics.json", "latents.npz"
ENV_MODELS_DIR = "VAE_MODELS_DIR"
PRETRAINED_DIR = Path(__file__).resolve().parents[2] / "pretrained"  # beside the package: vae_core/store/ -> repo


def shipped_names(dataset: str) -> tuple[str, ...]:
    """The shipped models of a built-in dataset, in the page's order (side A, side B): its standard VAE
    and its MMD-VAE, pretrained/<dataset>-vae and -mmd. Your own data ships none."""
    return (f"{dataset}-vae", f"{dataset}-mmd") if dataset in DATASETS else ()
TAG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class Bundle:
    """A model folder read: its network (None when read without it: `read_bundle`) and everything saved
    beside it."""

    model: VAE | None
    model_config: ModelConfig
    train_config: TrainConfig
    path: Path
    metrics: dict = field(default_factory=dict)
    latents: dict | None = None  # {"mu": (N, D) float32, "labels": (N,) int64[, "logvar": (N, D) float32]}
    library_version: str = ""
    data: dict | None = None  # the dataset it was trained on: name, title, shape, classes, fingerprint
    recorded_inputs: Inputs | None = None  # config.json's "inputs": what latents.npz was encoded from

    @property
    def inputs(self) -> Inputs:
        """What this model's codes and figures are computed from (`vae_core.data.Inputs`)."""
        return self.recorded_inputs or run_inputs(self.model_config, self.train_config)

    @property
    def latents_follow_inputs(self) -> bool:
        """False for a folder saved before the inputs were recorded: its latents.npz came from the
        intensities whatever the model was trained on, so a caller with the data encodes again."""
        return self.recorded_inputs is not None

    @property
    def dataset(self) -> str:
        return self.train_config.dataset

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def fingerprint(self) -> str | None:
        return _fingerprint(self.data, self.dataset)

    def dataset_mismatch(self, dataset: Dataset) -> str | None:
        """None when the model was trained on `dataset` (same content, same image shape), else why not."""
        return _mismatch(self.name, self.data, self.dataset, self.model_config.image_shape, dataset)

    def fits(self, dataset: Dataset) -> bool:
        return self.dataset_mismatch(dataset) is None

    def check_dataset(self, dataset: Dataset) -> None:
        """Raise CheckpointError unless the model was trained on `dataset`."""
        problem = self.dataset_mismatch(dataset)
        if problem:
            raise CheckpointError(problem)


def _fingerprint(data: dict | None, dataset: str) -> str | None:
    if data and data.get("fingerprint"):
        return data["fingerprint"]
    return DATASETS[dataset].fingerprint if dataset in DATASETS else None  # format 1: a built-in dataset


def _mismatch(name: str, data: dict | None, dataset_name: str, image_shape, dataset: Dataset) -> str | None:
    title = (data or {}).get("title") or dataset_title(dataset_name)
    if tuple(image_shape) != tuple(dataset.shape):
        return (f"{name} takes {'×'.join(map(str, image_shape))} images ({title}); {dataset.title} has "
                f"{'×'.join(map(str, dataset.shape))}")
    mine = _fingerprint(data, dataset_name)
    if mine != dataset.fingerprint:
        same_title = title == dataset.title
        return (f"{name} was trained on {title}, not {dataset.title}"
                + (" (the same name, but other images: the file or its split changed)" if same_title else ""))
    return None


def default_models_dir() -> Path:
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "vae_explorer" / "models"


def models_dir() -> Path:
    """Where trained models go: $VAE_MODELS_DIR, else a user data directory (never pretrained/)."""
    env = os.environ.get(ENV_MODELS_DIR)
    return Path(env).expanduser() if env else default_models_dir()


def validate_tag(tag: str) -> str:
    """A tag is a plain folder name: letters, digits, '.', '_', '-'; no separators, no '..'."""
    if not isinstance(tag, str) or not TAG_PATTERN.fullmatch(tag) or ".." in tag:  # fullmatch: "$" lets "x\n" through
        raise CheckpointError(
            f"invalid tag {tag!r}: use 1–64 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit (no '/', '\\' or '..')")
    return tag


def tag_path(tag: str, root: Path | None = None) -> Path:
    """The folder for `tag` under the user models directory; it cannot escape that directory."""
    root = (root or models_dir()).resolve()
    path = (root / validate_tag(tag)).resolve()
    if path.parent != root:
        raise CheckpointError(f"tag {tag!r} would leave the models directory {root}")
    return path


def _is_pretrained(path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(PRETRAINED_DIR)
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    """Whether a process of that id exists here (a writer that may still finish its save)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but is not ours
        return True
    return True


_OLD_FOLDER = re.compile(r"^\.(?P<name>.+)\.old-(?P<pid>\d+)-[0-9a-f]+$")
_TMP_FOLDER = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[^/]*\.tmp$")


def _leftovers(parent: Path, pattern: re.Pattern, name: str | None = None) -> list[tuple[Path, str]]:
    """Dot-folders in `parent` left by saves whose process is gone, as (folder, model name)."""
    found = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return found
    for p in entries:
        m = pattern.match(p.name)
        if m and (name is None or m["name"] == name) and not _pid_alive(int(m["pid"])):
            found.append((p, m["name"]))
    return found


def _recover(parent: Path, name: str | None = None) -> None:
    """Put back a bundle moved aside by a save that was killed before the new one was renamed in."""
    if _is_pretrained(parent / "x"):
        return  # pretrained/ is read-only at run time
    for old, model_name in sorted(_leftovers(parent, _OLD_FOLDER, name), key=lambda t: t[0].stat().st_mtime,
                                  reverse=True):
        target = parent / model_name
        if not target.exists():
            try:
                os.rename(old, target)
            except OSError:
                pass


def _sweep(parent: Path, name: str) -> None:
    """Remove what dead saves of `name` left behind (after `_recover` has put back what it could)."""
    for p, _ in _leftovers(parent, _TMP_FOLDER, name) + _leftovers(parent, _OLD_FOLDER, name):
        if (parent / name).exists():
            shutil.rmtree(p, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _clean_floats(value):
    """NaN and infinity are not JSON: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_floats(v) for v in value]
    return value


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(_clean_floats(data), indent=2, default=_json_default) + "\n")


def save_bundle(path: Path, model: VAE, train_config: TrainConfig, *, metrics: dict | None = None,
                latents: dict | None = None, half: bool = False, allow_pretrained: bool = False,
                overwrite: bool = True, data: Dataset | dict | None = None, run: dict | None = None,
                inputs: Inputs | None = None, formation: dict | None = None) -> Path:
    """Write a model folder atomically and return its path.

    `half=True` stores the weights as float16 (they load back as float32).
    Writing into pretrained/ needs `allow_pretrained=True` (only the release script does).
    `overwrite=False` never replaces a folder that exists, even one that appears while this
    save writes (the final rename fails instead): raises CheckpointError, the other folder untouched.
    `data` is the dataset record (or its `describe()`) the model was trained on; without it the
    train config's dataset is described when it is a built-in one. `run` says how it was trained
    ({"world_size": N, "backend": ...}: torchrun's group) and goes into config.json as "run".
    `inputs` is what `latents` were encoded from (default: the run's, `config.run_inputs`);
    `formation` the arrays of formation.npz (`vae_core.analysis.formation`), when the run kept them.
    A write that fails (a full disk) raises CheckpointError and leaves any previous folder whole.
    """
    try:
        return _write_bundle(Path(path), model, train_config, metrics=metrics, latents=latents, half=half,
                             allow_pretrained=allow_pretrained, overwrite=overwrite, data=data, run=run,
                             inputs=inputs, formation=formation)
    except OSError as exc:
        raise CheckpointError(f"{path}: could not be written ({exc}); any earlier model there is unchanged") from exc


def _write_bundle(path: Path, model: VAE, train_config: TrainConfig, *, metrics, latents, half, allow_pretrained,
                  overwrite, data, run=None, inputs=None, formation=None) -> Path:
    if _is_pretrained(path) and not allow_pretrained:
        raise CheckpointError(f"refusing to write into the shipped models folder {PRETRAINED_DIR}; "
                              "choose a tag for the user models directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _is_pretrained(path):
        _recover(path.parent, path.name)
        _sweep(path.parent, path.name)
    if not overwrite and path.exists():
        raise CheckpointError(f"{path} already exists; not overwritten")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent))
    try:
        state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
                 for k, v in model.state_dict().items()}
        torch.save(state, tmp / WEIGHTS_FILE)
        if isinstance(data, Dataset):
            data = data.describe()
        elif data is None and train_config.dataset in DATASETS:
            data = DATASETS[train_config.dataset].describe()
        _write_json(tmp / CONFIG_FILE, {
            "format_version": FORMAT_VERSION,
            "library_version": __version__,
            "dataset": train_config.dataset,
            "data": data,
            "model": model.config.to_dict(),
            "train": train_config.to_dict(),
            "inputs": (inputs or run_inputs(model.config, train_config)).to_dict(),
            **({"run": run} if run is not None else {}),
        })
        _write_json(tmp / METRICS_FILE, metrics or {})
        if latents is not None:
            arrays = {"mu": np.asarray(latents["mu"], np.float32), "labels": np.asarray(latents["labels"], np.int64)}
            if latents.get("logvar") is not None:  # q(z|x)'s log-variances: the geometry layers need them
                arrays["logvar"] = np.asarray(latents["logvar"], np.float32)
            np.savez_compressed(tmp / LATENTS_FILE, **arrays)
        if formation is not None:
            np.savez_compressed(tmp / FORMATION_FILE, **formation)
        for f in tmp.iterdir():  # the data reaches the disk before the rename makes it visible
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if not overwrite:
            try:  # rename(2) refuses a non-empty target directory: the check and the move are one step
                os.rename(tmp, path)
            except OSError:
                if path.exists():
                    raise CheckpointError(f"{path} appeared while saving; not overwritten") from None
                raise
            _fsync_dir(path.parent)
            return path
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            if old is not None:  # put the old bundle back rather than leave no bundle at all
                os.replace(old, path)
            raise
        _fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def read_config(path: Path) -> tuple[ModelConfig, TrainConfig, dict]:
    """Parse and check config.json alone (cheap: used to list models without loading weights)."""
    cfg_file = Path(path) / CONFIG_FILE
    try:
        raw = json.loads(cfg_file.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{cfg_file}: missing; this folder is not a saved model") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{cfg_file}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{cfg_file}: expected a JSON object")
    version = raw.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{cfg_file}: no format_version; not a model saved by vae_core")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{cfg_file}: format version {version} is newer than this vae_core reads "
                              f"({FORMAT_VERSION}); upgrade vae_core")
    try:
        model_cfg = ModelConfig.from_dict(raw["model"])
        train_cfg = TrainConfig.from_dict(raw["train"])
    except KeyError as exc:
        raise CheckpointError(f"{cfg_file}: missing section {exc}") from None
    except ConfigError as exc:
        raise CheckpointError(f"{cfg_file}: {exc}") from None
    return model_cfg, train_cfg, raw


def read_bundle(path, *, with_latents: bool = True, dataset: Dataset | None = None) -> Bundle:
    """Everything a model folder holds but its network, read without torch (vae_core.lazy): the
    configs, metrics and test codes, checked as `load_bundle` checks them; `model` is None. What the
    page's first view shows of a saved model comes from here and from files kept beside it."""
    path = Path(path)
    if not path.is_dir() and not _is_pretrained(path):
        _recover(path.parent, path.name)  # a save killed mid-swap left the old folder aside
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such model folder")
    model_cfg, train_cfg, raw = read_config(path)
    metrics = {}
    metrics_file = path / METRICS_FILE
    if metrics_file.exists():
        try:
            metrics = json.loads(metrics_file.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{metrics_file}: not valid JSON ({exc})") from None
    latents = _read_latents(path / LATENTS_FILE, model_cfg.latent_dim) if with_latents else None
    data = raw.get("data") if isinstance(raw.get("data"), dict) else None
    try:
        inputs = Inputs.from_dict(raw["inputs"]) if "inputs" in raw else None
    except VaeCoreError as exc:
        raise CheckpointError(f"{path / CONFIG_FILE}: {exc}") from None
    bundle = Bundle(None, model_cfg, train_cfg, path, metrics, latents, raw.get("library_version", ""), data,
                    inputs)
    if dataset is not None:
        bundle.check_dataset(dataset)
    return bundle


def load_bundle(path, *, device: torch.device | str = "cpu", with_latents: bool = True,
                dataset: Dataset | None = None) -> Bundle:
    """Rebuild a model from its folder on `device`, or raise CheckpointError; nothing half-loaded.
    With `dataset`, also refuse (CheckpointError) a model that was not trained on that dataset."""
    bundle = read_bundle(path, with_latents=False, dataset=dataset)
    bundle.model = _load_network(bundle.path, bundle.model_config, device)
    if with_latents:  # after the weights: a config that fits neither names the weights
        bundle.latents = _read_latents(bundle.path / LATENTS_FILE, bundle.model_config.latent_dim)
    return bundle


def _load_network(path: Path, model_cfg: ModelConfig, device) -> VAE:
    """weights.pt into the network its config describes, checked tensor by tensor (weights_only)."""
    from ..model.networks import VAE  # listing and reading folders need no torch (vae_core.lazy); this does

    weights_file = path / WEIGHTS_FILE
    try:
        state = torch.load(weights_file, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{weights_file}: missing") from None
    except Exception as exc:  # torch raises many types for damaged or unsafe files
        raise CheckpointError(f"{weights_file}: cannot be loaded safely ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{weights_file}: not a state dict of tensors")
    model = VAE(model_cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{weights_file}: does not match {CONFIG_FILE} "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    for key, tensor in expected.items():
        if state[key].shape != tensor.shape:
            raise CheckpointError(f"{weights_file}: {key} has shape {tuple(state[key].shape)}, but "
                                  f"{CONFIG_FILE} implies {tuple(tensor.shape)}")
        if not torch.isfinite(state[key]).all():
            raise CheckpointError(f"{weights_file}: {key} holds NaN or infinite values")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model = model.to(device).eval()
    if model_cfg.arch == "conv" and torch.device(device).type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    return model


def _read_latents(file: Path, latent_dim: int) -> dict | None:
    """The test split's codes: mu and labels, and logvar when the file carries it (optional, same shape as mu)."""
    if not file.exists():
        return None
    try:
        with np.load(file, allow_pickle=False) as npz:
            mu, labels = npz["mu"], npz["labels"]
            logvar = npz["logvar"] if "logvar" in npz.files else None
    except Exception as exc:
        raise CheckpointError(f"{file}: cannot be read ({type(exc).__name__}: {exc})") from None
    if mu.ndim != 2 or mu.shape[1] != latent_dim or labels.shape != (mu.shape[0],):
        raise CheckpointError(f"{file}: shapes {mu.shape} / {labels.shape} do not fit latent dimension {latent_dim}")
    latents = {"mu": mu.astype(np.float32), "labels": labels.astype(np.int64)}
    if logvar is not None:
        if logvar.shape != mu.shape or not np.issubdtype(logvar.dtype, np.floating):
            raise CheckpointError(f"{file}: logvar has shape {logvar.shape} ({logvar.dtype}); it must be "
                                  f"floating point of mu's shape {mu.shape}")
        latents["logvar"] = logvar.astype(np.float32)
    return latents


@dataclass(frozen=True)
class ModelEntry:
    """A model folder found on disk, described from its config alone."""

    name: str
    path: Path
    source: str  # "pretrained" or "user"
    dataset: str
    objective: str
    arch: str
    latent_dim: int
    error: str | None = None  # set when the folder's config cannot be read
    prior: str = "standard"
    likelihood: str = "bernoulli"
    image_shape: tuple = ()
    data: dict | None = None  # as Bundle.data

    @property
    def kind(self) -> str:
        """The objective's title ("VAE", "MMD-VAE", "IWAE", ...), with a learned prior named."""
        if self.error or self.objective not in OBJECTIVES:
            return "?"
        return OBJECTIVES[self.objective].title + ("" if self.prior == "standard" else f" + {self.prior} prior")

    @property
    def label(self) -> str:
        if self.error:
            return f"{self.name} (unreadable)"
        return f"{self.name} · {self.kind} · {self.arch} · d={self.latent_dim}" + \
            (" (pretrained)" if self.source == "pretrained" else "")

    @property
    def fingerprint(self) -> str | None:
        return None if self.error else _fingerprint(self.data, self.dataset)

    def dataset_mismatch(self, dataset: Dataset) -> str | None:
        if self.error:
            return self.error
        return _mismatch(self.name, self.data, self.dataset, self.image_shape, dataset)

    def fits(self, dataset: Dataset) -> bool:
        """Whether this model was trained on `dataset` (read from config.json alone)."""
        return self.dataset_mismatch(dataset) is None


def list_models(*, dataset: str | None = None, user_dir: Path | None = None) -> list[ModelEntry]:
    """Pretrained folders first, then the user's, each sorted by name; unreadable ones are kept
    with their error so the caller can say what is wrong."""
    entries = []
    for source, root in (("pretrained", PRETRAINED_DIR), ("user", user_dir or models_dir())):
        if not root.is_dir():
            continue
        if source == "user":
            _recover(root)
        for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                m, t, raw = read_config(path)
                entry = ModelEntry(path.name, path, source, t.dataset, m.objective, m.arch, m.latent_dim,
                                   prior=m.prior, likelihood=m.likelihood, image_shape=tuple(m.image_shape),
                                   data=raw.get("data") if isinstance(raw.get("data"), dict) else None)
            except CheckpointError as exc:
                entry = ModelEntry(path.name, path, source, "", "", "", 0, error=str(exc))
            if dataset is None or entry.dataset == dataset or entry.error:
                entries.append(entry)
    return entries


def update_metrics(path, metrics: dict, *, allow_pretrained: bool = False) -> None:
    """Replace a model folder's metrics.json atomically, leaving weights and config untouched."""
    path = Path(path)
    if _is_pretrained(path) and not allow_pretrained:
        raise CheckpointError(f"refusing to write into the shipped models folder {PRETRAINED_DIR}")
    read_config(path)  # only a real model folder gets metrics
    fd, tmp = tempfile.mkstemp(prefix=f".{METRICS_FILE}.", dir=path)
    os.close(fd)
    try:
        _write_json(Path(tmp), metrics)
        os.replace(tmp, path / METRICS_FILE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

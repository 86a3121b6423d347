"""python -m vae_core {train,evaluate,grid,decode,sample,animate,list}: the library from the command line.

The train command's options are built from the config dataclasses' fields
(`vae_core.config.settings()`): one list of settings, with the help text next to each field.
Only `VaeCoreError`s are printed as one-line messages; anything else is a bug and keeps its
traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from ._version import __version__
from .store.folders import CheckpointError, list_models, load_bundle, models_dir, tag_path, update_metrics
from .config import MIN_DEFAULT_STEPS, ConfigError, ModelConfig, TrainConfig, default_epochs, settings
from .data import DATASETS, Inputs, dataset_title, resolve_dataset
from .errors import VaeCoreError
from .analysis.evaluate import evaluate_model
from .analysis.explore import (decode, encode_means, formation_frames, gif_bytes, interpolate, manifold_grid, png_bytes,
                      prior_samples, tile)
from .training.runtime import describe_device, pick_device


def _model_path(ref: str) -> Path:
    """A model given as a folder path, or as a tag/name found by `list`."""
    p = Path(ref)
    if p.is_dir():
        return p
    for entry in list_models():
        if entry.name == ref:
            return entry.path
    raise CheckpointError(f"no model folder or tag {ref!r}; `python -m vae_core list` shows what exists")


class _Default:
    """A setting's default on the command line, told apart from the same value typed in: a resumed
    run takes what was not typed from its checkpoint."""

    def __init__(self, value):
        self.value = value

    def __str__(self) -> str:  # the --help text
        return str(self.value)


def _plain(value):
    return value.value if isinstance(value, _Default) else value


def _setting_values(args, section: str) -> dict:
    return {s.name: _plain(getattr(args, s.name)) for s in settings(section)}


def _typed_settings(args, section: str) -> dict:
    """The settings given on the command line (not left at their defaults)."""
    return {s.name: getattr(args, s.name) for s in settings(section) if not isinstance(getattr(args, s.name), _Default)}


def _bundle_dataset(bundle, data_dir):
    """The record of the dataset a saved model was trained on, read as it was then."""
    return resolve_dataset(bundle.dataset, data_dir=data_dir, **bundle.train_config.folder_options)


class _StopOnInterrupt:
    """The first Ctrl-C asks the loop to stop at its next step (the run ends as 'cancelled'); a
    second one interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step (Ctrl-C again to abort)", file=sys.stderr)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def cmd_train(args) -> int:
    from .training import distributed

    try:
        code = _train(args)
    except BaseException:
        distributed.shutdown()
        raise
    distributed.shutdown(together=True)
    return code


def _resume_configs(args, state, dataset) -> tuple[ModelConfig, TrainConfig]:
    """A resumed run's configs: the checkpoint's, with what was typed on the command line (which must
    agree: `check_same_run` names every setting that does not)."""
    from .training.resume import check_same_run

    typed_model, typed_train = _typed_settings(args, "model"), _typed_settings(args, "train")
    if "hidden" in typed_model:
        typed_model["hidden"] = tuple(typed_model["hidden"])
    if "dataset" in typed_train:
        typed_train["dataset"] = dataset.name
    model_cfg = state.model_config.replace(**typed_model)
    train_cfg = state.train_config.replace(**typed_train)
    check_same_run(state, model_cfg, train_cfg)
    return model_cfg, train_cfg


def _train(args) -> int:
    from tqdm import tqdm

    from .training import distributed
    from .training.resume import can_replace, clear_resume, read_resume, resume_file
    from .training.runs import finish_run
    from .training.loop import COMPLETED, setup_run, train

    if args.resume:
        out = Path(args.resume) if ("/" in args.resume or os.sep in args.resume) else tag_path(args.resume)
    else:
        out = Path(args.out) if args.out else tag_path(args.tag)
    checkpoint = resume_file(out)
    model_values, train_values = _setting_values(args, "model"), _setting_values(args, "train")
    probe = TrainConfig(**train_values)  # every value checked before anything is read
    world = distributed.setup(probe.device)  # under torchrun: joins the group (gloo on CPU, NCCL on CUDA)
    say = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if world.is_main else (lambda *a, **k: None)
    # torchrun --max-restarts runs the same command again after a rank died: it goes on from the checkpoint.
    restarted = distributed.restart_count() > 0
    state = None
    if args.resume or (restarted and checkpoint.exists()):
        state = read_resume(checkpoint)
        if out.exists() and not can_replace(out):
            raise CheckpointError(f"{out} is saved already (its run finished); nothing to resume")
    elif restarted and out.exists():
        say(f"{out} was saved before the restart; nothing left to do")
        return 0
    elif checkpoint.exists() and not args.overwrite:
        raise CheckpointError(f"{out.name!r} has an unfinished run ({read_resume(checkpoint).describe()}): pass "
                              f"--resume {args.tag if not args.out else out} to continue it, or --overwrite to "
                              "start again")
    dataset = resolve_dataset(state.train_config.dataset if state and "dataset" not in _typed_settings(args, "train")
                              else probe.dataset, data_dir=args.data_dir,
                              **(state.train_config if state else probe).folder_options)
    if state is not None:
        model_cfg, train_cfg = _resume_configs(args, state, dataset)
    else:
        train_cfg = probe.replace(dataset=dataset.name)  # a user's path, made absolute
        model_values["hidden"] = tuple(model_values["hidden"])
        model_cfg = ModelConfig.for_dataset(dataset, **model_values)
    for note in dataset.notes:
        say(f"note: {dataset.name}: {note}")
    init = load_bundle(_model_path(args.init_from), device=world.device) if args.init_from else None
    if init is not None and not init.model_config.same_network(model_cfg):
        raise ConfigError(f"--init-from {args.init_from} has another architecture ({init.model_config})")
    if state is None and out.exists() and not args.overwrite:
        raise CheckpointError(f"{out} exists; pick another --tag or pass --overwrite")
    run = setup_run(model_cfg, train_cfg, data_dir=args.data_dir, dataset=dataset, resume=state,
                    model=init.model.train() if init is not None else None)  # everything checked before any output
    if state is None and "epochs" not in _typed_settings(args, "train"):
        n_train = len(run.train_split.subset(train_cfg.train_subset))
        epochs = default_epochs(n_train, train_cfg.batch_size)
        if epochs != train_cfg.epochs:
            train_cfg = run.train_config = train_cfg.replace(epochs=epochs)
            say(f"note: {n_train} training images: {epochs} epochs, for at least {MIN_DEFAULT_STEPS} steps "
                "(--epochs sets another number)")
    if state is None and world.is_main:
        clear_resume(out)  # an old run's checkpoint (--overwrite) must not be resumed after a restart
    ranks = f", {world.size} ranks ({world.backend})" if world.distributed else ""
    say(f"training {model_cfg.objective} VAE ({model_cfg.arch}, d={model_cfg.latent_dim}, {model_cfg.likelihood} "
        f"likelihood, {model_cfg.prior} prior) on {dataset.title} [{describe_device(world.device)}{ranks}] -> {out}")
    if state is not None:
        say(f"resuming from {state.describe()}")
    bar = tqdm(total=1, unit="step", file=sys.stderr, disable=args.quiet or not world.is_main)

    def on_progress(p):
        bar.total = p.total_steps
        bar.n = p.step
        shown = {k: round(v, 2) for k, v in (p.test or p.train).items()}
        bar.set_postfix(epoch=f"{p.epoch:.2f}", **({"test_" + k: v for k, v in shown.items()} if p.test else shown))
        bar.refresh()

    with _StopOnInterrupt() as interrupt:
        result = train(run, callback=on_progress, should_stop=lambda: interrupt.requested,
                       snapshot_dir=(out.parent / f"{out.name}-snapshots") if train_cfg.snapshot_every else None,
                       checkpoint=checkpoint)
    bar.close()
    say(result.message)
    if not world.is_main:  # rank 0 alone evaluates and saves
        return 0 if result.status == COMPLETED else 3
    extra = {}
    before = (init.metrics.get("epochs_total") or init.metrics.get("epochs") or 0) if init is not None else 0
    extra["epochs_total"] = before + result.epochs  # across a chain of --init-from stages
    if init is not None:
        extra["init_from"] = {"path": str(init.path), "train": init.train_config.to_dict(),
                              "train_seconds": init.metrics.get("train_seconds")}
    saved = finish_run(result, out, test_split=run.test_split, train_split=run.train_split, evaluate=args.evaluate,
                       keep_cancelled=args.keep_cancelled, half=args.half, overwrite=True,
                       allow_pretrained=args.release, extra_metrics=extra,
                       progress=None if args.quiet else lambda m: print(f"… {m}", file=sys.stderr))
    if saved is None:
        say("cancelled; nothing was saved (pass --keep-cancelled to keep the last weights)"
            + (f"; continue the run with --resume {args.tag if not args.out else out}" if checkpoint.exists() else ""))
        return 130
    say(f"saved {out}" + (f" (marked {result.status})" if result.status != COMPLETED else ""))
    if args.evaluate:
        e = load_bundle(saved, with_latents=False).metrics["evaluation"]
        say(f"test −ELBO {e['test']['neg_elbo']:.2f} nats (KL {e['test']['kl']:.2f}), IW NLL "
            f"{e['iw_nll']['nll']:.2f} (k={e['iw_nll']['k']}, {e['iw_nll']['n']} images), "
            f"{e['knn_accuracy']['k']}-NN accuracy {e['knn_accuracy']['accuracy']:.3f}")
    return 0 if result.status == COMPLETED else 3


def cmd_evaluate(args) -> int:
    path = _model_path(args.model)
    bundle = load_bundle(path, device=pick_device(args.device))
    dataset = _bundle_dataset(bundle, args.data_dir)
    bundle.check_dataset(dataset)  # the file may have changed since the model was trained
    train_split = dataset.read("train", data_dir=args.data_dir)
    test_split = dataset.read("test", data_dir=args.data_dir)
    inputs = Inputs(binarized=bundle.inputs.binarized, seed=args.seed)
    metrics = evaluate_model(bundle.model, train_split, test_split, inputs=inputs, n_test=args.n_test,
                             iw_k=args.iw_k, iw_n=args.iw_n, quadrature_grid=args.quadrature_grid,
                             progress=lambda m: print(f"… {m}", file=sys.stderr))
    print(json.dumps(metrics, indent=2))
    if args.save:
        merged = {**bundle.metrics, "evaluation": metrics}
        update_metrics(path, merged, allow_pretrained=args.allow_pretrained)
        print(f"metrics saved in {path}", file=sys.stderr)
    return 0


def cmd_grid(args) -> int:
    bundle = load_bundle(_model_path(args.model), device=pick_device(args.device))
    codes = bundle.latents["mu"] if bundle.latents else None
    if args.spacing == "range" and codes is None:
        test = _bundle_dataset(bundle, args.data_dir).read("test", data_dir=args.data_dir)
        codes = encode_means(bundle.model, bundle.inputs.of(test.images))
    center = codes.mean(0) if (codes is not None and bundle.model.latent_dim > 2) else None
    image, _, _ = manifold_grid(bundle.model, args.n, spacing=args.spacing, codes=codes, center=center)
    Path(args.out).write_bytes(png_bytes(image))
    print(f"wrote {args.out} ({args.n}x{args.n}, {args.spacing} spacing)", file=sys.stderr)
    return 0


def _latent_points(text: list[str], latent_dim: int) -> np.ndarray:
    """--z values ("0.5,-1.2", one per point) -> (K, d) float32, or a ConfigError naming the bad one."""
    points = []
    for item in text:
        try:
            z = [float(v) for v in item.replace(" ", "").split(",") if v != ""]
        except ValueError:
            raise ConfigError(f"--z {item!r}: write the coordinates as numbers separated by commas, e.g. "
                              f"--z \"{','.join(['0.5'] * latent_dim)}\"") from None
        if len(z) != latent_dim or not all(np.isfinite(z)):
            raise ConfigError(f"--z {item!r}: the model's latent space has {latent_dim} dimensions; give "
                              f"{latent_dim} finite numbers")
        points.append(z)
    return np.asarray(points, np.float32)


def _write_png(path: str, image: np.ndarray, scale: int) -> None:
    if scale > 1:
        image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    Path(path).write_bytes(png_bytes(image))


def cmd_decode(args) -> int:
    """Decode latent points the user chooses (E[x|z]: the likelihood's mean image), one PNG."""
    bundle = load_bundle(_model_path(args.model), device=pick_device(args.device))
    z = _latent_points(args.z, bundle.model.latent_dim)
    images = decode(bundle.model, z)
    _write_png(args.out, tile(images, min(len(images), args.columns)), args.scale)
    print(f"wrote {args.out} ({len(images)} point{'s' if len(images) > 1 else ''} decoded by {bundle.name})",
          file=sys.stderr)
    return 0


def cmd_sample(args) -> int:
    """Decode n draws z ~ p(z) from the model's own prior (seeded), tiled, one PNG."""
    if args.n < 1 or args.n > 10_000:
        raise ConfigError(f"--n must be between 1 and 10000; got {args.n}")
    bundle = load_bundle(_model_path(args.model), device=pick_device(args.device))
    images = prior_samples(bundle.model, args.n, seed=args.seed)
    columns = args.columns or max(1, round(math.sqrt(args.n)))
    _write_png(args.out, tile(images, columns, pad=1), args.scale)
    print(f"wrote {args.out} ({args.n} samples of {bundle.name}'s prior, seed {args.seed})", file=sys.stderr)
    return 0


def cmd_animate(args) -> int:
    """An animated GIF: how the model's latent space formed while it trained (its formation.npz), or
    the images along a straight path between two test images' codes (there and back)."""
    from .analysis.formation import read_formation

    path = _model_path(args.model)
    bundle = load_bundle(path, device=pick_device(args.device))
    what = args.what or ("formation" if (path / "formation.npz").exists() else "interpolation")
    if what == "formation":
        formation = read_formation(path)
        if formation is None:
            raise CheckpointError(f"{bundle.name} kept no formation (it was trained before runs kept one, or with "
                                  "--formation-images 0); animate --what interpolation instead")
        frames = formation_frames(formation["codes"], formation["labels"], formation["epochs"], size=args.size)
        Path(args.out).write_bytes(gif_bytes(frames, duration_ms=args.duration, pause_ms=1500))
        say = f"{len(frames)} frames, epochs {formation['epochs'][0]:g} to {formation['epochs'][-1]:g}"
    else:
        test = _bundle_dataset(bundle, args.data_dir).read("test", data_dir=args.data_dir)
        for i in (args.start, args.end):
            if not 0 <= i < len(test):
                raise ConfigError(f"test image {i} does not exist: the test set has {len(test)} images (0 to "
                                  f"{len(test) - 1})")
        x = bundle.inputs.of(test.images)
        _, images = interpolate(bundle.model, x[args.start], x[args.end], steps=args.steps)
        images = [np.repeat(np.repeat(im, args.scale, 0), args.scale, 1) for im in images]
        frames = images + images[-2:0:-1]  # there and back
        Path(args.out).write_bytes(gif_bytes(frames, duration_ms=args.duration))
        say = f"{args.steps} steps from test #{args.start} to #{args.end} and back"
    print(f"wrote {args.out} ({what} of {bundle.name}: {say})", file=sys.stderr)
    return 0


def cmd_list(args) -> int:
    entries = list_models(dataset=args.dataset)
    if not entries:
        print(f"no models found (pretrained/ and {models_dir()})")
    for e in entries:
        print(f"{e.name:28s} {e.source:10s} " + (f"ERROR {e.error}" if e.error else
              f"{e.dataset if e.dataset in DATASETS else dataset_title(e.dataset):14s} {e.objective:8s} {e.prior:8s} {e.arch:4s} d={e.latent_dim}  {e.path}"))
    return 0


def _applies_note(applies: dict) -> str:
    return "; ".join(f"{key}: {', '.join(values)}" for key, values in applies.items())


def add_setting_options(parser: argparse.ArgumentParser) -> None:
    """One option per user setting of ModelConfig and TrainConfig, from their fields."""
    for s in settings():
        help_text = s.help.replace("%", "%%") + (f" [{_applies_note(s.applies_to)}]" if s.applies_to else "")
        kwargs: dict = {"dest": s.name, "help": help_text, "default": _Default(s.default)}
        if s.name == "likelihood":
            kwargs["default"] = _Default(None)  # the dataset's own (ModelConfig.for_dataset)
        if s.name == "epochs":  # config.default_epochs
            kwargs["help"] += (f"; left out, a dataset too small for {MIN_DEFAULT_STEPS} steps in that many gets "
                               "enough epochs for them")
        if s.type == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif s.type == "ints":
            kwargs.update(type=int, nargs="+", default=_Default(list(s.default)))
        else:
            kwargs["type"] = {"int": int, "float": float, "str": str}[s.type]
            if s.choices:
                kwargs["choices"] = s.choices
            elif s.name == "dataset":
                kwargs["metavar"] = "NAME|PATH"
        parser.add_argument(*s.flags, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vae_core",
        description="Train, evaluate and draw VAEs (standard, MMD, IWAE, KL-annealed; N(0, I), VampPrior or "
                    "mixture priors) on MNIST, Fashion-MNIST or your own images.",
        epilog="Data: --data-dir or $VAE_DATA_DIR (folder holding MNIST/raw and FashionMNIST/raw), or --dataset "
               "PATH for your own .npz file or image folder; new models: $VAE_MODELS_DIR. Example: python -m vae_core "
               "train --dataset mnist --objective standard --epochs 10 --tag my-model")
    parser.add_argument("--version", action="version", version=f"vae_core {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, device: bool = True):
        p.add_argument("--data-dir", help="folder holding MNIST/raw and FashionMNIST/raw (default $VAE_DATA_DIR)")
        if device:
            p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: %(default)s")

    def model_verb(name: str, help_text: str) -> argparse.ArgumentParser:
        """A verb that reads one saved model: its parser with the common options and MODEL."""
        p = sub.add_parser(name, help=help_text, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        common(p)
        p.add_argument("model", help="model folder or name (see `list`)")
        return p

    t = sub.add_parser("train", help="train a new model and save it under a tag",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    common(t, device=False)  # --device is one of the settings
    add_setting_options(t)
    t.add_argument("--tag", default="my-model", help="name of the model folder in the models directory")
    t.add_argument("--out", help="explicit output folder (instead of --tag)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    t.add_argument("--init-from", help="start from this model's weights (same network; the objective may differ)")
    t.add_argument("--resume", metavar="TAG",
                   help="continue the unfinished run of TAG (or of a folder) from its resume checkpoint, written at "
                        "every epoch's end (and every --checkpoint-every steps); settings left out are the run's, "
                        "settings given must be the run's. Under torchrun --max-restarts a restarted group resumes "
                        "by itself")
    t.add_argument("--evaluate", action="store_true",
                   help="when done, run the evaluation the shipped models carry (test −ELBO on the whole test set, "
                        "IW NLL with k=1000 on 1,000 images, 5-NN accuracy) and store it in metrics.json")
    t.add_argument("--keep-cancelled", action="store_true",
                   help="on Ctrl-C, save the last weights (marked cancelled) instead of nothing")
    t.add_argument("--half", action="store_true", help="store the weights as float16 (half the size)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--release", action="store_true", help=argparse.SUPPRESS)  # may write into pretrained/
    t.set_defaults(func=cmd_train)

    e = model_verb("evaluate", "test −ELBO, importance-weighted NLL, quadrature NLL, k-NN accuracy")
    e.add_argument("--n-test", type=int, default=None, help="evaluate on the first N test images")
    e.add_argument("--iw-k", type=int, default=1000, help="importance samples per image (0: skip)")
    e.add_argument("--iw-n", type=int, default=1000, help="images for the importance-weighted estimate")
    e.add_argument("--quadrature-grid", type=int, default=0, help="grid size for quadrature (d=2; 0: skip)")
    e.add_argument("--seed", type=int, default=0, help="seed of the test binarisation")
    e.add_argument("--save", action="store_true", help="store the result in the model's metrics.json")
    e.add_argument("--allow-pretrained", action="store_true", help=argparse.SUPPRESS)
    e.set_defaults(func=cmd_evaluate)

    g = model_verb("grid", "write the decoded manifold grid as a PNG")
    g.add_argument("--n", type=int, default=20, help="grid size n (n×n images)")
    g.add_argument("--spacing", default="quantile", choices=("quantile", "range"),
                   help="Gaussian quantiles (Kingma & Welling Fig. 4b) or the range of the test codes")
    g.add_argument("--out", default="grid.png")
    g.set_defaults(func=cmd_grid)

    d = model_verb("decode", "decode latent points you choose into a PNG")
    d.add_argument("--z", action="append", required=True, metavar="Z1,Z2,…",
                   help="a latent point, its coordinates separated by commas (repeat --z for several; they are "
                        "tiled left to right); write a negative first coordinate as --z=-1.5,0")
    d.add_argument("--out", default="decoded.png")
    d.add_argument("--columns", type=int, default=10, help="images per row when several points are decoded")
    d.add_argument("--scale", type=int, default=1, help="enlarge each pixel to SCALE×SCALE")
    d.set_defaults(func=cmd_decode)

    sm = model_verb("sample", "decode draws from the model's prior into a PNG grid")
    sm.add_argument("--n", type=int, default=64, help="number of samples")
    sm.add_argument("--seed", type=int, default=0, help="seed of the prior draws")
    sm.add_argument("--columns", type=int, default=0, help="images per row (0: a square-ish grid)")
    sm.add_argument("--scale", type=int, default=1, help="enlarge each pixel to SCALE×SCALE")
    sm.add_argument("--out", default="samples.png")
    sm.set_defaults(func=cmd_sample)

    an = model_verb("animate", "an animated GIF: how the latent space formed, or an interpolation")
    an.add_argument("--what", choices=("formation", "interpolation"),
                    help="default: formation when the model kept one (runs keep one unless --formation-images 0), else "
                         "interpolation")
    an.add_argument("--start", type=int, default=0, help="interpolation: the first test image's index")
    an.add_argument("--end", type=int, default=1, help="interpolation: the last test image's index")
    an.add_argument("--steps", type=int, default=20, help="interpolation: images along the path")
    an.add_argument("--scale", type=int, default=4, help="interpolation: enlarge each pixel to SCALE×SCALE")
    an.add_argument("--size", type=int, default=400, help="formation: side of the scatter in pixels")
    an.add_argument("--duration", type=int, default=120, help="milliseconds per frame")
    an.add_argument("--out", default="animation.gif")
    an.set_defaults(func=cmd_animate)

    ls = sub.add_parser("list", help="list pretrained and trained models")
    ls.add_argument("--dataset", help=f"only models of this dataset ({', '.join(DATASETS)} or a path)")
    ls.set_defaults(func=cmd_list)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except VaeCoreError as exc:  # expected failures; anything else is a bug and keeps its traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""python -m vae_core {train,evaluate,grid,list}: the library from the command line."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .checkpoints import CheckpointError, list_models, load_bundle, models_dir, save_bundle, tag_path, update_metrics
from .config import ACTIVATIONS, ARCHS, DATASETS, ELBO_ESTIMATORS, MMD_RECONS, OPTIMIZERS, SCHEDULES, \
    ConfigError, ModelConfig, TrainConfig
from .data import load_split
from .errors import VaeCoreError
from .evaluate import evaluate_model
from .explore import encode_means, manifold_grid, png_bytes
from .runtime import describe_device, pick_device


def _model_path(ref: str) -> Path:
    """A model given as a folder path, or as a tag/name found by `list`."""
    p = Path(ref)
    if p.is_dir():
        return p
    for entry in list_models():
        if entry.name == ref:
            return entry.path
    raise CheckpointError(f"no model folder or tag {ref!r}; `python -m vae_core list` shows what exists")


def cmd_train(args) -> int:
    from tqdm import tqdm

    from .train import COMPLETED, check_fits, train

    model_cfg = ModelConfig(objective=args.model, arch=args.arch, latent_dim=args.latent_dim,
                            hidden=tuple(args.hidden), activation=args.activation)
    train_cfg = TrainConfig(
        dataset=args.dataset, epochs=args.epochs, max_iters=args.max_iters, batch_size=args.batch_size,
        lr=args.lr, optimizer=args.optimizer, schedule=args.schedule, seed=args.seed, device=args.device,
        binarize=not args.no_binarize, train_subset=args.train_subset, beta=args.beta, samples=args.samples,
        estimator=args.estimator, mmd_lambda=args.mmd_lambda, mmd_recon=args.mmd_recon,
        eval_subset=args.eval_subset, snapshot_every=args.snapshot_every)
    out = Path(args.out) if args.out else tag_path(args.tag)
    init = load_bundle(_model_path(args.init_from), device=pick_device(args.device)) if args.init_from else None
    if init is not None and init.model_config != model_cfg:
        raise ConfigError(f"--init-from {args.init_from} has another architecture ({init.model_config})")
    if out.exists() and not args.overwrite:
        raise CheckpointError(f"{out} exists; pick another --tag or pass --overwrite")
    train_split = load_split(args.dataset, "train", data_dir=args.data_dir)
    test_split = load_split(args.dataset, "test", data_dir=args.data_dir)
    check_fits(train_cfg, len(train_split.subset(train_cfg.train_subset)))  # before any output
    print(f"training {args.model} VAE ({args.arch}, d={args.latent_dim}) on {args.dataset} "
          f"[{describe_device(pick_device(args.device))}] -> {out}", file=sys.stderr)
    bar = tqdm(total=1, unit="step", file=sys.stderr, disable=args.quiet)

    def on_progress(p):
        bar.total = p.total_steps
        bar.n = p.step
        shown = {k: round(v, 2) for k, v in (p.test or p.train).items()}
        bar.set_postfix(epoch=f"{p.epoch:.2f}", **({"test_" + k: v for k, v in shown.items()} if p.test else shown))
        bar.refresh()

    result = train(model_cfg, train_cfg, train_split=train_split, test_split=test_split, callback=on_progress,
                   snapshot_dir=(out.parent / f"{out.name}-snapshots") if args.snapshot_every else None,
                   model=init.model.train() if init is not None else None)
    bar.close()
    print(result.message, file=sys.stderr)
    if args.half:  # measure and cache exactly the weights that ship
        for tensor in result.model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    codes = encode_means(result.model, test_split.images)
    metrics = {"status": result.status, "message": result.message, "train_seconds": round(result.seconds, 2),
               "steps": result.steps, "epochs": result.epochs,
               "final_test": next((r for r in reversed(result.history) if r["split"] == "test"), None),
               "history": result.history}
    before = (init.metrics.get("epochs_total") or init.metrics.get("epochs") or 0) if init is not None else 0
    metrics["epochs_total"] = before + result.epochs  # across a chain of --init-from stages
    if init is not None:
        metrics["init_from"] = {"path": str(init.path), "train": init.train_config.to_dict(),
                                "train_seconds": init.metrics.get("train_seconds")}
    save_bundle(out, result.model, train_cfg, metrics=metrics, half=args.half,
                latents={"mu": codes, "labels": test_split.labels.numpy()}, allow_pretrained=args.release)
    print(f"saved {out}", file=sys.stderr)
    return 0 if result.status == COMPLETED else 3


def cmd_evaluate(args) -> int:
    path = _model_path(args.model)
    bundle = load_bundle(path, device=pick_device(args.device))
    train_split = load_split(bundle.dataset, "train", data_dir=args.data_dir)
    test_split = load_split(bundle.dataset, "test", data_dir=args.data_dir)
    metrics = evaluate_model(bundle.model, train_split, test_split, n_test=args.n_test, iw_k=args.iw_k,
                             iw_n=args.iw_n, quadrature_grid=args.quadrature_grid, seed=args.seed,
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
        codes = encode_means(bundle.model, load_split(bundle.dataset, "test", data_dir=args.data_dir).images)
    center = codes.mean(0) if (codes is not None and bundle.model.latent_dim > 2) else None
    image, _, _ = manifold_grid(bundle.model, args.n, spacing=args.spacing, codes=codes, center=center)
    Path(args.out).write_bytes(png_bytes(image))
    print(f"wrote {args.out} ({args.n}x{args.n}, {args.spacing} spacing)", file=sys.stderr)
    return 0


def cmd_list(args) -> int:
    entries = list_models(dataset=args.dataset)
    if not entries:
        print(f"no models found (pretrained/ and {models_dir()})")
    for e in entries:
        print(f"{e.name:28s} {e.source:10s} " + (f"ERROR {e.error}" if e.error else
              f"{e.dataset:8s} {e.objective:8s} {e.arch:4s} d={e.latent_dim}  {e.path}"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    m = ModelConfig()
    parser = argparse.ArgumentParser(
        prog="python -m vae_core",
        description="Train, evaluate and draw standard VAEs and MMD-VAEs on MNIST / Fashion-MNIST.",
        epilog="Data: --data-dir or $VAE_DATA_DIR (folder holding MNIST/raw and FashionMNIST/raw); "
               "new models: $VAE_MODELS_DIR. Example: python -m vae_core train --dataset mnist "
               "--model standard --epochs 10 --tag my-model")
    parser.add_argument("--version", action="version", version=f"vae_core {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--data-dir", help="folder holding MNIST/raw and FashionMNIST/raw (default $VAE_DATA_DIR)")
        p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: %(default)s")

    t = sub.add_parser("train", help="train a new model and save it under a tag",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    common(t)
    t.add_argument("--dataset", default=d.dataset, choices=DATASETS)
    t.add_argument("--model", default=m.objective, choices=("standard", "mmd"),
                   help="standard: ELBO (reconstruction + KL); mmd: InfoVAE (reconstruction + λ·MMD)")
    t.add_argument("--arch", default=m.arch, choices=ARCHS)
    t.add_argument("--latent-dim", type=int, default=m.latent_dim)
    t.add_argument("--hidden", type=int, nargs="+", default=list(m.hidden), help="MLP layer widths")
    t.add_argument("--activation", default=m.activation, choices=ACTIVATIONS)
    t.add_argument("--epochs", type=int, default=d.epochs)
    t.add_argument("--max-iters", type=int, default=None, help="stop after this many steps")
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--lr", type=float, default=d.lr, help="learning rate")
    t.add_argument("--optimizer", default=d.optimizer, choices=OPTIMIZERS)
    t.add_argument("--schedule", default=d.schedule, choices=SCHEDULES, help="learning-rate schedule")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--no-binarize", action="store_true", help="train on intensities, not Bernoulli draws")
    t.add_argument("--train-subset", type=int, default=None, help="use only the first N training images")
    t.add_argument("--beta", type=float, default=d.beta, help="KL weight (standard)")
    t.add_argument("--samples", type=int, default=d.samples, help="latent samples per input (standard)")
    t.add_argument("--estimator", default=d.estimator, choices=ELBO_ESTIMATORS, help="ELBO estimator (standard)")
    t.add_argument("--mmd-lambda", type=float, default=d.mmd_lambda, help="MMD weight λ (mmd)")
    t.add_argument("--mmd-recon", default=d.mmd_recon, choices=MMD_RECONS, help="reconstruction term (mmd)")
    t.add_argument("--eval-subset", type=int, default=d.eval_subset, help="test images scored each epoch")
    t.add_argument("--snapshot-every", type=int, default=0, help="write PNG snapshots every N epochs")
    t.add_argument("--tag", default="my-model", help="name of the model folder in the models directory")
    t.add_argument("--out", help="explicit output folder (instead of --tag)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    t.add_argument("--init-from", help="start from this model's weights (same architecture)")
    t.add_argument("--half", action="store_true", help="store the weights as float16 (half the size)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--release", action="store_true", help=argparse.SUPPRESS)  # may write into pretrained/
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="test −ELBO, importance-weighted NLL, quadrature NLL, k-NN accuracy",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    common(e)
    e.add_argument("model", help="model folder or name (see `list`)")
    e.add_argument("--n-test", type=int, default=None, help="evaluate on the first N test images")
    e.add_argument("--iw-k", type=int, default=1000, help="importance samples per image (0: skip)")
    e.add_argument("--iw-n", type=int, default=1000, help="images for the importance-weighted estimate")
    e.add_argument("--quadrature-grid", type=int, default=0, help="grid size for quadrature (d=2; 0: skip)")
    e.add_argument("--seed", type=int, default=0, help="seed of the test binarisation")
    e.add_argument("--save", action="store_true", help="store the result in the model's metrics.json")
    e.add_argument("--allow-pretrained", action="store_true", help=argparse.SUPPRESS)
    e.set_defaults(func=cmd_evaluate)

    g = sub.add_parser("grid", help="write the decoded manifold grid as a PNG",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    common(g)
    g.add_argument("model", help="model folder or name (see `list`)")
    g.add_argument("--n", type=int, default=20, help="grid size n (n×n images)")
    g.add_argument("--spacing", default="quantile", choices=("quantile", "range"),
                   help="Gaussian quantiles (Kingma & Welling Fig. 4b) or the range of the test codes")
    g.add_argument("--out", default="grid.png")
    g.set_defaults(func=cmd_grid)

    ls = sub.add_parser("list", help="list pretrained and trained models")
    ls.add_argument("--dataset", choices=DATASETS)
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

"""The one place a training run ends: metrics -> test codes -> atomic save.

The CLI, the page's background jobs, the tests and the benchmarks all call `finish_run` with the
`TrainResult` that `fit` returned, so a saved model folder always holds the same things:
config.json (with the dataset's record and fingerprint), weights.pt, metrics.json (status,
message, timings, history, and optionally the evaluation the shipped models carry) and
latents.npz (the test set's codes, encoded from the inputs config.json records: `data.Inputs`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from ..store.folders import save_bundle
from ..config import run_inputs
from ..data import Split, resolve_dataset
from ..errors import CheckpointError
from ..analysis.evaluate import evaluate_model
from ..analysis.geometry import encode_posteriors, ledger
from .resume import clear_resume
from .loop import CANCELLED, TrainResult

# What the shipped models carry: test −ELBO on the whole test set, the importance-weighted NLL with
# k = 1000 on 1,000 test images, 5-NN accuracy of the codes (and the aggregate posterior's statistics).
SHIPPED_EVALUATION = {"n_test": None, "iw_k": 1000, "iw_n": 1000, "knn_k": 5, "quadrature_grid": 0}
# The page's "evaluate when done": the same, with the importance-weighted estimate bounded in time (it
# covers as many of the 1,000 images as fit in 40 s, at least 100: a conv model on 32×32 colour images
# took 265 s and ~10 GB before; bench/bench_evaluate.py measures it).
PAGE_EVALUATION = {**SHIPPED_EVALUATION, "iw_seconds": 40.0}


def run_metrics(result: TrainResult) -> dict:
    """The metrics every saved run records about its training."""
    return {"status": result.status, "message": result.message, "train_seconds": round(result.seconds, 2),
            "steps": result.steps, "epochs": result.epochs, **result.world,
            **({"resumed_at_steps": result.resumed_at} if result.resumed_at else {}),
            **({"cuda_graph": True} if result.cuda_graph else {}),
            "final_test": next((r for r in reversed(result.history) if r["split"] == "test"), None),
            "history": result.history}


def finish_run(result: TrainResult, path, *, test_split: Split | None = None, train_split: Split | None = None,
               data_dir=None, evaluate: bool | dict = False, keep_cancelled: bool = False, half: bool = False,
               overwrite: bool = False, allow_pretrained: bool = False, extra_metrics: dict | None = None,
               progress: Callable[[str], None] | None = None) -> Path | None:
    """Save a finished run as a model folder at `path` and return the path (None: nothing saved).

    - A cancelled run is saved only with `keep_cancelled` (its last finite weights, marked
      "cancelled" in metrics.json); a diverged run is saved with its last good weights, marked
      "diverged".
    - `evaluate=True` runs `evaluate_model` with SHIPPED_EVALUATION (a dict overrides its keys), so
      the new model compares like with like with the shipped ones; `progress(message)` hears each
      stage.
    - `half=True` rounds the weights to float16 before anything is measured, so the metrics and
      codes are those of the weights stored.
    - `overwrite=False` refuses (CheckpointError) an existing folder before any work, and a folder
      that appears meanwhile at the final rename.
    - config.json ("run") and metrics.json record torchrun's world size and backend (1, None for
      one process). Once saved, the run's resume checkpoint is removed, unless the run was
      cancelled (it can then be continued: `vae_core.training.resume`).
    """
    def say(message: str) -> None:
        if progress is not None:
            progress(message)

    if result.status == CANCELLED and not keep_cancelled:
        return None
    path = Path(path)
    if not overwrite and path.exists():
        raise CheckpointError(f"{path} already exists; not overwritten")
    model, cfg = result.model.eval(), result.train_config
    if half:
        with torch.no_grad():
            for tensor in model.state_dict().values():
                if tensor.is_floating_point():
                    tensor.copy_(tensor.half().float())
    dataset = result.dataset or resolve_dataset(cfg.dataset, data_dir=data_dir, **cfg.folder_options)
    test_split = test_split or dataset.read("test", data_dir=data_dir)
    inputs = run_inputs(result.model_config, cfg)  # what the codes and every figure are computed from
    metrics = {**run_metrics(result), **(extra_metrics or {})}
    if evaluate:
        options = {**SHIPPED_EVALUATION, **(evaluate if isinstance(evaluate, dict) else {})}
        train_split = train_split or dataset.read("train", data_dir=data_dir)
        metrics["evaluation"] = evaluate_model(model, train_split, test_split, inputs=inputs,
                                               progress=lambda m: say(f"evaluating: {m}"), **options)
    say("encoding the test set")
    # logvar too: the page's holes layer then needs no data
    mu, logvar = encode_posteriors(model, inputs.of(test_split.images))
    latents = {"mu": mu, "labels": test_split.labels.numpy(), **({"logvar": logvar} if logvar is not None else {})}
    if evaluate:
        say("measuring the latent geometry (the KL ledger, active units, MMD² to the prior)")
        metrics["geometry"] = ledger(model, mu, logvar)
    say("saving")
    saved = save_bundle(path, model, cfg, metrics=metrics, latents=latents,
                        half=half, allow_pretrained=allow_pretrained, overwrite=overwrite, data=dataset,
                        run=result.world, inputs=inputs,
                        formation=result.formation.arrays() if result.formation and result.formation.frames else None)
    if result.status != CANCELLED:
        clear_resume(saved)
    return saved

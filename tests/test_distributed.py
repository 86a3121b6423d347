"""Training under torchrun on the CPU (gloo, 2 ranks, a small subset of real MNIST).

- 2 ranks give the weights of one process with the same seed (within 1e-4 after 40 steps), for the
  standard VAE and the MMD-VAE (whose MMD term is computed on codes gathered from both ranks);
- only rank 0 writes: the model folder, the snapshots and the resume checkpoint;
- a rank killed mid-run under --max-restarts 1: the group restarts, resumes from the checkpoint,
  and ends with the weights of an uninterrupted run.

Each run starts real processes through torchrun (tests/ddp_worker.py wraps the CLI with an audit
of every write and a kill switch), so each costs a few seconds of process start.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import vae_core as vc

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "ddp_worker.py"
# 1,280 images in batches of 64: 20 steps per epoch, 40 steps in two epochs.
ARGS = ["--train-subset", "1280", "--batch-size", "64", "--epochs", "2", "--hidden", "64", "--eval-subset", "100",
        "--mmd-prior-samples", "64", "--device", "cpu", "--quiet"]


def torchrun(models: Path, audit: Path, *args, nproc: int = 2, restarts: int = 0, env_extra=None):
    env = dict(os.environ, VAE_MODELS_DIR=str(models), VAE_TEST_AUDIT=str(audit), **(env_extra or {}))
    env.pop("OMP_NUM_THREADS", None)  # torchrun sets one thread per rank
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           f"--max-restarts={restarts}", str(WORKER), "train", *ARGS, *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def one_process(bundle: vc.Bundle) -> dict[str, torch.Tensor]:
    """The same run in this process (one process, no torchrun): the reference weights."""
    result = vc.fit(bundle.model_config, bundle.train_config)
    assert result.ok, result.message
    return result.model.state_dict()


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def writes(audit: Path, rank: int) -> list:
    return [w for f in sorted(audit.glob(f"rank{rank}-try*.json")) for w in json.loads(f.read_text())]


@pytest.mark.parametrize("objective", ["standard", "mmd"])
def test_two_ranks_train_the_weights_of_one_process_and_only_rank_0_writes(objective, tmp_path):
    models, audit = tmp_path / "models", tmp_path / "audit"
    run = torchrun(models, audit, "--model", objective, "--snapshot-every", "1", "--tag", "ddp")
    assert run.returncode == 0, run.stderr[-3000:]
    bundle = vc.load_bundle(models / "ddp")
    assert bundle.metrics["status"] == "completed" and bundle.metrics["steps"] == 40
    assert bundle.metrics["world_size"] == 2 and bundle.metrics["backend"] == "gloo"
    assert json.loads((models / "ddp" / "config.json").read_text())["run"] == {"world_size": 2, "backend": "gloo"}
    assert max_difference(bundle.model.state_dict(), one_process(bundle)) < 1e-4

    # Rank 0 wrote the model, the snapshots and the resume checkpoint (removed once the model was
    # saved); rank 1 wrote nothing at all under the models directory.
    assert sorted(p.name for p in models.iterdir()) == ["ddp", "ddp-snapshots"]
    assert len(list((models / "ddp-snapshots").glob("*.png"))) == 6  # 3 images x 2 epochs
    assert writes(audit, 1) == []
    written = " ".join(w[1] for w in writes(audit, 0))
    assert "ddp-snapshots" in written and ".ddp.resume.pt" in written and "config.json" in written
    assert any(w[0] == "os.rename" and ".ddp.resume.pt." in w[1] for w in writes(audit, 0))  # os.replace's event


def test_a_killed_rank_is_restarted_and_the_run_resumes_from_its_checkpoint(tmp_path):
    """Rank 1 dies (SIGKILL) in step 28; torchrun --max-restarts 1 restarts both ranks, which resume from
    the checkpoint of step 25 (every 5 steps, mid-epoch) and finish as if nothing had happened."""
    models, audit = tmp_path / "models", tmp_path / "audit"
    run = torchrun(models, audit, "--checkpoint-every", "5", "--tag", "killed", restarts=1,
                   env_extra={"VAE_TEST_KILL": "1:28"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "resuming from step 25 of 40" in run.stderr
    assert sorted(audit.glob("*.json")) == [audit / f"rank{r}-try{t}.json" for r in (0, 1) for t in (0, 1)
                                            if (r, t) != (1, 0)]  # the killed rank wrote no record
    bundle = vc.load_bundle(models / "killed")
    assert bundle.metrics["status"] == "completed" and bundle.metrics["steps"] == 40
    assert bundle.metrics["resumed_at_steps"] == [25]
    test_rows = [r for r in bundle.metrics["history"] if r["split"] == "test"]
    assert [r["step"] for r in test_rows] == [20, 40]  # the history before the kill came back with the checkpoint
    assert max_difference(bundle.model.state_dict(), one_process(bundle)) < 1e-4
    assert sorted(p.name for p in models.iterdir()) == ["killed"]  # the checkpoint is gone once saved
    assert writes(audit, 1) == []

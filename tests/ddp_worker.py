"""One torchrun rank for tests/test_distributed.py: `python -m vae_core train …` with two test hooks.

- Every write this rank makes under $VAE_MODELS_DIR (files opened for writing, folders made,
  renames, removals: Python's audit events, which every save path passes through) is recorded
  and written at exit to $VAE_TEST_AUDIT/rank<RANK>-try<restart>.json (outside the models
  directory), so a test can check that rank 0 alone writes.
- $VAE_TEST_KILL="RANK:STEP" SIGKILLs that rank in the loss of that step, on the group's first
  try only (TORCHELASTIC_RESTART_COUNT 0): torchrun --max-restarts then restarts the group.

Usage: torchrun --standalone --nproc-per-node 2 tests/ddp_worker.py train --tag … (the CLI's arguments)
"""
import json
import os
import signal
import sys
from pathlib import Path

RANK = os.environ.get("RANK", "0")
TRY = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
MODELS = os.path.realpath(os.environ["VAE_MODELS_DIR"])
WRITES: list[list[str]] = []
WRITE_EVENTS = {"os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "shutil.rmtree", "os.truncate"}


def _under_models(path) -> bool:
    try:
        return os.path.realpath(os.fsdecode(path)).startswith(MODELS)
    except (TypeError, ValueError):
        return False


def audit(event, args):
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                  (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        if writing and _under_models(path):
            WRITES.append([event, os.fsdecode(path)])
    elif event in WRITE_EVENTS and args and _under_models(args[0]):
        WRITES.append([event, os.fsdecode(args[0])])


def kill_hook() -> None:
    spec = os.environ.get("VAE_TEST_KILL")
    if not spec or TRY != "0":
        return
    rank, step = spec.split(":")
    if rank != RANK:
        return
    import vae_core.training.loop as train_module

    real_make = train_module.make_objective

    def make(*args, **kwargs):
        objective = real_make(*args, **kwargs)
        real_loss = objective.loss

        def loss(model, x, s=0):
            if model.training and s == int(step):
                os.kill(os.getpid(), signal.SIGKILL)
            return real_loss(model, x, s)

        objective.loss = loss
        return objective

    train_module.make_objective = make


def main() -> int:
    sys.addaudithook(audit)
    kill_hook()
    from vae_core.cli import main as cli

    try:
        return cli(sys.argv[1:])
    finally:
        out = Path(os.environ["VAE_TEST_AUDIT"])
        records = list(WRITES)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"rank{RANK}-try{TRY}.json").write_text(json.dumps(records))


if __name__ == "__main__":
    sys.exit(main())

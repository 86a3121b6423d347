"""The project against its closest peer, whole processes: pytorch/examples' `vae/main.py`, unchanged,
against `python -m vae_core train` on the same model (784-400-20 MLP VAE, Bernoulli likelihood on the
greyscale images, Adam 1e-3 constant, batch 128), the same MNIST files and the same number of epochs,
each evaluating the whole test set every epoch. Runs alternate (peer, ours, peer, ours, …) so a load
that comes and goes falls on both; prints each run's wall and CPU seconds, the medians and their ratio,
with the load average before and after.

The peer is the user's own copy (nothing of it is part of this project):

    git clone https://github.com/pytorch/examples && python bench/bench_peer.py --peer examples/vae/main.py

Where torchvision cannot be installed (this project's machines), `--standin` puts `bench/peer_standin/`
on the peer's path: the three pieces of torchvision the peer imports, on the same per-sample path
(its README says what they do). The peer writes its sample and reconstruction PNGs into a scratch
folder; nothing is written into the project.

`--profile` then runs each program once more under py-spy (`pip install py-spy`; sampling, 100 Hz) and
prints where its wall time went, side by side: imports, the data path, forward and loss, backward, the
optimiser's step, the test evaluation, the rest.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "datasets"


def timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its last output line) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} … failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return wall, cpu, lines[-1] if lines else ""


# Where a sample's time goes: the first phase, in this order, with a function on its stack (a name, or a
# class whose method it is).
PHASES = (
    ("imports", ("_find_and_load",)),
    ("data path (the DataLoader)", ("_SingleProcessDataLoaderIter", "_MultiProcessingDataLoaderIter")),
    ("test evaluation", ("test", "EpochEnd.test_loss", "evaluate_loss")),
    ("backward", ("backward",)),
    ("optimiser step", ("Adam.step", "Optimizer.step")),
    ("forward and loss", ("Module._call_impl", "Module._wrapped_call_impl", "loss_function", "StandardVAE.loss")),
)


DYNAMO = "  of it, torch._dynamo"  # imported by any torch.optim optimiser as it is built


def profiled(cmd: list[str], cwd: Path, env: dict, out: Path) -> dict[str, float]:
    """Seconds of wall time per phase (PHASES, then "the rest") of one run of `cmd` under py-spy."""
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    subprocess.run([spy, "record", "-r", "100", "-f", "raw", "-o", str(out), "--", *cmd], cwd=cwd, env=env,
                   check=True, capture_output=True)
    seconds = dict.fromkeys([PHASES[0][0], DYNAMO] + [name for name, _ in PHASES[1:]] + ["the rest"], 0.0)
    for line in out.read_text().splitlines():
        stack, count = line.rsplit(" ", 1)
        names = [frame.split(" (")[0] for frame in stack.split(";")]
        phase = next((name for name, marks in PHASES
                      if any(n == m or n.startswith(m + ".") for n in names for m in marks)), "the rest")
        seconds[phase] += int(count) / 100
        if phase == "imports" and "Optimizer.__init__" in names:
            seconds[DYNAMO] += int(count) / 100
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", type=Path, required=True, help="pytorch/examples' vae/main.py (your copy)")
    parser.add_argument("--standin", action="store_true", help="the peer imports bench/peer_standin's torchvision")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS for both (and VAE_THREADS for ours): torch's default otherwise")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="a folder holding MNIST/raw/*.gz (default: $VAE_DATA_DIR or ../shared/datasets)")
    parser.add_argument("--profile", action="store_true", help="then where each program's time goes (py-spy)")
    args = parser.parse_args()
    data = args.data_dir or Path(os.environ.get("VAE_DATA_DIR") or SHARED_DATA)
    if not (data / "MNIST" / "raw").is_dir():
        raise SystemExit(f"MNIST not found under {data}: give --data-dir")
    scratch = Path(tempfile.mkdtemp(prefix="bench_peer_"))
    try:
        # The peer reads ../data relative to where it runs and writes into ./results.
        work = scratch / "work"
        (work / "results").mkdir(parents=True)
        (scratch / "data").symlink_to(data.resolve(), target_is_directory=True)
        peer_env = dict(os.environ)
        if args.standin:
            peer_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "bench" / "peer_standin"),
                                                                    peer_env.get("PYTHONPATH")]))
        peer = [sys.executable, str(args.peer.resolve()), "--epochs", str(args.epochs), "--no-accel"]
        ours_env = {**os.environ, "VAE_DATA_DIR": str(data.resolve()), "VAE_MODELS_DIR": str(scratch / "models")}
        if args.threads:
            for env in (peer_env, ours_env):
                env["OMP_NUM_THREADS"] = str(args.threads)
            ours_env["VAE_THREADS"] = str(args.threads)
        ours = [sys.executable, "-m", "vae_core", "train", "--hidden", "400", "--latent-dim", "20",
                "--no-binarize", "--schedule", "constant", "--lr", "1e-3", "--batch-size", "128",
                "--epochs", str(args.epochs), "--eval-subset", "10000", "--device", "cpu", "--overwrite",
                "--tag", "peer-bench"]
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; "
              f"{args.epochs} epochs; {args.pairs} pairs, alternating"
              + (f"; {args.threads} thread(s) each" if args.threads else "")
              + ("; peer on bench/peer_standin's torchvision" if args.standin else ""))
        rows = {"pytorch/examples vae/main.py": [], "python -m vae_core train": []}
        for pair in range(args.pairs):
            for name, cmd, env in (("pytorch/examples vae/main.py", peer, peer_env),
                                   ("python -m vae_core train", ours, ours_env)):
                wall, cpu, last = timed(cmd, work, env)
                rows[name].append((wall, cpu))
                print(f"  pair {pair + 1}  {name:<30} wall {wall:6.1f} s  CPU {cpu:6.1f} s   {last[:70]}")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        (peer_wall, peer_cpu), (ours_wall, ours_cpu) = (
            (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for r in rows.values())
        print(f"\n{'':<32}{'wall (median)':>14}{'CPU (median)':>14}")
        print(f"{'pytorch/examples vae/main.py':<32}{peer_wall:>12.1f} s{peer_cpu:>12.1f} s")
        print(f"{'python -m vae_core train':<32}{ours_wall:>12.1f} s{ours_cpu:>12.1f} s")
        print(f"{'ratio (peer / ours; goal ≥ 3)':<32}{peer_wall / ours_wall:>13.2f}×{peer_cpu / ours_cpu:>13.2f}×")
        if args.profile:
            split = {name: profiled(cmd, work, env, scratch / f"{i}.txt") for i, (name, cmd, env) in enumerate(
                (("pytorch/examples vae/main.py", peer, peer_env), ("python -m vae_core train", ours, ours_env)))}
            print(f"\nwhere the time goes (py-spy, one run each; load average {os.getloadavg()[0]:.2f})")
            print(f"{'':<32}{'peer':>10}{'ours':>10}")
            for phase in next(iter(split.values())):
                print(f"{phase:<32}" + "".join(f"{s[phase]:>8.1f} s" for s in split.values()))
            print(f"{'total':<32}" + "".join(f"{sum(v for k, v in s.items() if k != DYNAMO):>8.1f} s"
                                             for s in split.values()))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

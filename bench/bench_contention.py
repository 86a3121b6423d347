"""Training speed on a shared CPU: each thread configuration quiet and beside a one-core busy loop.

Prints figures, asserts nothing. For every configuration a fresh process (OpenMP reads its
environment once, when torch loads it) trains the 784-512-512-512-2 MLP VAE at batch 128 on real
MNIST for a fixed time per run, in three settings:

  cli    fit() in the main thread, as `python -m vae_core train` runs it;
  page   fit() in a background thread while the main thread decodes 8 points every 0.5 s, as
         the page's server process does (one process: the job thread and the script threads);
  page2  two such trainings at once (the server runs at most two); steps/s of both together;

each (a) quiet and (b) with `python -c "while True: pass"` beside it, started and stopped here.
The quiet and contended runs alternate, best of --repeats each, so a noisy neighbour (another
program that comes and goes) shows up as a spread between runs rather than as a false ratio.

Columns: quiet and contended steps/s (best, and every run in brackets), contended / quiet (goal
≥ 0.4), quiet / the best quiet of that setting over all configurations (goal ≥ 0.95), and for the
page settings the median time of the main thread's decodes, quiet / contended (the better run).

    python bench/bench_contention.py                 # five configurations, about 5 minutes
    python bench/bench_contention.py --seconds 3 --modes cli --configs default one governor
    taskset -c 0,1 python bench/bench_contention.py --synthetic   # two cores of a bigger machine

For the governor rows it also prints the share of steps run at 1 thread and its probes.

A load average above the number of cores at the start or the end means other programs shared the
CPU: then "quiet" was not quiet, and only side-by-side ratios from the same run mean anything.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "datasets"  # the workplace copy, as tests/conftest.py finds it

# name -> (description, environment); every other threading variable is cleared. GOMP_SPINCOUNT is
# how long an idle OpenMP thread spins before it sleeps: libgomp's default (OMP_WAIT_POLICY unset)
# is 300000 turns, about 3 ms here; PASSIVE means 0.
CONFIGS = {
    "default": ("2 threads (torch as it comes)", {"VAE_THREADS": "2"}),
    "one": ("1 thread", {"VAE_THREADS": "1", "OMP_NUM_THREADS": "1"}),
    "passive": ("2 threads, OMP_WAIT_POLICY=PASSIVE", {"VAE_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}),
    "spin1k": ("2 threads, GOMP_SPINCOUNT=1000", {"VAE_THREADS": "2", "GOMP_SPINCOUNT": "1000"}),
    "spin10k": ("2 threads, GOMP_SPINCOUNT=10000", {"VAE_THREADS": "2", "GOMP_SPINCOUNT": "10000"}),
    "governor": ("vae_core: the thread governor", {}),
    "governor1k": ("the governor, GOMP_SPINCOUNT=1000", {"GOMP_SPINCOUNT": "1000"}),
}
DEFAULT_CONFIGS = ("default", "one", "passive", "spin1k", "governor")
MODES = ("cli", "page", "page2")
CLEARED = ("VAE_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ------------------------------------------------------------------------------------- child side

def child(args) -> None:
    import torch

    from vae_core import ModelConfig, TrainConfig, build_model, decode, fit, load_split
    from vae_core.training import runtime

    pacers = []

    class Recorded(runtime.Pacer):
        """The loop's pacer, keeping the thread count of every step for the table."""

        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.counts = []
            pacers.append(self)

        def tick(self, step):
            self.counts.append(torch.get_num_threads())
            super().tick(step)

    sys.modules["vae_core.training.loop"].Pacer = Recorded

    model_cfg = ModelConfig(hidden=(512, 512, 512), latent_dim=2)
    if args.synthetic:  # where the data files are not (the speed of dense layers does not depend on pixels)
        from vae_core.data import Split

        g = torch.Generator().manual_seed(0)
        images = ((torch.rand(60_000, 1, 28, 28, generator=g) < 0.19) * 255).to(torch.uint8)
        split = Split("mnist", "train", images, torch.zeros(60_000, dtype=torch.int64))
        test = Split("mnist", "test", images[:1000], torch.zeros(1000, dtype=torch.int64))
    else:
        split = load_split("mnist", "train", data_dir=args.data_dir, download=False)
        test = load_split("mnist", "test", data_dir=args.data_dir, download=False)
    cfg = TrainConfig(epochs=2, batch_size=128, eval_subset=0, seed=0, schedule="constant", device="cpu")
    page_model = build_model(model_cfg).eval()  # the model the page decodes with
    z = torch.randn(8, 2)

    def run_one(seconds: float, out: dict, key: int) -> None:
        deadline = []

        def stop() -> bool:  # the clock starts at the loop's first check, after the setup
            if not deadline:
                deadline.append(time.perf_counter() + seconds)
            return time.perf_counter() >= deadline[0]

        result = fit(model_cfg, cfg, train_split=split, test_split=test, should_stop=stop)
        out[key] = result.steps / result.seconds

    fit(model_cfg, cfg.replace(max_iters=30), train_split=split, test_split=test)  # one-off costs

    def measure(mode: str) -> dict:
        if mode == "cli":
            out: dict = {}
            run_one(args.seconds, out, 0)
            return {"steps_s": out[0]}
        out = {}
        n = 2 if mode == "page2" else 1
        workers = [threading.Thread(target=run_one, args=(args.seconds, out, i)) for i in range(n)]
        for w in workers:
            w.start()
        decode_ms = []
        while any(w.is_alive() for w in workers):  # the page: a few points decoded now and then
            t = time.perf_counter()
            decode(page_model, z)
            decode_ms.append((time.perf_counter() - t) * 1e3)
            for w in workers:
                w.join(timeout=0.5)
        decode_ms.sort()
        return {"steps_s": sum(out.values()), "decode_ms": decode_ms[len(decode_ms) // 2] if decode_ms else None}

    def thread_use() -> dict:
        counts = [n for p in pacers for n in p.counts]
        gov = [p.governor for p in pacers if p.governor is not None]
        pacers.clear()
        return {"one_thread": counts.count(1) / max(1, len(counts)),
                "probes": sum(g.probes for g in gov), "switches": sum(g.switches for g in gov)}

    for rep in range(args.repeats):
        for mode in args.modes:
            for contended in (False, True):
                busy = None
                if contended:
                    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                    time.sleep(0.3)
                pacers.clear()
                try:
                    row = measure(mode)
                    row.update(thread_use())
                finally:
                    if busy is not None:
                        busy.kill()
                        busy.wait()
                print(json.dumps({"mode": mode, "contended": contended, "rep": rep, **row}), flush=True)


# ------------------------------------------------------------------------------------ parent side

def run_config(name: str, args) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(CONFIGS[name][1])
    if not env.get("VAE_DATA_DIR") and (SHARED_DATA / "MNIST" / "raw").is_dir():
        env["VAE_DATA_DIR"] = str(SHARED_DATA)
    cmd = [sys.executable, __file__, "--child", "--seconds", str(args.seconds), "--repeats", str(args.repeats),
           "--modes", *args.modes] + (["--data-dir", args.data_dir] if args.data_dir else []) \
        + (["--synthetic"] if args.synthetic else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"configuration {name} failed:\n{proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each timed run")
    parser.add_argument("--repeats", type=int, default=2, help="quiet/contended pairs per setting (best is shown)")
    parser.add_argument("--data-dir", help="folder holding MNIST/raw (default $VAE_DATA_DIR)")
    parser.add_argument("--synthetic", action="store_true",
                        help="random binary images shaped like MNIST instead of the data files (same speed)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    print("share of steps at 1 thread, probes and switches of the governor (summed over runs) follow each row")
    import torch

    print(f"torch {torch.__version__}; {len(os.sched_getaffinity(0))} of {os.cpu_count()} CPUs "
          f"(affinity {sorted(os.sched_getaffinity(0))}); {args.seconds:g} s per run, best of {args.repeats}; "
          f"load average {loadavg()} at start")
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    results = {}
    for name in args.configs:
        t = time.perf_counter()
        results[name] = run_config(name, args)
        print(f"  {name:12s} done in {time.perf_counter() - t:5.1f} s, load average {loadavg()}", flush=True)

    def runs(name, mode, contended):
        return [r for r in results[name] if r["mode"] == mode and r["contended"] == contended]

    for mode in args.modes:
        best_quiet = max(max(r["steps_s"] for r in runs(n, mode, False)) for n in args.configs)
        print(f"\n{mode}: steps/s (best; every run)" + ("  — both trainings together" if mode == "page2" else ""))
        header = f"{'configuration':44s} {'quiet':>20s} {'contended':>20s} {'cont/quiet':>10s} {'q/best q':>9s}"
        print(header + ("  decode ms q/c" if mode != "cli" else ""))
        for name in args.configs:
            q, c = runs(name, mode, False), runs(name, mode, True)
            bq, bc = max(r["steps_s"] for r in q), max(r["steps_s"] for r in c)
            qs = f"{bq:5.1f} ({', '.join(format(r['steps_s'], '.0f') for r in q)})"
            cs = f"{bc:5.1f} ({', '.join(format(r['steps_s'], '.0f') for r in c)})"
            line = f"{CONFIGS[name][0]:44s} {qs:>20s} {cs:>20s} {bc / bq:10.2f} {bq / best_quiet:9.2f}"
            if mode != "cli":
                dq = min(r["decode_ms"] for r in q if r["decode_ms"] is not None)
                dc = min(r["decode_ms"] for r in c if r["decode_ms"] is not None)
                line += f"  {dq:5.1f} / {dc:5.1f}"
            if name.startswith("governor"):
                for label, rows in (("quiet", q), ("contended", c)):
                    line += (f"\n    {label}: at 1 thread " + ", ".join(format(r["one_thread"], ".0%") for r in rows)
                             + f" of steps; {sum(r['probes'] for r in rows)} probes, "
                             f"{sum(r['switches'] for r in rows)} switches")
            print(line)
    cores = len(os.sched_getaffinity(0))
    print(f"\nload average {loadavg()} at the end (above ~{cores} means other programs shared the CPU)")
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()

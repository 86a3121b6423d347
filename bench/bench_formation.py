"""What watching the space form costs a training started from the page (issue 17 §2: ≤ 5 % slower).

The same training runs as a page job (vae_core.training.jobs, the Train tab's path) with and without
its formation (`formation_images` 2000 or 0), alternately, with a watcher calling `job.watch()` and
`job.view()` once a second as the page's progress fragment does. With a formation the job encodes the 2,000 test images
before training and at each epoch's end (kept in formation.npz) and, between epochs, at progress
reports within Formation.live's time budget (what the live map shows). Prints the loop's own time for
each run (the last report's `elapsed`: the steps, reports, test losses and encodes, not the saving),
the medians side by side, their ratio, and the load average before and after (a busy machine blurs
the figures). Asserts nothing.

    python bench/bench_formation.py                 # the page's defaults: 512-512-512 MLP, all 60,000 images, 1 epoch
    python bench/bench_formation.py --pairs 5 --subset 12000 --epochs 3   # short epochs: the kept frames weigh more
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
from pathlib import Path

import vae_core as vc
from vae_core.training import jobs

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "datasets"  # the workplace copy, as tests/conftest.py finds it


def one_run(registry: jobs.JobRegistry, root: Path, tag: str, formation: int, args, data_dir) -> dict:
    model_cfg = vc.ModelConfig(hidden=tuple(args.hidden), latent_dim=args.latent_dim)
    train_cfg = vc.TrainConfig(epochs=args.epochs, batch_size=args.batch, train_subset=args.subset or None,
                               eval_subset=2000, formation_images=formation, seed=0)
    job = registry.start(model_cfg, train_cfg, tag, models_root=root, data_dir=data_dir, download=False)
    shown, stop = [], threading.Event()

    def watch():  # the page's progress fragment: one view a second
        while not stop.wait(1.0):
            job.watch()
            v = job.view()
            if v.codes is not None and (not shown or shown[-1] != v.codes_step):
                shown.append(v.codes_step)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    job.join()
    stop.set()
    watcher.join()
    v = job.view()
    if v.state != jobs.COMPLETED:
        raise SystemExit(f"{tag}: {v.state}: {v.message}")
    encodes = job._formation.encode_seconds if job._formation is not None else 0.0  # kept and live
    return {"seconds": v.history[-1]["elapsed"], "steps": v.step, "frames_seen": len(shown), "encodes": encodes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=3, help="runs with and without, alternately (default 3 each)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--subset", type=int, default=0, help="training images (default 0: all 60,000)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--hidden", type=int, nargs="+", default=[512, 512, 512])
    ap.add_argument("--latent-dim", type=int, default=2)
    args = ap.parse_args()
    data_dir = os.environ.get("VAE_DATA_DIR") or str(SHARED_DATA)
    load_before = os.getloadavg()
    print(f"torch threads {__import__('torch').get_num_threads()}, cores {os.cpu_count()}; "
          f"MLP {args.hidden}, d = {args.latent_dim}, batch {args.batch}, {args.epochs} epochs on "
          f"{args.subset or 60000:,} "
          f"MNIST images; load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    registry = jobs.JobRegistry(max_running=1)
    runs = {"without": [], "with": []}
    with tempfile.TemporaryDirectory(prefix="bench-formation-") as tmp:
        root = Path(tmp)
        for i in range(args.pairs):
            for name, n in (("without", 0), ("with", 2000)) if i % 2 == 0 else (("with", 2000), ("without", 0)):
                r = one_run(registry, root, f"{name}-{i}", n, args, data_dir)
                runs[name].append(r)
                print(f"  pair {i + 1} {name:>7} formation: {r['seconds']:6.2f} s for {r['steps']} steps"
                      + (f", {r['frames_seen']} new maps seen, encodes {r['encodes']:.2f} s "
                         f"({100 * r['encodes'] / r['seconds']:.1f} % of the loop)" if n else ""), flush=True)
    load_after = os.getloadavg()
    a = statistics.median(r["seconds"] for r in runs["without"])
    b = statistics.median(r["seconds"] for r in runs["with"])
    print(f"\n{'':>22}{'without':>10}{'with':>10}")
    print(f"{'median loop time (s)':>22}{a:>10.2f}{b:>10.2f}")
    print(f"{'runs (s)':>22}{'':>10}{'':>10}")
    for r0, r1 in zip(runs["without"], runs["with"]):
        print(f"{'':>22}{r0['seconds']:>10.2f}{r1['seconds']:>10.2f}")
    share = statistics.median(r["encodes"] / r["seconds"] for r in runs["with"])
    a_min, b_min = min(r["seconds"] for r in runs["without"]), min(r["seconds"] for r in runs["with"])
    print(f"{'fastest run (s)':>22}{a_min:>10.2f}{b_min:>10.2f}   (the least disturbed by other work)")
    print(f"with / without: medians {b / a:.3f} ({100 * (b / a - 1):+.1f} %), fastest runs {b_min / a_min:.3f} "
          f"({100 * (b_min / a_min - 1):+.1f} %); goal ≤ 1.05")
    print(f"the encodes' own share of the loop with a formation (median): {100 * share:.1f} % (timed inside the "
          "run, so other work on the machine blurs it less than the ratio above)")
    print(f"load average after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()

"""The page's speed goals (issue 3), measured and printed; not a test.

    python bench/bench_app.py            # everything (about 3 minutes on 2 cores)
    python bench/bench_app.py --skip-training
    python bench/bench_app.py --skip-training --old d67adad   # (1) also for the page of that revision

(1) cold start: a fresh process first starts Streamlit (its import, and a first run of an empty
    script: what a server does before any page), then runs the page script once with AppTest (its
    imports, the shipped models' folders and kept first views, both 20×20 grids, the open tab) and
    says whether that run imported torch; then once more (still without torch: a server imports it
    when the browser says the map is drawn, explorer/warmup.py, and AppTest has no browser). Alternated with a fresh process that only imports torch: the goal is a page
    script's first run no slower than that import;
(2) a latent point decoded on the server, for both models (decode, encode the two images as PNG),
    best and median of many: what a move costs where the browser cannot decode (the latent map's
    server fallback; in the browser the map decodes itself and the server does nothing);
(3) in-app training with the form's defaults (2-D MLP VAE, MNIST, 10 epochs, batch 128, lr 1e-3),
    as a background job like the page's:
    seconds until the test −ELBO (binarised, 2,000 images) first reaches ≤ 145 nats, and the cost of
    the progress reports the page draws from (twice a second) against a run that reports only
    at epoch ends.
The browser-side figures (page drawn, hover and drag on the latent map) come from
`python bench/bench_map.py`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_COLD_S, GOAL_SLIDER_MS, GOAL_TRAIN_S, GOAL_NATS, GOAL_OVERHEAD = 3.0, 50.0, 60.0, 145.0, 0.05


def data_dir() -> str:
    return os.environ.get("VAE_DATA_DIR") or str(ROOT.parent / "shared" / "datasets")


def cold_start(root: Path = ROOT) -> tuple[float, float, float, bool]:
    """(Streamlit's start, the page script's first run, its second run, whether the first imported torch)
    in a fresh interpreter, seconds, for the page of the checkout `root`."""
    code = textwrap.dedent(f"""
        import sys, tempfile, time
        t0 = time.perf_counter()
        from streamlit.testing.v1 import AppTest
        with tempfile.NamedTemporaryFile("w", suffix=".py") as empty:
            AppTest.from_file(empty.name).run()
        t1 = time.perf_counter()
        at = AppTest.from_file({str(root / "explorer_app.py")!r}, default_timeout=120)
        at.run()
        t2 = time.perf_counter()
        imported = "torch" in sys.modules  # AppTest has no browser to say the map is drawn: no background import
        assert not at.exception, at.exception
        at.run()
        t3 = time.perf_counter()
        print(t1 - t0, t2 - t1, t3 - t2, int(imported))
    """)
    env = {**os.environ, "VAE_DATA_DIR": data_dir()}
    if root != ROOT:  # its own vae_core and explorer, ahead of the installed ones
        env["PYTHONPATH"] = str(root)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root,
                         check=True).stdout.split()
    return float(out[-4]), float(out[-3]), float(out[-2]), bool(int(out[-1]))


def old_checkout(rev: str) -> Path:
    """The page of an older revision, in a throw-away worktree (for the side-by-side cold start)."""
    folder = Path(tempfile.mkdtemp(prefix="vae-old-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), rev], check=True,
                   capture_output=True)
    return folder


def import_torch_alone() -> float:
    """Seconds a fresh interpreter takes to import torch and nothing else: the bar for the page's cold start."""
    code = "import time; t = time.perf_counter(); import torch; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                 .stdout.split()[-1])


def slider_work(repeats: int = 200) -> tuple[float, float]:
    """(best, median) ms of the server-side decode of one point for the two shipped MNIST models."""
    import numpy as np

    import vae_core as vc

    models = [vc.load_bundle(vc.PRETRAINED_DIR / name).model for name in ("mnist-vae", "mnist-mmd")]
    times = []
    rng = np.random.default_rng(0)
    for _ in range(repeats):
        z = rng.normal(size=2).astype(np.float32)
        t = time.perf_counter()
        for model in models:
            image = vc.decode(model, z)[0]
            vc.png_bytes(np.kron(image, np.ones((5, 5), np.float32)))  # the 140-px image the page shows
        times.append((time.perf_counter() - t) * 1000)
    return min(times), statistics.median(times)


def training():
    """The form's defaults, run as the page runs them: a vae_core.training.jobs job in a background thread,
    after the page's own decoding has already started torch's worker threads."""
    import tempfile

    import vae_core as vc
    from vae_core.training import jobs

    cfg = vc.TrainConfig(dataset="mnist", epochs=10)  # the form's defaults
    with tempfile.TemporaryDirectory() as models:
        job = jobs.JobRegistry().start(vc.ModelConfig(), cfg, "bench-default", owner="bench", data_dir=data_dir(),
                                       models_root=Path(models))
        job.join()
        return job.view()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--overhead-epochs", type=int, default=2, help="epochs per run of the overhead pair")
    parser.add_argument("--old", help="a git revision whose page's cold start to time beside this one's")
    args = parser.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    print("-" * 86)
    old_tree = old_checkout(args.old) if args.old else None
    pairs, old_pairs = [], []
    try:
        for _ in range(3):  # alternated, so a busy moment on a shared CPU hits both
            pairs.append((import_torch_alone(), *cold_start()))
            if old_tree is not None:
                old_pairs.append(cold_start(old_tree))
    finally:
        if old_tree is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)],
                           capture_output=True)
    alone, streamlit, first, second = (statistics.median(p[i] for p in pairs) for i in range(4))
    torch_in_first = sum(p[4] for p in pairs)
    print(f"(1) Streamlit's own start (import, an empty script)     {streamlit:6.2f} s")
    print(f"    page script, first run in a fresh process            {first:6.2f} s  (goal < {GOAL_COLD_S} s; "
          f"imported torch in {torch_in_first} of {len(pairs)})")
    print(f"    `import torch` alone in a fresh process              {alone:6.2f} s  (goal: the first run ≤ this; "
          f"now {first / alone:.2f}×)")
    print(f"    page script, second run                              {second:6.2f} s  (medians of 3 alternated)")
    if old_pairs:
        old_first, old_second = (statistics.median(p[i] for p in old_pairs) for i in (1, 2))
        print(f"    the page at {args.old}: first run {old_first:.2f} s ({old_first / alone:.2f}× torch's import; "
              f"imported torch in {sum(p[3] for p in old_pairs)} of {len(old_pairs)}), second {old_second:.2f} s")
    best, median = slider_work()
    print(f"(2) server-side decode, both models (best / median)     {best:6.2f} / {median:.2f} ms "
          f"(goal < {GOAL_SLIDER_MS:.0f} ms)")
    if not args.skip_training:
        view = training()
        tests = [r for r in view.history if r["split"] == "test"]
        reports = [r for r in view.history if r["split"] == "train"]
        reached = next((r for r in tests if r["total"] <= GOAL_NATS), None)
        when = f"{reached['elapsed']:.1f} s (epoch {reached['epoch']:.0f})" if reached else "never"
        print(f"(3) in-app default training: test −ELBO ≤ {GOAL_NATS:.0f} after      {when}  (goal ≤ {GOAL_TRAIN_S:.0f} s)")
        seconds = tests[-1]["elapsed"]
        print(f"    after 10 epochs: test −ELBO {tests[-1]['total']:.1f} nats in {seconds:.1f} s "
              f"({view.state}); {len(reports)} progress reports ({len(reports) / seconds:.1f}/s)")
        # The overhead pair, alternated and repeated so drift on a shared CPU cancels out.
        import vae_core as vc

        short = vc.TrainConfig(dataset="mnist", epochs=args.overhead_epochs, eval_subset=2000)
        timings = {0.5: [], 1e9: []}
        for _ in range(2):
            for every in (0.5, 1e9):
                r = vc.fit(vc.ModelConfig(), short, data_dir=data_dir(), callback=lambda p: None,
                             report_seconds=every)
                timings[every].append(r.seconds)
        with_reports, without = min(timings[0.5]), min(timings[1e9])
        print(f"    progress reports every 0.5 s vs only at epoch ends    {with_reports:.2f} s vs {without:.2f} s "
              f"= {with_reports / without - 1:+.1%}  (goal ≤ {GOAL_OVERHEAD:.0%})")
    print("-" * 86)
    print(f"load average {os.getloadavg()[0]:.2f} at the end (above ~2 means the CPU was shared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

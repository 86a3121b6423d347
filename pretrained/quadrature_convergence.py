"""Show that the quadrature log-likelihood of a 2-D model has converged: refine the grid and widen
its limits until the estimate stops moving.

    python pretrained/quadrature_convergence.py [model folder] [--n 1000]
"""
import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from vae_core import load_bundle, load_split, quadrature_log_likelihood  # noqa: E402
from vae_core.data import fixed_binarization  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("model", nargs="?", default=str(ROOT / "pretrained" / "mnist-vae"))
parser.add_argument("--n", type=int, default=1000, help="first N test images")
args = parser.parse_args()
bundle = load_bundle(args.model)
x = fixed_binarization(load_split(bundle.dataset, "test").images, seed=0)[:args.n]
print(f"{Path(args.model).name}, first {args.n} test images (binarisation seed 0)")
print("| grid | limit | NLL (nats) | seconds |")
print("|---|---|---|---|")
for grid, limit in ((100, 6.0), (200, 6.0), (400, 6.0), (800, 6.0), (800, 8.0)):
    t = time.perf_counter()
    nll = -quadrature_log_likelihood(bundle.model, x, grid=grid, limit=limit).mean()
    print(f"| {grid}² | ±{limit:g} | {nll:.3f} | {time.perf_counter() - t:.1f} |", flush=True)

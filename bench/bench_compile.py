"""Does `torch.compile` pay for CPU training of the project's models, counting its compile time?
Prints figures, asserts nothing; writes nothing into the project except the `--log` file.

Per training step on the CPU (the whole step: batch indexing, uint8 -> float, dynamic binarisation where
the run has it, the loss, backward, Adam), for the default 2-D MLP VAE (784-512-512-512-2·2, ReLU,
Bernoulli, binarised, cosine schedule) and the peer-sized 784-400-20 VAE (greyscale into the Bernoulli
likelihood, constant learning rate: bench/bench_peer.py's settings), batch 128, at each thread count:

  eager      the library's step as vae_core.training.loop does it: objective.loss(model, x, step) ->
             LossParts, zero_grad, backward, fused Adam (lr set per step by the loop's own _set_lr).
  compiled   torch.compile(loss, dynamic=False), default mode: forward + loss (and, through AOTAutograd,
             its backward) compiled; the optimiser step stays eager fused Adam.
  autotune   the same with mode="max-autotune-no-cudagraphs".
  whole      the compiled loss + torch.compile(opt.step) on foreach Adam (capturable, lr held in a tensor
             filled in place, so the cosine schedule does not recompile it). The backward itself runs
             through the compiled loss's AOTAutograd backward graph (no compiled autograd).

The loss that is compiled is `loss_terms` below, a line-for-line copy of StandardVAE.loss (samples 1,
β 1, analytic KL) that returns a tuple: the library's own objective.loss cannot be traced (its
LossParts, a __slots__ class with __getattr__, sends Dynamo into a RecursionError; the error is printed).
dynamic=False because a symbolic batch size fails in the reparameterisation's torch.randn (printed
too): the epoch's last, partial batch (60000 - 468·128 = 96 images) then gets a second static compile,
which is timed and counted.

Timing: the first step at batch 128 and the first at batch 96 (each includes compiling the forward and
the backward graph), then steady steps in blocks of about --block seconds, the variants alternating in a
rotating order for --rounds rounds, so a load that comes and goes falls on all; the median step of each.
Every variant compiles in a fresh inductor cache (a new folder under TORCHINDUCTOR_CACHE_DIR, by
default a new temporary one, and inductor's in-memory caches cleared): cold compiles, as a first run on a
machine; a second run of the same model would find its kernels cached (not measured here). 3-epoch and 30-epoch totals = compile overhead + steps × median step.

Randomness: with inductor's default (fallback_random=False) the reparameterisation noise is drawn by
inductor's own generator (seeded from torch's global generator), not by aten's randn, so the same seed
gives other eps than eager. The loss check therefore compiles the forward a second time with
fallback_random=True (aten's randn) and compares it with eager on the same weights, inputs and seed.

    VAE_DATA_DIR=/work/shared/datasets python bench/bench_compile.py \
        --log docs/measurements/bench_compile-2026-12-04.log
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import tempfile
import time
import types
from pathlib import Path

if not os.environ.get("TORCHINDUCTOR_CACHE_DIR"):  # before torch._inductor reads it: cold compiles
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench_compile_inductor_")

import torch  # noqa: E402

import vae_core as vc  # noqa: E402
from vae_core.config import binarizes  # noqa: E402
from vae_core.data import binarize, to_float  # noqa: E402
from vae_core.model.densities import reparameterize  # noqa: E402
from vae_core.objectives import make_objective  # noqa: E402
from vae_core.training.loop import _lr_at, _set_lr  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "datasets"
if not os.environ.get("VAE_DATA_DIR") and (SHARED_DATA / "MNIST" / "raw").is_dir():
    os.environ["VAE_DATA_DIR"] = str(SHARED_DATA)

BATCH = 128
N_TRAIN = 60_000
STEPS_PER_EPOCH = math.ceil(N_TRAIN / BATCH)  # 469: 468 full batches and one of 96
LAST = N_TRAIN - (STEPS_PER_EPOCH - 1) * BATCH  # 96
RTOL = 1e-4

MODELS = {  # name: (model config, train config)
    "2-D MLP 784-512-512-512-2": (vc.ModelConfig(), vc.TrainConfig(epochs=3)),
    "peer 784-400-20": (vc.ModelConfig(hidden=(400,), latent_dim=20),
                        vc.TrainConfig(epochs=3, binarize=False, schedule="constant")),
}

LOG: list[str] = []


def out(line: str = "") -> None:
    print(line, flush=True)
    LOG.append(line)


def loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def loss_terms(model, x):
    """StandardVAE.loss (samples 1, β 1, analytic KL for the N(0, I) prior), returning a tuple."""
    samples = 1
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar, samples=samples)  # (L, B, D)
    logits = model.decode(z.flatten(0, 1))
    log_px_z = model.likelihood.log_prob(logits, x.expand(samples, *x.shape).flatten(0, 1)).view(samples, -1)
    recon = -log_px_z.mean()
    kl = model.prior.kl(mu, logvar, z).mean()
    return recon + 1.0 * kl, recon, kl


def fresh(fn, tag: str):
    """A copy of `fn` with its own code object: Dynamo keeps its compiled graphs per code object, so
    each variant compiles (and is timed) on its own instead of reusing another's graph."""
    code = fn.__code__.replace(co_name=f"{fn.__name__}_{tag}", co_qualname=f"{fn.__name__}_{tag}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


def cache_entries(fn) -> int | None:
    try:
        fn = getattr(fn, "_torchdynamo_orig_callable", fn)  # the compiled wrapper's own function
        return len(torch._C._dynamo.eval_frame._debug_get_cache_entry_list(fn.__code__))
    except Exception:  # a private helper: absent in another torch
        return None


def cold_cache():
    """A fresh inductor cache (a new folder, in-memory caches cleared) for the compiles inside: cold
    compile times. The folder is kept (compiled graphs may load from it later)."""
    try:
        from torch._inductor.utils import fresh_cache
    except ImportError:  # torch < 2.8 names it fresh_inductor_cache
        from torch._inductor.utils import fresh_inductor_cache as fresh_cache
    return fresh_cache(dir=os.environ["TORCHINDUCTOR_CACHE_DIR"], delete=False)


def first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    got = next((ln for ln in lines if "got RuntimeError" in ln), None)  # the fake-tensor error's cause
    if got:
        text += " … " + got[got.index("got RuntimeError"):]
    return f"{type(exc).__name__}: {text}"[:330]


class Variant:
    def __init__(self, name: str, model_cfg, train_cfg, base_state, *, loss=None, whole=False):
        self.name, self.cfg = name, train_cfg
        self.model = vc.build_model(model_cfg, "cpu").train()
        self.model.load_state_dict(base_state)  # every variant starts from the same weights
        self.loss, self.whole = loss, whole
        self.objective = make_objective(model_cfg.objective, train_cfg, total_steps=STEPS_PER_EPOCH * 3)
        if whole:
            self.lr = torch.tensor(train_cfg.lr)
            self.opt = torch.optim.Adam(self.model.parameters(), lr=self.lr, foreach=True, capturable=True)
            opt = self.opt

            def opt_step():
                opt.step()

            self.opt_step = torch.compile(fresh(opt_step, "whole"))
        else:
            self.opt = torch.optim.Adam(self.model.parameters(), lr=train_cfg.lr, fused=True)  # loop._optimizer
            self.opt_step = self.opt.step
        self.step_no = 0
        self.times: list[float] = []
        self.first128 = self.first96 = None
        self.first_loss: float | None = None

    def step(self, x: torch.Tensor) -> torch.Tensor:
        lr = _lr_at(self.cfg, self.step_no, STEPS_PER_EPOCH * 3)
        if self.whole:
            self.lr.fill_(lr)
        else:
            _set_lr(self.opt, lr)
        if self.loss is None:
            total = self.objective.loss(self.model, x, self.step_no).total
        else:
            total = self.loss(self.model, x)[0]
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt_step()
        self.step_no += 1
        return total.detach()


class Batches:
    """The loop's batches: a seeded permutation, uint8 rows -> float, binarised with a seeded generator."""

    def __init__(self, images: torch.Tensor, binary: bool, seed: int = 0):
        self.images, self.binary = images, binary
        self.g_order, self.g_data = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        self.order, self.i = torch.randperm(len(images), generator=self.g_order), 0

    def get(self, size: int = BATCH) -> torch.Tensor:
        if self.i + size > len(self.images):
            self.order, self.i = torch.randperm(len(self.images), generator=self.g_order), 0
        x = to_float(self.images[self.order[self.i:self.i + size]])
        self.i += size
        return binarize(x, self.g_data) if self.binary else x


def timed_step(v: Variant, batches: Batches, size: int = BATCH) -> tuple[float, torch.Tensor]:
    t = time.perf_counter()
    x = batches.get(size)
    total = v.step(x)
    return time.perf_counter() - t, total


def check_loss(name, model_cfg, train_cfg, base_state, images, binary) -> None:
    """Eager objective.loss vs the compiled forward on the same weights, inputs and seed."""
    model = vc.build_model(model_cfg, "cpu").train()
    model.load_state_dict(base_state)
    objective = make_objective(model_cfg.objective, train_cfg)
    g = torch.Generator().manual_seed(7)
    x = to_float(images[:BATCH])
    x = binarize(x, g) if binary else x
    with torch.no_grad():
        torch.manual_seed(123)
        eager = objective.loss(model, x, 0)
        e = [float(eager.total), float(eager.recon), float(eager.kl)]
        results = {}
        for label, options in (("fallback_random=True (aten randn)", {"fallback_random": True}),
                               ("default RNG (inductor's randn)", {})):
            fn = torch.compile(fresh(loss_terms, f"check{len(results)}"), dynamic=False, options=options or None)
            with cold_cache():
                t = time.perf_counter()
                torch.manual_seed(123)
                c = [float(v) for v in fn(model, x)]
                seconds = time.perf_counter() - t
            torch.manual_seed(123)
            again = [float(v) for v in fn(model, x)]
            results[label] = (c, seconds, again == c)
    out(f"  {name}: eager objective.loss (seed 123): total {e[0]:.6f}  recon {e[1]:.6f}  kl {e[2]:.6f}")
    for label, (c, seconds, repeatable) in results.items():
        rel = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(c, e))
        verdict = "within" if rel <= RTOL else "NOT within"
        out(f"    compiled forward, {label}: total {c[0]:.6f}  recon {c[1]:.6f}  kl {c[2]:.6f}  "
            f"max rel diff {rel:.2e} ({verdict} rtol {RTOL:g}); same seed again gives the same loss: "
            f"{'yes' if repeatable else 'NO'}; first call {seconds:.1f} s")


def demo_failures(model_cfg, train_cfg) -> None:
    """What fails, cheaply (forward only, no grad): the library's objective.loss, and a symbolic batch."""
    model = vc.build_model(model_cfg, "cpu").train()
    objective = make_objective(model_cfg.objective, train_cfg)
    x = torch.rand(BATCH, 1, 28, 28)
    cases = (("torch.compile(objective.loss) (returns LossParts)",
              lambda: torch.compile(objective.loss)(model, x, 0)),
             ("torch.compile(loss_terms, dynamic=True) (symbolic batch size)",
              lambda: torch.compile(fresh(loss_terms, "dyn"), dynamic=True)(model, x)))
    for label, call in cases:
        t = time.perf_counter()
        try:
            with torch.no_grad():
                call()
            out(f"  {label}: compiled fine ({time.perf_counter() - t:.1f} s)")
        except Exception as exc:
            out(f"  {label}: FAILS after {time.perf_counter() - t:.1f} s: {first_line(exc)}")


def run_config(name, model_cfg, train_cfg, base_state, images, threads, variants_wanted, args) -> list[dict]:
    torch.set_num_threads(threads)
    binary = binarizes(model_cfg, train_cfg)
    out(f"\n[{name}, {threads} thread(s)]  load average {loadavg()} at start")
    variants = [Variant("eager (library step, fused Adam)", model_cfg, train_cfg, base_state)]
    shared_loss = None
    if "compiled" in variants_wanted:
        shared_loss = torch.compile(fresh(loss_terms, f"c{threads}"), dynamic=False)
        variants.append(Variant("compiled loss, default mode", model_cfg, train_cfg, base_state, loss=shared_loss))
    if "autotune" in variants_wanted:
        fn = torch.compile(fresh(loss_terms, f"a{threads}"), dynamic=False, mode="max-autotune-no-cudagraphs")
        variants.append(Variant("compiled loss, max-autotune-no-cudagraphs", model_cfg, train_cfg, base_state,
                                loss=fn))
    if "whole" in variants_wanted and shared_loss is not None:
        # Shares the compiled loss's graphs (another model of the same shapes: no recompile), so its own
        # compile cost is the optimiser's; its total counts the loss's compile as well.
        variants.append(Variant("whole step: compiled loss + compiled foreach Adam", model_cfg, train_cfg,
                                base_state, loss=shared_loss, whole=True))
    batches = {v.name: Batches(images, binary) for v in variants}
    # First calls (compiles), then two more of each size, in order. Each variant's in a fresh inductor
    # cache (on disk and in memory), so one variant's compile does not reuse the kernels of another's.
    for v in variants:
        with cold_cache():
            torch.manual_seed(123)
            v.first128, total = timed_step(v, batches[v.name])
            v.first_loss = float(total)
            for _ in range(2):
                timed_step(v, batches[v.name])
            v.first96, _ = timed_step(v, batches[v.name], LAST)
        timed_step(v, batches[v.name], LAST)
        for _ in range(3):
            timed_step(v, batches[v.name])
        out(f"  {v.name}: first step at 128 {v.first128:.2f} s, first at {LAST} {v.first96:.2f} s; "
            f"first-step loss {v.first_loss:.4f} (seed 123)")
    # Steady steps, alternating.
    for r in range(args.rounds):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for v in order:
            start, n = time.perf_counter(), 0
            while n < args.min_steps or time.perf_counter() - start < args.block:
                dt, _ = timed_step(v, batches[v.name])
                v.times.append(dt)
                n += 1
    out(f"  load average {loadavg()} after the timing")
    rows = []
    eager_ms = statistics.median(variants[0].times) * 1e3
    for v in variants:
        ms = statistics.median(v.times) * 1e3
        overhead = 0.0 if v is variants[0] else max(v.first128 - ms / 1e3, 0) + max(v.first96 - ms / 1e3, 0)
        if v.whole and shared_loss is not None:  # its loss was compiled by the 'compiled' variant's first calls
            base = variants[1]
            overhead += max(base.first128 - statistics.median(base.times), 0) + \
                max(base.first96 - statistics.median(base.times), 0)
        rows.append(dict(model=name, threads=threads, variant=v.name, first128=v.first128, first96=v.first96,
                         ms=ms, n=len(v.times), q=statistics.quantiles(v.times, n=4), overhead=overhead,
                         eager_ms=eager_ms, entries=cache_entries(v.loss) if v.loss is not None else None,
                         opt_entries=cache_entries(v.opt_step) if v.whole else None))
    return rows


def table(rows: list[dict]) -> None:
    steps3, steps30 = 3 * STEPS_PER_EPOCH, 30 * STEPS_PER_EPOCH
    head = (f"{'model':<27}{'thr':>4}  {'variant':<50}{'1st@128 s':>10}{'1st@96 s':>9}{'ms/step':>9}"
            f"{'IQR ms':>14}{'n':>5}{'×eager':>8}{'compile s':>10}{'3 ep s':>8}{'30 ep s':>9}{'break-even':>12}")
    out(head)
    out("-" * len(head))
    for r in rows:
        ms, eager = r["ms"], r["eager_ms"]
        t3 = r["overhead"] + steps3 * ms / 1e3
        t30 = r["overhead"] + steps30 * ms / 1e3
        if r["overhead"] == 0:
            be = "-"
        elif ms < eager:
            be = f"{r['overhead'] / ((eager - ms) / 1e3) / STEPS_PER_EPOCH:.1f} ep"
        else:
            be = "never"
        iqr = f"{r['q'][0] * 1e3:.1f}-{r['q'][2] * 1e3:.1f}"
        first96 = f"{r['first96']:.2f}"
        out(f"{r['model']:<27}{r['threads']:>4}  {r['variant']:<50}{r['first128']:>10.2f}{first96:>9}{ms:>9.2f}"
            f"{iqr:>14}{r['n']:>5}{eager / ms:>8.2f}{r['overhead']:>10.1f}{t3:>8.1f}{t30:>9.1f}{be:>12}")
    out("-" * len(head))
    out(f"steps: 3 epochs = {steps3} ({STEPS_PER_EPOCH}/epoch at batch {BATCH}, the last of each {LAST} images); "
        f"30 epochs = {steps30}. ms/step: median of the alternating blocks (IQR = quartiles); ×eager = eager "
        f"ms / this ms (>1: faster). compile s = (1st@128 - ms) + (1st@96 - ms), the whole variant's including "
        "the shared loss's. 3/30 ep s = compile s + steps × ms (evaluation left out: the same for all). "
        "break-even: epochs after which the compiled run is ahead.")
    entries = [f"{r['model']}/{r['threads']}t/{r['variant'].split(',')[0].split(':')[0]}: loss graphs "
               f"{r['entries']}" + (f", opt graphs {r['opt_entries']}" if r["opt_entries"] is not None else "")
               for r in rows if r["entries"] is not None]
    out("Dynamo cache entries at the end (2 = batch 128 and batch 96, i.e. no recompiles while timing): "
        + "; ".join(entries))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="2,1", help="thread counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds of steady blocks")
    parser.add_argument("--block", type=float, default=1.5, help="seconds per block (per variant per round)")
    parser.add_argument("--min-steps", type=int, default=5, help="at least this many steps per block")
    parser.add_argument("--autotune-threads", default="2", help="thread counts that also try max-autotune")
    parser.add_argument("--whole-threads", default="2", help="thread counts that also try the whole step")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated, from: " + ", ".join(MODELS))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--log", type=Path, default=None, help="also write the output here")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",") if t]
    autotune = {int(t) for t in args.autotune_threads.split(",") if t}
    whole = {int(t) for t in args.whole_threads.split(",") if t}
    torch.set_flush_denormal(True)  # as the loop runs (runtime.configure_cpu_numerics)
    t_start = time.perf_counter()
    out(f"bench_compile: torch {torch.__version__}, {os.cpu_count()} CPUs, load average {loadavg()} at start; "
        f"inductor cache {os.environ['TORCHINDUCTOR_CACHE_DIR']}")
    images = vc.load_split("mnist", "train", data_dir=args.data_dir, download=False).images
    assert len(images) == N_TRAIN, len(images)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    base = {}
    for name in names:
        model_cfg, train_cfg = MODELS[name]
        torch.manual_seed(train_cfg.seed)  # as setup_run: the weights, then the mean-image output bias
        model = vc.build_model(model_cfg, "cpu")
        model.init_output_bias(images.sum(0, dtype=torch.float64).div_(255.0 * len(images)))
        base[name] = copy.deepcopy(model.state_dict())

    out("\nWhat cannot be compiled here (forward only, 2 threads):")
    torch.set_num_threads(2)
    demo_failures(*MODELS[names[-1]])

    out("\nSame loss? Same weights, inputs and global seed, forward only, 2 threads:")
    for name in names:
        model_cfg, train_cfg = MODELS[name]
        check_loss(name, model_cfg, train_cfg, base[name], images, binarizes(model_cfg, train_cfg))

    rows = []
    for name in names:
        model_cfg, train_cfg = MODELS[name]
        for t in threads:
            wanted = {"compiled"} | ({"autotune"} if t in autotune else set()) | ({"whole"} if t in whole else set())
            rows += run_config(name, model_cfg, train_cfg, base[name], images, t, wanted, args)
    out("")
    table(rows)
    out(f"\nload average {loadavg()} at the end (above {os.cpu_count()}: the CPU was shared); "
        f"whole benchmark {time.perf_counter() - t_start:.0f} s")
    if args.log:
        args.log.parent.mkdir(parents=True, exist_ok=True)
        args.log.write_text("\n".join(LOG) + "\n")


if __name__ == "__main__":
    main()

"""The page under load: one `streamlit run explorer_app.py` and N concurrent headless Chromium sessions.

A warm-up session first fills the shared caches alone. Then each session opens the page, waits until
its latent map is drawn, then (all sessions together, behind a barrier) makes several server round
trips that change an image (the "New samples" button: the server decodes new prior samples and
sends the pictures; timed from the click until the first picture's src changes), and runs an
interpolation (the "Random pair" button, timed until the new strip is shown). Moving through the
latent map itself costs the server nothing: it decodes in the browser (bench/bench_map.py times
that). Reported: p50/p95/max round-trip latency, interpolation latency, page-load
times, errors (uncaught page errors, Streamlit exception boxes, timeouts, tracebacks in the server
log), and the server's resident memory (VmRSS of the streamlit process) before, at the peak and
after. Loopback only; the whole run is bounded by --budget seconds.

    python bench/bench_load.py                     # 20 sessions
    python bench/bench_load.py --sessions 4 --moves 3

Models: the shipped ones when present (pretrained/), else two tiny ones trained on the spot into a
temporary models directory. Data: $VAE_DATA_DIR, else ../shared/datasets. Needs playwright and
Debian's /usr/bin/chromium (no `playwright install`). tests/test_survive_load.py runs a short
version of this (4 sessions) in CI.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "explorer_app.py"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of one process, from /proc (no psutil needed)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def default_data_dir() -> str:
    return os.environ.get("VAE_DATA_DIR") or str(ROOT.parent / "shared" / "datasets")


def tiny_models(root: Path, data_dir: str) -> Path:
    """Two small real models (one epoch on 512 images), for a checkout without shipped models."""
    import vae_core as vc

    for tag, objective in (("tiny-vae", "standard"), ("tiny-mmd", "mmd")):
        if (root / tag).exists():
            continue
        cfg = vc.TrainConfig(epochs=1, batch_size=128, train_subset=512, eval_subset=200)
        result = vc.fit(vc.ModelConfig(objective=objective, hidden=(64,)), cfg, data_dir=data_dir)
        vc.finish_run(result, root / tag, data_dir=data_dir)
    return root


class Server:
    """`streamlit run explorer_app.py` on 127.0.0.1:<free port>, stopped on exit."""

    def __init__(self, models_dir: Path, data_dir: str, log: Path, app: Path = APP):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "VAE_DATA_DIR": data_dir, "VAE_MODELS_DIR": str(models_dir),
               "VAE_TEST_HOOKS": "1"}  # the map shows window.__vaeLatentMap to the tests and benchmarks
        cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(self.port),
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        self._logf = open(log, "wb")
        self.proc = subprocess.Popen(cmd, cwd=app.parent, env=env, stdin=subprocess.DEVNULL, stdout=self._logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_healthy(self, timeout: float = 60) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with opener.open(f"{self.base}/_stcore/health", timeout=2) as r:
                    if r.status == 200 and r.read().strip() == b"ok":
                        return
            except OSError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"server not healthy after {timeout} s:\n{self.log.read_text()}")

    def rss(self) -> float:
        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._logf.close()


def _image(page, caption: str):
    return page.get_by_test_id("stImageContainer").filter(
        has=page.get_by_test_id("stImageCaption").filter(has_text=re.compile("^" + re.escape(caption)))
    ).locator("img")


async def _idle(page, timeout_ms: float) -> None:
    from playwright.async_api import expect

    await expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning",
                                                                 timeout=timeout_ms)


async def one_session(i: int, browser, base: str, moves: int, barrier: asyncio.Barrier, out: dict,
                      timeout_ms: float) -> None:
    from playwright.async_api import expect

    rec = {"session": i, "load_s": None, "roundtrip_ms": [], "interp_ms": None, "errors": []}
    out[i] = rec
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(timeout_ms)  # every action (focus, click) waits as long as the waits do
    page = await ctx.new_page()
    page.on("pageerror", lambda exc: rec["errors"].append(f"pageerror: {exc}"))
    try:
        t0 = time.perf_counter()
        await page.goto(base, timeout=timeout_ms)
        await page.wait_for_function("window.__vaeLatentMap && window.__vaeLatentMap.ready && "
                                     "[...window.__vaeLatentMap.instance.maps.values()].every(m => m.points)",
                                     timeout=timeout_ms)
        await _idle(page, timeout_ms)
        rec["load_s"] = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - a benchmark reports every failure and goes on
        rec["errors"].append(f"load: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    try:
        await asyncio.wait_for(barrier.wait(), timeout=timeout_ms / 1000)
    except (asyncio.TimeoutError, asyncio.BrokenBarrierError, TimeoutError):
        pass
    if rec["load_s"] is None:
        await ctx.close()
        return
    try:
        await page.get_by_role("tab", name="Samples").click()
        samples = _image(page, "A: ").first
        for k in range(moves):
            before = await samples.get_attribute("src")
            t = time.perf_counter()
            await page.get_by_role("button", name="New samples").click()
            await expect(samples).not_to_have_attribute("src", before, timeout=timeout_ms)
            rec["roundtrip_ms"].append((time.perf_counter() - t) * 1000)
        await _idle(page, timeout_ms)
        await page.get_by_role("tab", name="Interpolation").click()
        # A middle frame of the first model's strip (frames are captioned with their t).
        strip = page.get_by_test_id("stImageContainer").filter(
            has=page.get_by_test_id("stImageCaption").filter(has_text=re.compile(r"^t = 0\.5\d$"))).first.locator("img")
        await expect(strip).to_be_visible(timeout=timeout_ms)
        first = await strip.get_attribute("src")
        t = time.perf_counter()
        await page.get_by_role("button", name="Random pair").click()
        await expect(strip).not_to_have_attribute("src", first, timeout=timeout_ms)
        rec["interp_ms"] = (time.perf_counter() - t) * 1000
        await _idle(page, timeout_ms)
        shown = await page.get_by_test_id("stException").count()
        if shown:
            rec["errors"].append(f"{shown} exception box(es) on the page")
    except Exception as exc:  # noqa: BLE001
        rec["errors"].append(f"interact: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    finally:
        await ctx.close()


async def drive(base: str, sessions: int, moves: int, server: Server, timeout_ms: float, stagger: float) -> dict:
    from playwright.async_api import async_playwright

    out: dict[int, dict] = {}
    peak = {"rss": server.rss()}
    stop = asyncio.Event()

    async def sample():
        while not stop.is_set():
            peak["rss"] = max(peak["rss"], server.rss())
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        # One session first, alone: it fills the shared caches (models, test set, codes), so what
        # the N sessions add on top of `rss_warm` is the cost per session.
        warm: dict[int, dict] = {}
        await one_session(-1, browser, base, 1, asyncio.Barrier(1), warm, timeout_ms)
        peak["warm"] = server.rss()
        peak["warm_errors"] = warm[-1]["errors"]
        barrier = asyncio.Barrier(sessions)
        tasks = []
        for i in range(sessions):
            tasks.append(asyncio.create_task(one_session(i, browser, base, moves, barrier, out, timeout_ms)))
            await asyncio.sleep(stagger)
        await asyncio.gather(*tasks)
        await browser.close()
    stop.set()
    await sampler
    return {"sessions": [out[i] for i in sorted(out)], "rss_peak": peak["rss"], "rss_warm": peak["warm"],
            "warm_errors": peak["warm_errors"]}


def run_load(*, sessions: int = 20, moves: int = 6, models_dir: Path | None = None, data_dir: str | None = None,
             timeout_s: float = 120, stagger: float = 0.1) -> dict:
    """Start a server, drive `sessions` browser pages at once, stop the server; return the figures."""
    data_dir = data_dir or default_data_dir()
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        models = models_dir or tiny_models(work / "models", data_dir)
        server = Server(models, data_dir, work / "server.log")
        try:
            t0 = time.perf_counter()
            server.wait_healthy()
            rss_start = server.rss()
            run = asyncio.run(drive(server.base, sessions, moves, server, timeout_s * 1000, stagger))
            time.sleep(1.0)  # let the server drop the closed sessions
            rss_end = server.rss()
            wall = time.perf_counter() - t0
        finally:
            server.stop()
        log = (work / "server.log").read_text(errors="replace")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    recs = run["sessions"]
    trips = [ms for r in recs for ms in r["roundtrip_ms"]]
    interp = [r["interp_ms"] for r in recs if r["interp_ms"] is not None]
    loads = [r["load_s"] for r in recs if r["load_s"] is not None]
    errors = [f"warm-up session: {e}" for e in run["warm_errors"]]
    errors += [f"session {r['session']}: {e}" for r in recs for e in r["errors"]]
    if "Traceback" in log:
        errors.append("server log holds a traceback:\n" + log[log.index("Traceback"):][:2000])
    return {
        "sessions": sessions, "sessions_ok": sum(1 for r in recs if not r["errors"] and r["interp_ms"] is not None),
        "moves_per_session": moves, "roundtrip_samples": len(trips),
        "roundtrip_p50_ms": percentile(trips, 50), "roundtrip_p95_ms": percentile(trips, 95),
        "roundtrip_max_ms": max(trips) if trips else float("nan"),
        "interp_p50_ms": percentile(interp, 50), "interp_p95_ms": percentile(interp, 95),
        "load_p50_s": percentile(loads, 50), "load_max_s": max(loads) if loads else float("nan"),
        "rss_start_mb": rss_start, "rss_warm_mb": run["rss_warm"], "rss_peak_mb": run["rss_peak"], "rss_end_mb": rss_end,
        "wall_s": wall, "errors": errors, "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--moves", type=int, default=6, help="server round trips (New samples) per session")
    ap.add_argument("--models-dir", type=Path, help="VAE_MODELS_DIR for the server (default: tiny models)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds any one wait may take")
    ap.add_argument("--budget", type=float, default=290, help="seconds the whole run may take")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError(f"over {args.budget} s")))
    signal.alarm(int(args.budget))
    r = run_load(sessions=args.sessions, moves=args.moves, models_dir=args.models_dir, timeout_s=args.timeout)
    signal.alarm(0)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"{r['sessions']} concurrent Chromium sessions on one server ({r['cpus']} CPUs, load average "
              f"{r['load_average']:.1f} at the end): {r['sessions_ok']} completed without error")
        print(f"page drawn: p50 {r['load_p50_s']:.1f} s, slowest {r['load_max_s']:.1f} s")
        print(f"server round trip: New samples -> new picture ({r['roundtrip_samples']} clicks, all sessions at "
              f"once): p50 {r['roundtrip_p50_ms']:.0f} ms, p95 {r['roundtrip_p95_ms']:.0f} ms, "
              f"max {r['roundtrip_max_ms']:.0f} ms")
        print(f"interpolation (Random pair -> new strip): p50 {r['interp_p50_ms']:.0f} ms, "
              f"p95 {r['interp_p95_ms']:.0f} ms")
        print(f"server RSS: {r['rss_start_mb']:.0f} MB at start, {r['rss_warm_mb']:.0f} MB after one session "
              f"(caches filled), {r['rss_peak_mb']:.0f} MB peak with {r['sessions']} sessions "
              f"(+{(r['rss_peak_mb'] - r['rss_warm_mb']) / r['sessions']:.1f} MB per session), "
              f"{r['rss_end_mb']:.0f} MB after they closed")
        print(f"wall time {r['wall_s']:.0f} s; errors: {len(r['errors'])}")
        for e in r["errors"][:20]:
            print("  " + e)
    return 0 if not r["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Capacity: how many concurrent sessions a replica holds with p95 slider-to-image <= 250 ms.

bench_load.py puts the server and every Chromium on the same cores, so its 20-session figure
mostly measures 20 browsers. Here the two are kept apart and both are measured:

- one replica on CPU 0, every browser (and this driver) on the other CPUs (`--server-cpus`);
- then two replicas behind nginx (deploy/run_replicas.py), replica i on CPU i, the browsers
  sharing the cores with them (on a 2-core machine there is nowhere else to put them).

Each level adds sessions (1, 2, 4, 8, …) to those already open, waits until every new page is
drawn, then lets every session step the z1 slider `--presses` times, each after a think time
drawn uniformly from 0.5–1.5 × `--think` seconds (a user stepping through the latent space; 0
gives back-to-back steps, as bench_load does), timing each key press until the new decoded
image is in the page (one server round trip). The ramp stops at the first level whose p95
misses the goal or that has an error. For each level it also reads, from /proc, the CPU time
the server processes (replicas, and nginx) and the client processes (this driver, Playwright,
Chromium) spent during the presses: server CPU per round trip is the figure that says how many
sessions one server core holds, wherever the browsers run.

    python bench/bench_capacity.py                        # both setups, think 1 s
    python bench/bench_capacity.py --setups one --levels 1,2,4 --presses 5
    python bench/bench_capacity.py --think 0              # back-to-back steps

Figures, not a test: nothing is asserted. Needs nginx (setup "two"), taskset, Chromium.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import bench_load
import page_actions as pa


def _deploy_module():
    """deploy/run_replicas.py, the replicas' launcher (a script of its own, loaded by its path)."""
    spec = importlib.util.spec_from_file_location("run_replicas", bench_load.ROOT / "deploy" / "run_replicas.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_replicas"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


run_replicas = _deploy_module()

TICKS = os.sysconf("SC_CLK_TCK")


# --- CPU time from /proc ------------------------------------------------------------------------

def _process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds so far: user + system, every thread)."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # ended while we looked
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS)
    return table


def _tree(table: dict, root: int) -> set[int]:
    pids, grew = {root}, True
    while grew:
        more = {pid for pid, (ppid, _) in table.items() if ppid in pids} - pids
        pids |= more
        grew = bool(more)
    return pids & table.keys()


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process tree, and by every other process this
    driver started ("clients": itself, Playwright's driver, Chromium)."""
    table = _process_table()
    trees = {name: _tree(table, pid) for name, pid in roots.items()}
    servers = set().union(*trees.values())
    out = {name: sum(table[p][1] for p in pids) for name, pids in trees.items()}
    out["clients"] = sum(table[p][1] for p in _tree(table, os.getpid()) - servers)
    return out


# --- the sessions -------------------------------------------------------------------------------

@dataclass
class Session:
    ctx: object
    page: object
    replica: str = ""
    errors: list[str] = field(default_factory=list)


async def open_session(browser, url: str, timeout_ms: float) -> Session:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(timeout_ms)
    page = await ctx.new_page()
    s = Session(ctx, page)
    page.on("pageerror", lambda exc: s.errors.append(f"pageerror: {exc}"))
    await page.goto(url, timeout=timeout_ms)
    await pa.wait_drawn(page, timeout_ms)
    s.replica = next((c["value"] for c in await ctx.cookies() if c["name"] == "vae_replica"), "")
    return s


async def press(s: Session, presses: int, think: float, rng: random.Random, out: list, timeout_ms: float) -> None:
    try:
        for k in range(presses):
            # The user's pause before the next step: a modelled think time, not a wait for content.
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think)
            out.append(await pa.round_trip(s.page, step=1 if k % 4 < 2 else -1, timeout_ms=timeout_ms))
    except Exception as exc:  # noqa: BLE001 - a benchmark reports every failure and goes on
        s.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


async def ramp(url: str, servers: dict[str, int], rss_pids: list[int], args, log) -> list[dict]:
    """Open sessions level by level and time their round trips; stop at the first miss."""
    from playwright.async_api import async_playwright

    rng = random.Random(0)
    timeout_ms = args.timeout * 1000
    rows: list[dict] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=bench_load.CHROMIUM, headless=True,
                                          args=bench_load.CHROMIUM_ARGS)
        sessions: list[Session] = []
        open_errors: list[str] = []
        # A page load is seconds of browser CPU: one at a time per client CPU, or they all time out.
        opening = asyncio.Semaphore(len(os.sched_getaffinity(0)))

        async def add() -> None:
            async with opening:
                try:
                    sessions.append(await open_session(browser, url, timeout_ms))
                except Exception as exc:  # noqa: BLE001
                    open_errors.append(f"open: {type(exc).__name__}: {str(exc).splitlines()[0]}")

        warm = await open_session(browser, url, timeout_ms)  # fills the caches before anything is timed
        await pa.round_trip(warm.page, timeout_ms=timeout_ms)
        await warm.ctx.close()
        for level in args.levels:
            await asyncio.gather(*(add() for _ in range(level - len(sessions))))
            for s in sessions:
                await pa.wait_idle(s.page, timeout_ms)
            times: list[float] = []
            before, t0 = cpu_seconds(servers), time.perf_counter()
            await asyncio.gather(*(press(s, args.presses, args.think, rng, times, timeout_ms) for s in sessions))
            after, wall = cpu_seconds(servers), time.perf_counter() - t0
            used = {k: after[k] - before[k] for k in after}
            errors = open_errors + [e for s in sessions for e in s.errors]
            server_cpu = sum(v for k, v in used.items() if k != "clients")
            row = {
                "sessions": len(sessions), "round_trips": len(times), "wall_s": wall,
                "p50": bench_load.percentile(times, 50), "p95": bench_load.percentile(times, 95),
                "max": max(times, default=float("nan")),
                "server_ms_per_trip": {k: 1000 * v / max(len(times), 1) for k, v in used.items() if k != "clients"},
                "server_ms": 1000 * server_cpu / max(len(times), 1),
                "server_use": server_cpu / wall, "client_ms": 1000 * used["clients"] / max(len(times), 1),
                "client_use": used["clients"] / wall, "rss_mb": sum(bench_load.rss_mb(pid) for pid in rss_pids),
                "per_replica": {r: sum(s.replica == r for s in sessions) for r in sorted({s.replica for s in sessions})},
                "errors": errors, "load": os.getloadavg()[0],
            }
            rows.append(row)
            log(row)
            open_errors.clear()
            for s in sessions:
                s.errors.clear()
            if errors or row["p95"] > args.goal:
                break
        await browser.close()
    return rows


# --- the two setups -----------------------------------------------------------------------------

def run_setup(name: str, args, models: Path, log) -> list[dict]:
    ncpu = os.cpu_count()
    if name == "one":
        server_cpus = tuple(args.server_cpus)
        client_cpus = set(range(ncpu)) - set(server_cpus) or set(range(ncpu))
        dep = run_replicas.Deployment(replicas=1, models_dir=models, data_dir=args.data_dir, cpus=[server_cpus])
        print(f"\n== one replica on CPU {','.join(map(str, server_cpus))}, clients on CPU "
              f"{','.join(map(str, sorted(client_cpus)))}")
    else:
        client_cpus = set(range(ncpu))
        dep = run_replicas.Deployment(replicas=2, models_dir=models, data_dir=args.data_dir,
                                      cpus=[(i % ncpu,) for i in range(2)])
        print(f"\n== two replicas behind nginx, replica i on CPU i, clients and nginx on CPU 0-{ncpu - 1}")
    print(f"   think {args.think:g} s (x0.5-1.5), {args.presses} presses per session per level, goal p95 <= "
          f"{args.goal:.0f} ms; load averages at start {_loadavg()}")
    print(HEADER)
    os.sched_setaffinity(0, client_cpus)  # Chromium and Playwright inherit this when launched
    try:
        with dep:
            servers = {r.name: r.proc.pid for r in dep.replicas}
            if name == "two":
                servers["nginx"] = dep.nginx.pid
            url = dep.replicas[0].url if name == "one" else dep.url
            return asyncio.run(ramp(url, servers, [r.proc.pid for r in dep.replicas], args, log))
    finally:
        os.sched_setaffinity(0, set(range(ncpu)))


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) + " (1, 5, 15 min)"


def print_row(r: dict) -> None:
    split = ", ".join(f"{k} {v:.1f}" for k, v in r["server_ms_per_trip"].items())
    where = " ".join(f"{k}:{v}" for k, v in r["per_replica"].items() if k) or "-"
    print(f"{r['sessions']:>8} {r['round_trips']:>6} {r['p50']:>7.0f} {r['p95']:>7.0f} {r['max']:>7.0f}"
          f" {r['server_ms']:>9.1f} ({split}) {r['server_use']:>5.0%} {r['client_ms']:>9.1f} {r['client_use']:>6.0%}"
          f" {r['rss_mb']:>6.0f}  {where:<10} {r['load']:>5.2f}"
          + (f"  errors: {r['errors'][:2]}" if r["errors"] else ""), flush=True)


HEADER = (f"{'sessions':>8} {'trips':>6} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'server CPU ms/trip':>9}"
          f" {'use':>5} {'client CPU ms/trip':>9} {'use':>6} {'RSS MB':>6}  {'sessions on':<10} {'load':>5}")


def summary(rows: list[dict], args) -> None:
    ok = [r for r in rows if not r["errors"] and r["p95"] <= args.goal]
    miss = next((r for r in rows if r not in ok), None)
    text = f"   holds {ok[-1]['sessions'] if ok else 0} sessions at p95 <= {args.goal:.0f} ms"
    if miss:
        text += f"; first miss at {miss['sessions']}: p95 {miss['p95']:.0f} ms"
        text += f", {len(miss['errors'])} errors" if miss["errors"] else ""
    print(text + ("" if miss else " (no level missed)"))
    trips = sum(r["round_trips"] for r in rows)
    if not trips:
        return
    # CPU per round trip over every level: what one core of each side can carry, wherever the other runs.
    server_ms = sum(r["server_ms"] * r["round_trips"] for r in rows) / trips
    client_ms = sum(r["client_ms"] * r["round_trips"] for r in rows) / trips
    rate = 1 / (args.think + sum(r["p50"] for r in rows) / len(rows) / 1000)  # steps/s of one session
    print(f"   CPU per round trip: server {server_ms:.1f} ms, browsers {client_ms:.1f} ms; one core saturates at "
          f"{1000 / server_ms:.0f} round trips/s of the server ({1000 / server_ms / rate:.0f} sessions stepping every "
          f"{1 / rate:.1f} s), {1000 / client_ms:.1f} of the browsers ({1000 / client_ms / rate:.0f} sessions)")


def main() -> int:
    os.environ.setdefault("VAE_TEST_HOOKS", "1")  # the replicas' maps show window.__vaeLatentMap to page_actions
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setups", default="one,two", help="one, two or one,two (default)")
    ap.add_argument("--levels", default="1,2,4,8,16,32", help="session counts to try, ascending")
    ap.add_argument("--presses", type=int, default=10, help="slider steps per session per level")
    ap.add_argument("--think", type=float, default=1.0, help="mean seconds between a session's steps")
    ap.add_argument("--goal", type=float, default=250, help="p95 goal in ms")
    ap.add_argument("--server-cpus", default="0", help="CPUs of the single replica (default 0)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds any one wait may take")
    ap.add_argument("--models-dir", type=Path, help="models directory (default: two tiny models, as bench_load)")
    args = ap.parse_args()
    args.levels = [int(x) for x in args.levels.split(",")]
    args.server_cpus = [int(x) for x in args.server_cpus.split(",")]
    args.data_dir = bench_load.default_data_dir()
    if not os.path.exists(bench_load.CHROMIUM):
        print(f"{bench_load.CHROMIUM} not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as work:
        models = args.models_dir or bench_load.tiny_models(Path(work), args.data_dir)
        print(f"{os.cpu_count()} CPUs; the page opens on the shipped models when pretrained/ has them")
        for name in args.setups.split(","):
            run_and_report(name, args, models)
    return 0


def run_and_report(name: str, args, models: Path) -> None:
    try:
        rows = run_setup(name, args, models, print_row)
    except run_replicas.DeployError as exc:
        print(f"   skipped: {exc}")
        return
    summary(rows, args)
    print(f"   load averages at the end {_loadavg()}; above ~{os.cpu_count()} the CPUs were shared with other work")


if __name__ == "__main__":
    sys.exit(main())

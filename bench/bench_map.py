"""The latent map's goals, measured in headless Chromium against `streamlit run explorer_app.py`.

Prints figures side by side, asserts nothing:

  (1) page drawn: navigation -> both maps drawn with their codes, decoders loaded and both grid
      pictures loaded (warm server, best and median of several loads, each in a fresh browser context;
      then reloads, whose browser cache is warm), with the milestones of a load in between; with
      --old REV, the same for the page of that git revision (its plotly scatters and grids), in the
      same run; with --fresh N, the page drawn at the first visit of a server just started (its first
      script run: the folders' kept first views, torch imported after it; issue 18's "paint before
      torch"), N fresh servers each, alternated with the --old page's;
  (2) hover: pointer moves over map A, both models decoded and drawn, per move: from the handler's
      start (the component's own performance marks) and from the event's timestamp (Chromium
      delivers pointer moves aligned to frames, so this adds up to a frame of waiting); websocket
      frames the page sent meanwhile;
  (3) slider drag: distinct decoded images per second of drag, and frames sent before the release;
  (4) pan and zoom: redraws of 10,000 points per wheel/drag step, as frames per second;
  for the MNIST pair (MLP decoders) and the Fashion-MNIST pair (conv decoders).

    python bench/bench_map.py                  # the shipped models
    python bench/bench_map.py --old a29422e    # also the page before the latent map, same run
    python bench/bench_map.py --drawn-only --fresh 3 --old d67adad   # fresh servers, before/after

Goals (issue 9): hover p95 <= 16 ms for the MLP pair and <= 33 ms for the conv pair; no message
while hovering or dragging; >= 30 distinct images per second of drag; page drawn <= 1.5 s (issue 18); pan and
zoom >= 50 frames per second.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
import bench_load  # noqa: E402  (the one server launcher)

MAP = "window.__vaeLatentMap"


def pct(values, q):
    return bench_load.percentile(values, q)


def wait_idle(page, timeout=90_000):
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)


def page_drawn(browser, base: str, old: bool, *, reload: bool = False) -> float:
    """Seconds from navigation to the latent tab fully drawn, in a fresh browser context; with `reload`,
    the second load of that context (its HTTP cache holds Streamlit's scripts and the published files,
    as a returning person's browser does)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    if reload:
        page.goto(base)
        wait_drawn(page, old)
    t0 = time.perf_counter()
    page.goto(base)
    wait_drawn(page, old)
    seconds = time.perf_counter() - t0
    if not old:
        (page_drawn.reloads if reload else page_drawn.phases).append(page.evaluate(PHASES_JS))
    ctx.close()
    return seconds


def wait_drawn(page, old: bool) -> None:
    if old:  # the plotly page: both WebGL scatters and both grid images
        page.wait_for_function("""() => {
            const plots = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot canvas');
            const grids = [...document.querySelectorAll('[data-testid="stImage"] img')]
                .filter(i => i.complete && i.naturalWidth >= 560);
            return plots.length >= 2 && grids.length >= 2;
        }""", timeout=120_000)
    else:
        page.wait_for_function(f"""() => {{
            const m = {MAP};
            if (!m || !m.ready || m.instance.maps.size < 2) return false;
            const grids = [...m.instance.gridsBox.querySelectorAll('img')];
            return [...m.instance.maps.values()].every(x => x.points) && grids.length >= 2 &&
                   grids.every(i => i.complete && i.naturalWidth > 0);
        }}""", timeout=120_000)


page_drawn.phases = []  # where each load of this page spent its time (PHASES_JS), in ms since navigation
page_drawn.reloads = []  # the same for reloads

# Milestones of one load, in ms from navigation start (the page's own clock): the HTML served, Streamlit's
# scripts fetched and run, the map component mounted, the codes file read, the decoders loaded, every
# file the page published fetched (static/cache: codes, atlas, grids, weights), and the drawn state seen.
PHASES_JS = f"""() => {{
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    const ours = res.filter(r => r.name.includes('/static/cache/'));
    const scripts = res.filter(r => r.initiatorType === 'script' || r.name.endsWith('.js'));
    const t = {MAP}.timeline || {{}};
    const last = list => list.length ? Math.max(...list.map(r => r.responseEnd)) : null;
    return {{html: nav.responseEnd, domReady: nav.domContentLoadedEventEnd, scriptsFetched: last(scripts),
             scriptBytes: scripts.reduce((a, r) => a + (r.encodedBodySize || 0), 0),
             mounted: t.mounted ?? null, points: t.points ?? null, decoders: t.decoders ?? null,
             filesFirst: ours.length ? Math.min(...ours.map(r => r.startTime)) : null, filesFetched: last(ours),
             fileBytes: ours.reduce((a, r) => a + (r.encodedBodySize || 0), 0), files: ours.length,
             drawn: performance.now(),
             each: ours.map(r => [r.name.split('/').pop(), Math.round(r.startTime), Math.round(r.responseEnd),
                                  r.encodedBodySize || 0])}};
}}"""


def print_phases(phases: list[dict]) -> None:
    """The median of each milestone over the loads, in the order a load passes them."""
    def median(key):
        values = [p[key] for p in phases if p.get(key) is not None]
        return statistics.median(values) if values else float("nan")

    rows = [("HTML served", "html"), ("DOM ready (Streamlit's scripts parsed)", "domReady"),
            ("Streamlit's scripts fetched", "scriptsFetched"), ("map component mounted (first script run drawn)", "mounted"),
            ("first published file asked for", "filesFirst"), ("codes file read, codes drawn", "points"),
            ("decoders loaded", "decoders"), ("every published file fetched", "filesFetched"),
            ("everything drawn (grids loaded)", "drawn")]
    print("    where a load goes (median ms since navigation):")
    for label, key in rows:
        print(f"      {label:<50} {median(key):8.0f} ms")
    for name, start, end, size in sorted(phases[-1]["each"], key=lambda f: f[1]):
        print(f"        {name:<42} {start:6d} -> {end:6d} ms  {size / 1e3:8.0f} kB")
    print(f"      ({median('files'):.0f} published files, {median('fileBytes') / 1e6:.2f} MB; "
          f"scripts {median('scriptBytes') / 1e6:.2f} MB fetched)")


def interactions(browser, base: str, dataset: str) -> dict:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda _f: sent.append(1)))
    page.goto(base + (f"/?dataset={dataset}" if dataset != "mnist" else ""))
    wait_idle(page)
    page.wait_for_function(f"{MAP} && {MAP}.ready && [...{MAP}.instance.maps.values()].every(m => m.points)",
                           timeout=120_000)
    page.wait_for_timeout(1000)
    box = page.locator("canvas.vlm-over").first.bounding_box()
    out = {}
    # (2) hover: a sweep over map A, 300 moves, after 30 warm-up moves.
    for k in range(30):
        page.mouse.move(box["x"] + 20 + k, box["y"] + 20 + k)
    page.evaluate(f"{MAP}.frames.length = 0")
    before = len(sent)
    for k in range(300):
        page.mouse.move(box["x"] + box["width"] * (0.1 + 0.8 * (k % 100) / 99),
                        box["y"] + box["height"] * (0.2 + 0.6 * (k // 100) / 2 + 0.002 * (k % 7)))
    out["hover_sent"] = len(sent) - before
    frames = page.evaluate(f"{MAP}.frames.filter(f => f.reason === 'hover')")
    out["hover_ms"] = [f["ms"] for f in frames]
    out["hover_since_event_ms"] = [f["sinceEvent"] for f in frames]
    out["decode_ms"] = [f["decodeMs"] for f in frames]
    page.mouse.move(5, 5)
    # (3) slider drag: 2 s of drag over z1, moves as fast as the driver sends them.
    slider = page.get_by_role("slider", name="z1").first
    sbox = slider.bounding_box()
    y = sbox["y"] + sbox["height"] / 2
    page.mouse.move(sbox["x"] + sbox["width"] * 0.2, y)
    page.mouse.down()
    page.evaluate(f"{MAP}.frames.length = 0")
    before = len(sent)
    t0 = time.perf_counter()
    moves = 0
    while time.perf_counter() - t0 < 2.0:
        moves += 1
        page.mouse.move(sbox["x"] + sbox["width"] * (0.2 + 0.6 * ((moves % 60) / 59)), y)
    drag_s = time.perf_counter() - t0
    out["drag_sent_before_release"] = len(sent) - before
    out["drag_images_per_s"] = page.evaluate(f"{MAP}.frames.filter(f => f.reason === 'slider').length") / drag_s
    out["drag_moves_per_s"] = moves / drag_s
    page.mouse.up()
    wait_idle(page)
    # (4) pan and zoom: wheel steps and drag steps, each a full redraw of the points.
    page.evaluate(f"{MAP}.frames.length = 0")
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    for k in range(40):
        page.mouse.wheel(0, -60 if k < 20 else 60)
    page.mouse.down()
    for k in range(40):
        page.mouse.move(cx + 3 * k, cy + 2 * k)
    page.mouse.up()
    page.mouse.move(5, 5)
    zoom = page.evaluate(f"{MAP}.frames.filter(f => f.reason === 'zoom').map(f => f.ms)")
    pan = page.evaluate(f"{MAP}.frames.filter(f => f.reason === 'pan').map(f => f.ms)")
    out["pan_zoom_ms"] = zoom + pan
    out["page_errors"] = []
    ctx.close()
    return out


def fresh_server_drawn(browser, models: Path, data_dir: str, app: Path, plotly: bool) -> tuple[float, float]:
    """(seconds from starting the server to its health answer, seconds from the first navigation to the
    page drawn) for a server process started just now: its first script run is the one measured."""
    t0 = time.perf_counter()
    server = bench_load.Server(models, data_dir, Path(tempfile.mktemp(suffix=".log")), app=app)
    try:
        server.wait_healthy()
        up = time.perf_counter() - t0
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        t1 = time.perf_counter()
        page.goto(server.base)
        wait_drawn(page, plotly)
        drawn = time.perf_counter() - t1
        ctx.close()
        return up, drawn
    finally:
        server.stop()


def old_checkout(rev: str) -> Path:
    """The page of an older revision, in a throw-away worktree (for the side-by-side load time)."""
    folder = Path(tempfile.mkdtemp(prefix="vae-old-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), rev], check=True,
                   capture_output=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=5, help="page loads per server")
    parser.add_argument("--old", help="a git revision whose page to time beside this one")
    parser.add_argument("--drawn-only", action="store_true", help="only (1), the page drawn and where it goes")
    parser.add_argument("--fresh", type=int, default=0, help="also the first visit of N servers just started")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    data_dir = bench_load.default_data_dir()
    load0 = os.getloadavg()[0]
    models = Path(tempfile.mkdtemp(prefix="bench-map-models-"))
    servers = {"this page": bench_load.Server(models, data_dir, Path(tempfile.mktemp(suffix=".log")))}
    old_tree = None
    if args.old:
        old_tree = old_checkout(args.old)
        servers[f"page at {args.old}"] = bench_load.Server(models, data_dir, Path(tempfile.mktemp(suffix=".log")),
                                                           app=old_tree / "explorer_app.py")
    try:
        for server in servers.values():
            server.wait_healthy()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=bench_load.CHROMIUM, headless=True,
                                        args=bench_load.CHROMIUM_ARGS)
            print(f"Chromium {browser.version}; load average {load0:.2f} at start")
            print("-" * 96)
            apps = {"this page": (bench_load.APP, False)}
            if old_tree is not None:  # the plotly page (before the latent map) is drawn when its charts are
                apps[f"page at {args.old}"] = (old_tree / "explorer_app.py",
                                               not (old_tree / "explorer" / "latent_map").is_dir())
            fresh = {name: [] for name in apps}
            for _ in range(args.fresh):  # alternated, so a busy moment on a shared CPU hits both
                for name, (app, plotly) in apps.items():
                    fresh[name].append(fresh_server_drawn(browser, models, data_dir, app, plotly))
            for name, runs in fresh.items():
                if runs:
                    print(f"(1) {name}: first visit of a fresh server: page drawn in median "
                          f"{statistics.median(r[1] for r in runs):.2f} s (best {min(r[1] for r in runs):.2f} s) after "
                          f"the server answered in {statistics.median(r[0] for r in runs):.2f} s; {len(runs)} servers")
            for name, server in servers.items():
                is_old = name != "this page" and apps[name][1]
                page_drawn(browser, server.base, is_old)  # warm the server's caches
                page_drawn.phases.clear()
                times = [page_drawn(browser, server.base, is_old) for _ in range(args.loads)]
                print(f"(1) {name}: page drawn, warm server: best {min(times):.2f} s, median "
                      f"{statistics.median(times):.2f} s over {len(times)} loads (goal <= 1.5 s)")
                if page_drawn.phases:
                    print_phases(page_drawn.phases)
                if not is_old:
                    page_drawn.reloads.clear()
                    again = [page_drawn(browser, server.base, is_old, reload=True) for _ in range(args.loads)]
                    print(f"    reloaded (browser cache warm): best {min(again):.2f} s, median "
                          f"{statistics.median(again):.2f} s over {len(again)} reloads")
                    print_phases(page_drawn.reloads)
            base = servers["this page"].base
            for dataset, label, goal in () if args.drawn_only else (("mnist", "MNIST pair (MLP decoders)", 16),
                                                                    ("fashion", "Fashion-MNIST pair (conv decoders)", 33)):
                r = interactions(browser, base, dataset)
                h, e, d = r["hover_ms"], r["hover_since_event_ms"], r["decode_ms"]
                print(f"--- {label}")
                print(f"(2) hover -> both drawn, from the handler: p50 {pct(h, 50):.1f} ms, p95 {pct(h, 95):.1f} ms "
                      f"(goal <= {goal} ms); of which decoding p50 {pct(d, 50):.1f} ms; from the event's "
                      f"timestamp p50 {pct(e, 50):.1f}, p95 {pct(e, 95):.1f} ms; {len(h)} moves")
                print(f"    websocket frames sent while hovering: {r['hover_sent']}")
                print(f"(3) slider drag: {r['drag_images_per_s']:.0f} decoded images per second (goal >= 30) from "
                      f"{r['drag_moves_per_s']:.0f} pointer moves per second; frames sent before the release: "
                      f"{r['drag_sent_before_release']}")
                pz = r["pan_zoom_ms"]
                print(f"(4) pan and zoom, 10,000 points: p95 {pct(pz, 95):.1f} ms per redraw = "
                      f"{1000 / max(pct(pz, 95), 1e-3):.0f} frames per second (goal >= 50)")
            browser.close()
    finally:
        for server in servers.values():
            server.stop()
        if old_tree is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)],
                           capture_output=True)
    print("-" * 96)
    print(f"load average {os.getloadavg()[0]:.2f} at the end (above ~2 means the CPU was shared)")


if __name__ == "__main__":
    main()

"""Drawing on the pad, measured in headless Chromium against `streamlit run explorer_app.py`.

Per pointer move of a stroke: the pad's image rebuilt, every model's encoder and decoder run and
every map and reconstruction redrawn, timed from the handler's start (the component's own
performance marks) and from the event's timestamp; websocket frames the page sent meanwhile.
For the MNIST pair (MLP networks) and the Fashion-MNIST pair (conv networks). Prints figures with
the load average, asserts nothing.

    python bench/bench_draw.py                # 300 moves a pair
    python bench/bench_draw.py --moves 600

Goals (issue 17 §1): p95 <= 16 ms for the MLP pair, <= 33 ms for the conv pair; no message while drawing.
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

import bench_load  # the one server launcher

MAP = "window.__vaeLatentMap"


def pct(values, q):
    return bench_load.percentile(values, q)


def wait_idle(page, timeout=90_000):
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)


def scribble(page, box, moves: int, phase: float = 0.0) -> None:
    """Strokes of 50 moves each over the pad: loops of a rose curve, as a person scribbles."""
    done = 0
    while done < moves:
        n = min(50, moves - done)
        for k in range(n + 1):
            t = phase + 2 * math.pi * (done + k) / 150
            r = 0.35 * math.cos(3 * t)
            x, y = box["x"] + box["width"] * (0.5 + r * math.cos(t)), box["y"] + box["height"] * (0.5 + r * math.sin(t))
            if k == 0:
                page.mouse.move(x, y)
                page.mouse.down()
            else:
                page.mouse.move(x, y)
        page.mouse.up()
        done += n


def measure(browser, base: str, dataset: str, moves: int) -> dict:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    sent, errors = [], []
    page.on("websocket", lambda ws: ws.on("framesent", lambda _f: sent.append(1)))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base + (f"/?dataset={dataset}" if dataset != "mnist" else ""))
    wait_idle(page)
    page.wait_for_function(f"{MAP} && {MAP}.ready && {MAP}.instance.pad && "
                           f"[...{MAP}.instance.maps.values()].every(m => m.points)", timeout=120_000)
    pad = page.get_by_role("img", name="Drawing pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    archs = page.evaluate(f"[...{MAP}.instance.encoders.values()].map(e => e.encoder ? e.encoder.spec.layers[0].op : e.error)")
    scribble(page, box, 50)  # warm-up: the JIT compiles the forward passes
    page.get_by_role("button", name="Clear").click()
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()  # the click may have scrolled the page
    page.evaluate(f"{MAP}.frames.length = 0")
    before = len(sent)
    scribble(page, box, moves, phase=0.3)
    frames = page.evaluate(f"{MAP}.frames.filter(f => f.reason === 'draw')")
    out = {"sent": len(sent) - before, "archs": archs, "errors": errors,
           "models": page.evaluate(f"{MAP}.instance.maps.size"),
           "ms": [f["ms"] for f in frames], "since_event": [f["sinceEvent"] for f in frames],
           "encode": [f["encodeMs"] for f in frames], "decode": [f["decodeMs"] for f in frames]}
    ctx.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--moves", type=int, default=300, help="pointer moves measured per pair")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    load0 = os.getloadavg()
    models = Path(tempfile.mkdtemp(prefix="bench-draw-models-"))
    server = bench_load.Server(models, bench_load.default_data_dir(), Path(tempfile.mktemp(suffix=".log")))
    try:
        server.wait_healthy()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=bench_load.CHROMIUM, headless=True,
                                        args=bench_load.CHROMIUM_ARGS)
            print(f"Chromium {browser.version}; {os.cpu_count()} CPUs; load average "
                  f"{load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} at start")
            print("-" * 96)
            for dataset, label, goal in (("mnist", "MNIST pair (MLP encoders and decoders)", 16),
                                         ("fashion", "Fashion-MNIST pair (conv encoders and decoders)", 33)):
                r = measure(browser, server.base, dataset, args.moves)
                ms, ev = r["ms"], r["since_event"]
                print(f"--- {label}: {r['models']} models, first layers {r['archs']}")
                print(f"stroke move -> every map and reconstruction redrawn, from the handler: p50 {pct(ms, 50):.1f} ms, "
                      f"p95 {pct(ms, 95):.1f} ms, max {max(ms):.1f} ms (goal p95 <= {goal} ms); {len(ms)} moves")
                print(f"    of which encoding p50 {pct(r['encode'], 50):.1f} / p95 {pct(r['encode'], 95):.1f} ms, "
                      f"decoding p50 {pct(r['decode'], 50):.1f} / p95 {pct(r['decode'], 95):.1f} ms (all models)")
                print(f"    from the event's timestamp: p50 {pct(ev, 50):.1f} ms, p95 {pct(ev, 95):.1f} ms")
                print(f"    websocket frames sent while drawing: {r['sent']}; page errors: {len(r['errors'])}")
            browser.close()
    finally:
        server.stop()
    load1 = os.getloadavg()
    print("-" * 96)
    print(f"load average {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} at the end (above ~2 means the CPU was shared)")


if __name__ == "__main__":
    main()

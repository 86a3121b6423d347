"""How fast decoder.js decodes in headless Chromium: the shipped MLP and conv decoders side by side.

    python bench/bench_decoder_js.py                 # 400 hover points per model pair
    python bench/bench_decoder_js.py --points 800 --json out.json
    python bench/bench_decoder_js.py --baseline HEAD~1   # also decode with that commit's decoder.js

Measured inside the page with performance.now() (Chromium coarsens it to 0.1 ms without
cross-origin isolation, as on the Streamlit page), for the two MLP models (mnist-vae, mnist-mmd)
and the two conv models (fashion-vae, fashion-mmd), in interleaved rounds so both pairs see the
same machine load:

  load        fetch + parse + convert the weights (fromSpec), and fromSpec alone
  decode      one point, one model
  pair        both models of a pair at one point: what one hover costs
  pair+draw   both decodes, each written into a 4x upscaled ImageData and put on a canvas
  pointer     real mouse moves (Playwright) over a canvas; the handler decodes both models and
              draws both images. "handler" is from its first line to its last (what performance
              marks inside the component see); "since event" is from the event's timeStamp, so it
              also holds Chromium's delivery of the event, which it aligns to the next frame
  batch400    decodeBatch of 400 points, one model

With --baseline REV the same points are also decoded, interleaved, by decoder.js as of git
revision REV, for a side-by-side ratio under the same load.

The hover points sweep the box holding the models' test codes (1st-99th percentile), as a mouse
moving over the latent map would. Goals (issue 9): pointer -> both images drawn, p95 <= 16 ms for
the MLP pair and <= 33 ms for the conv pair. Prints the load average before and after and the
Chromium version; compare figures only within one run.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
from bench_load import CHROMIUM, CHROMIUM_ARGS, percentile  # noqa: E402

DECODER_JS = ROOT / "explorer" / "latent_map" / "decoder.js"
PAIRS = {"mlp": ("mnist-vae", "mnist-mmd"), "conv": ("fashion-vae", "fashion-mmd")}
GOALS_MS = {"mlp": 16.0, "conv": 33.0}
SCALE = 4  # 28x28 drawn at 112x112

PAGE_JS = """async ({pairs, sweep, rounds, warmup, scale, baseline}) => {
  const now = () => performance.now();
  const out = {};
  const decs = {};
  for (const [arch, urls] of Object.entries(pairs)) {
    out[arch] = {load_ms: [], fromspec_ms: [], decode: [], pair: [], draw: [], batch400: [], baseline: []};
    decs[arch] = [];
    for (const url of urls) {
      let t = now();
      const dec = await VaeDecoder.load(url);
      out[arch].load_ms.push(now() - t);
      const [spec, bin] = await Promise.all([fetch(url).then(r => r.json()),
                                             fetch(url.replace('.json', '.bin')).then(r => r.arrayBuffer())]);
      t = now();
      VaeDecoder.fromSpec(spec, bin);
      out[arch].fromspec_ms.push(now() - t);
      const canvas = document.createElement('canvas');
      canvas.width = dec.imageShape[2] * scale; canvas.height = dec.imageShape[1] * scale;
      document.body.appendChild(canvas);
      decs[arch].push({dec, ctx: canvas.getContext('2d'), img: new ImageData(canvas.width, canvas.height),
                       base: baseline ? VaeDecoderBaseline.fromSpec(spec, bin) : null});
    }
  }
  const z = new Float32Array(sweep);
  const n = z.length / 2;
  for (const arch in decs) for (let k = 0; k < warmup; k++) {
    for (const m of decs[arch]) m.dec.decode(z.subarray(2 * (k % n), 2 * (k % n) + 2));
  }
  const per = Math.ceil(n / rounds);
  for (let r = 0; r < rounds; r++) {          // interleaved: both pairs see the same load
    for (const arch in decs) {
      const [a, b] = decs[arch], o = out[arch];
      for (let k = r * per; k < Math.min(n, (r + 1) * per); k++) {
        const p = z.subarray(2 * k, 2 * k + 2);
        let t;
        if (baseline) { t = now(); a.base.decode(p); o.baseline.push(now() - t); }
        t = now(); a.dec.decode(p); o.decode.push(now() - t);
        t = now(); a.dec.decode(p); b.dec.decode(p); o.pair.push(now() - t);
        t = now();
        for (const m of [a, b]) {
          m.dec.writeImageData(m.dec.decode(p), m.img, scale);
          m.ctx.putImageData(m.img, 0, 0);
        }
        o.draw.push(now() - t);
      }
      const zs = new Float32Array(800);
      for (let i = 0; i < 800; i++) zs[i] = z[(r * 800 + i) % z.length];
      let t = now(); a.dec.decodeBatch(zs, 400); o.batch400.push(now() - t);
    }
  }
  return out;
}"""

POINTER_SETUP_JS = """async ({urls, scale}) => {
  const decs = await Promise.all(urls.map(u => VaeDecoder.load(u)));
  const map = document.createElement('canvas');
  map.width = 400; map.height = 400; map.style.cssText = 'position:absolute;left:0;top:0';
  document.body.appendChild(map);
  const views = decs.map((dec, i) => {
    const c = document.createElement('canvas');
    c.width = dec.imageShape[2] * scale; c.height = dec.imageShape[1] * scale;
    c.style.cssText = `position:absolute;left:${420 + i * 130}px;top:0`;
    document.body.appendChild(c);
    return {dec, ctx: c.getContext('2d'), img: new ImageData(c.width, c.height), z: new Float32Array(dec.latentDim)};
  });
  window.__lat = []; window.__handler = [];
  const [lo0, hi0, lo1, hi1] = window.__box;
  map.addEventListener('pointermove', ev => {
    const t0 = performance.now();
    for (const v of views) {
      v.z[0] = lo0 + (hi0 - lo0) * ev.offsetX / 400; v.z[1] = hi1 - (hi1 - lo1) * ev.offsetY / 400;
      v.dec.writeImageData(v.dec.decode(v.z), v.img, scale);
      v.ctx.putImageData(v.img, 0, 0);
    }
    const t1 = performance.now();
    window.__handler.push(t1 - t0); window.__lat.push(t1 - ev.timeStamp);
  });
}"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def stats(values) -> str:
    return f"p50 {percentile(values, 50):6.2f}  p95 {percentile(values, 95):6.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=400, help="hover points per pair (default 400)")
    ap.add_argument("--moves", type=int, default=200, help="real mouse moves per pair (default 200)")
    ap.add_argument("--json", help="also write the raw figures here")
    ap.add_argument("--baseline", metavar="REV", help="also time decoder.js as of this git revision (or this file)")
    args = ap.parse_args()

    import subprocess

    import vae_core as vc
    from playwright.sync_api import sync_playwright

    baseline_js = None
    if args.baseline:
        if Path(args.baseline).is_file():  # a file (an experiment) or a git revision
            baseline_js = Path(args.baseline).read_text()
        else:
            baseline_js = subprocess.run(["git", "show", f"{args.baseline}:explorer/latent_map/decoder.js"], cwd=ROOT,
                                         check=True, capture_output=True, text=True).stdout
        baseline_js = baseline_js.replace("var VaeDecoder =", "var VaeDecoderBaseline =", 1)

    folder = Path(tempfile.mkdtemp(prefix="bench-decoder-"))
    (folder / "index.html").write_text("<!doctype html><title>bench</title><body style='margin:0'></body>")
    urls, codes = {}, []
    for arch, names in PAIRS.items():
        urls[arch] = []
        for name in names:
            bundle = vc.load_bundle(vc.PRETRAINED_DIR / name)
            urls[arch].append(vc.export_to_folder(bundle.model, folder).name)
            codes.append(bundle.latents["mu"])
    # one box for all four (their codes cover similar ranges): a sweep the mouse could make
    allc = np.concatenate(codes)
    box = [float(v) for v in (*np.percentile(allc[:, 0], [1, 99]), *np.percentile(allc[:, 1], [1, 99]))]
    rng = np.random.default_rng(0)
    sweep = np.stack([rng.uniform(box[0], box[1], args.points), rng.uniform(box[2], box[3], args.points)], 1)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    profile = tempfile.mkdtemp(prefix="pw-bench-")
    load_before = os.getloadavg()
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS, viewport={"width": 1000, "height": 600})
            version = ctx.browser.version if ctx.browser else "?"
            page = ctx.new_page()
            page.goto(f"{base}/index.html")
            page.add_script_tag(path=str(DECODER_JS))
            if baseline_js:
                page.add_script_tag(content=baseline_js)
            res = page.evaluate(PAGE_JS, {"pairs": {a: [f"{base}/{u}" for u in us] for a, us in urls.items()},
                                          "sweep": [float(v) for v in sweep.ravel()], "rounds": 4,
                                          "warmup": 50, "scale": SCALE, "baseline": bool(baseline_js)})
            for arch in PAIRS:  # real pointer events, one pair at a time, on a fresh page each
                pg = ctx.new_page()
                pg.goto(f"{base}/index.html")
                pg.add_script_tag(path=str(DECODER_JS))
                pg.evaluate("box => { window.__box = box; }", box)
                pg.evaluate(POINTER_SETUP_JS, {"urls": [f"{base}/{u}" for u in urls[arch]], "scale": SCALE})
                for k in range(args.moves + 20):  # the first 20 warm up
                    x, y = rng.uniform(2, 398, 2)
                    pg.mouse.move(float(x), float(y))
                res[arch]["pointer"] = pg.evaluate("window.__lat")[20:]
                res[arch]["handler"] = pg.evaluate("window.__handler")[20:]
                pg.close()
            ctx.close()
    finally:
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    load_after = os.getloadavg()

    print(f"Chromium {version}; {args.points} hover points per pair, {args.moves} mouse moves; times in ms")
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} ({os.cpu_count()} CPUs)")
    rows = [("load (fetch + convert), each", lambda r: "  ".join(f"{v:6.1f}" for v in r["load_ms"])),
            ("fromSpec alone, each", lambda r: "  ".join(f"{v:6.1f}" for v in r["fromspec_ms"])),
            ("decode, one model", lambda r: stats(r["decode"])),
            ("pair (both models)", lambda r: stats(r["pair"])),
            ("pair + draw (4x canvas)", lambda r: stats(r["draw"])),
            ("pointer: handler (both drawn)", lambda r: stats(r["handler"])),
            ("pointer: since event.timeStamp", lambda r: stats(r["pointer"])),
            ("decodeBatch 400, median", lambda r: f"{percentile(r['batch400'], 50):7.1f}")]
    if baseline_js:
        rows.insert(3, (f"decode, one model, {args.baseline}", lambda r: stats(r["baseline"])))
    print(f"{'':32s}{'MLP (mnist-vae, mnist-mmd)':>30s}{'conv (fashion-vae, fashion-mmd)':>34s}")
    for label, fmt in rows:
        print(f"{label:32s}{fmt(res['mlp']):>30s}{fmt(res['conv']):>34s}")
    ok = True
    for arch in PAIRS:
        p95 = percentile(res[arch]["handler"], 95)
        met = p95 <= GOALS_MS[arch]
        ok &= met
        print(f"goal {arch}: pointer handler -> both drawn p95 {p95:.2f} ms <= {GOALS_MS[arch]:.0f} ms: "
              f"{'met' if met else 'MISSED'} (since event.timeStamp p95 {percentile(res[arch]['pointer'], 95):.2f} ms)")
    if args.json:
        Path(args.json).write_text(json.dumps({"chromium": version, "load_before": load_before,
                                               "load_after": load_after, "results": res}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

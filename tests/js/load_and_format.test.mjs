// The map's small pure helpers under Node (run by tests/test_js_units.py): how numbers are written,
// where published files are fetched from, how the test codes' file is read, how many frames are kept.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fmt, fmtCode } from "../../explorer/latent_map/format.js";
import { absoluteUrl, readPoints } from "../../explorer/latent_map/load.js";
import { pushFrame } from "../../explorer/latent_map/stats.js";

test("numbers are written with two decimals, and nothing reads -0.00", () => {
  assert.equal(fmt(1.234), "1.23");
  assert.equal(fmt(-2.5), "-2.50");
  assert.equal(fmt(-0.004), "0.00"); // toFixed alone writes "-0.00"
  assert.equal(fmt(0.0049), "0.00");
  assert.equal(fmt(-0.006), "-0.01");
});

test("a code shows its first four coordinates, then an ellipsis when it has more", () => {
  assert.equal(fmtCode(Float32Array.from([0.5, -1.25])), "0.50, -1.25");
  assert.equal(fmtCode([1, 2, 3, 4]), "1.00, 2.00, 3.00, 4.00");
  assert.equal(fmtCode(Float32Array.from([1, 2, 3, 4, 5, 6])), "1.00, 2.00, 3.00, 4.00, …");
});

test("published files are fetched under the page's path, with or without a trailing slash", () => {
  const at = (pathname) => ({ origin: "http://host:8501", pathname });
  assert.equal(absoluteUrl("app/static/cache/ab.bin", at("/")), "http://host:8501/app/static/cache/ab.bin");
  // Behind a proxy with --server.baseUrlPath=vae the page is /vae or /vae/.
  assert.equal(absoluteUrl("app/static/cache/ab.bin", at("/vae")), "http://host:8501/vae/app/static/cache/ab.bin");
  assert.equal(absoluteUrl("app/static/cache/ab.bin", at("/vae/")), "http://host:8501/vae/app/static/cache/ab.bin");
});

test("the test codes' file is n float32 (x, y) pairs, then n uint16 labels", () => {
  const xy = [0.5, -1.5, 2.25, 3, -0.125, 8], labels = [7, 0, 65535];
  const buffer = new ArrayBuffer(xy.length * 4 + labels.length * 2);
  const view = new DataView(buffer);
  xy.forEach((v, i) => view.setFloat32(4 * i, v, true)); // written as numpy's "<f4" and "<u2" are
  labels.forEach((v, i) => view.setUint16(4 * xy.length + 2 * i, v, true));
  const read = readPoints(buffer, 3);
  assert.deepEqual(Array.from(read.points), xy); // all exactly representable in float32
  assert.deepEqual(Array.from(read.labels), labels);
});

test("the frame log keeps the latest frames only", () => {
  const frames = [];
  for (let i = 0; i < 7; i++) pushFrame(frames, { i }, 5);
  assert.deepEqual(frames.map((f) => f.i), [2, 3, 4, 5, 6]);
});

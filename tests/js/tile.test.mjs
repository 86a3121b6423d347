// The map's decoded tiles go through the one pixel path (pixels.js's writeImageData), under Node with
// a stand-in for the few canvas calls a PixelCanvas makes (run by tests/test_js_units.py).
import { test } from "node:test";
import assert from "node:assert/strict";

// Just enough of a document for PixelCanvas: canvases whose 2D context records what it is given.
class FakeContext {
  constructor(canvas) {
    this.canvas = canvas;
    this.put = [];
    this.drawn = [];
  }
  createImageData(w, h) { return { width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }; }
  putImageData(image, x, y) { this.put.push({ pixels: Array.from(image.data), x, y }); }
  drawImage(...args) { this.drawn.push(args); }
}
globalThis.document = {
  createElement: () => {
    const canvas = { width: 300, height: 150, appendChild() {} };
    canvas.getContext = () => (canvas.ctx ||= new FakeContext(canvas));
    return canvas;
  },
};
const { PixelCanvas } = await import("../../explorer/latent_map/tile.js");
const { byte } = await import("../../explorer/latent_map/pixels.js");

test("a grey image is written with pixels.js's bytes, then scaled up to the tile", () => {
  const tile = new PixelCanvas(null, 112);
  const values = Float32Array.from([0.04, 0.5, 1, 0, 1 / 255, 0.999]); // (1, 2, 3)
  tile.drawMean(values, [1, 2, 3]);
  const [put] = tile.smallCtx.put;
  const grey = Array.from(values, byte); // 0.04 is 10 (rounded once), as vae_core's to_uint8; 11 by rounding twice
  assert.deepEqual(grey, [10, 128, 255, 0, 1, 255]);
  for (let i = 0; i < 6; i++) assert.deepEqual(put.pixels.slice(4 * i, 4 * i + 4), [grey[i], grey[i], grey[i], 255]);
  assert.deepEqual([tile.small.width, tile.small.height], [3, 2]);
  const [source, x, y, w, h] = tile.ctx.drawn[0];
  assert.equal(source, tile.small);
  assert.deepEqual([x, y, w, h], [0, 0, 112, 112]);
});

test("a colour image reads torch's (C, H, W) planes", () => {
  const tile = new PixelCanvas(null, 56);
  const values = Float32Array.from([0.2, 0.9, 0.4, 0.1, 0.6, 0.5]); // R R G G B B
  tile.drawMean(values, [3, 1, 2]);
  const b = (v) => Math.floor(v * 255 + 0.5); // float32 0.9 is 0.89999998: 229.49999 + 0.5 -> 229
  assert.deepEqual(tile.smallCtx.put[0].pixels,
                   [b(values[0]), b(values[2]), b(values[4]), 255, b(values[1]), b(values[3]), b(values[5]), 255]);
  assert.deepEqual(tile.smallCtx.put[0].pixels, [51, 102, 153, 255, 229, 26, 128, 255]);
});

test("the hidden image is made again only when the image size changes", () => {
  const tile = new PixelCanvas(null, 56);
  tile.drawMean(new Float32Array(4), [1, 2, 2]);
  const first = tile.image;
  tile.drawMean(new Float32Array(4).fill(1), [1, 2, 2]);
  assert.equal(tile.image, first);
  assert.deepEqual(tile.smallCtx.put[1].pixels.slice(0, 4), [255, 255, 255, 255]);
  tile.drawMean(new Float32Array(9), [1, 3, 3]);
  assert.notEqual(tile.image, first);
  assert.deepEqual([tile.image.width, tile.image.height], [3, 3]);
});

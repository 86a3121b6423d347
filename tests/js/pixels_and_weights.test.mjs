// The pure parts of the latent map's JavaScript, under Node (`node --test tests/js/`; run by
// tests/test_js_units.py): the one pixel path, float16 weights, tensor reads and header checks.
// The forward passes themselves are checked against PyTorch in Chromium (tests/e2e/test_*_js.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { byte, writeImageData } from "../../explorer/latent_map/pixels.js";
import { checkHeader, halfToFloatTable, product, readTensor } from "../../explorer/latent_map/nn.js";

const imageData = (w, h) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) });

test("a value becomes a byte by rounding once, like vae_core's to_uint8", () => {
  assert.equal(byte(0.04), 10); // 10.2: rounding twice (to 1/255 steps, then to bytes) showed 11
  assert.equal(byte(0.5), 128);
  assert.equal(byte(1 / 255), 1);
  assert.deepEqual([byte(-0.2), byte(0), byte(1), byte(1.7), byte(NaN)], [0, 0, 255, 255, 0]);
});

test("grey pixels fill scale×scale blocks of opaque grey", () => {
  const out = writeImageData([0, 1], [1, 1, 2], imageData(4, 2), 2);
  const px = (x, y) => Array.from(out.data.slice((y * 4 + x) * 4, (y * 4 + x) * 4 + 4));
  for (const [x, y] of [[0, 0], [1, 0], [0, 1], [1, 1]]) assert.deepEqual(px(x, y), [0, 0, 0, 255]);
  for (const [x, y] of [[2, 0], [3, 0], [2, 1], [3, 1]]) assert.deepEqual(px(x, y), [255, 255, 255, 255]);
});

test("colour pixels read torch's (C, H, W) planes", () => {
  const out = writeImageData([0.2, 0.9, 0.4, 0.1, 0.6, 0.5], [3, 1, 2], imageData(2, 1));
  assert.deepEqual(Array.from(out.data), [51, 102, 153, 255, 230, 26, 128, 255]);
});

test("a wrong ImageData size or channel count is refused", () => {
  assert.throws(() => writeImageData([0, 0], [1, 1, 2], imageData(3, 1)), /ImageData is 3x1, expected 2x1/);
  assert.throws(() => writeImageData([0, 0], [2, 1, 1], imageData(1, 1)), /cannot draw 2 channels/);
});

test("float16 bit patterns decode to their values", () => {
  const t = halfToFloatTable();
  assert.equal(t[0x3c00], 1);
  assert.equal(t[0xc000], -2);
  assert.equal(t[0x3555], 0.333251953125); // nearest float16 to 1/3
  assert.equal(t[0x0001], 2 ** -24); // the smallest subnormal
  assert.equal(t[0x7bff], 65504); // the largest finite
  assert.equal(t[0x7c00], Infinity);
  assert.ok(Number.isNaN(t[0x7e00]));
});

test("tensors are read in either dtype at their offset, and bad entries say what is wrong", () => {
  const buffer = new ArrayBuffer(16);
  new Float32Array(buffer, 0, 2).set([1.5, -2.25]);
  new Uint16Array(buffer, 8, 2).set([0x3c00, 0xc000]);
  assert.deepEqual(Array.from(readTensor(buffer, { shape: [2], dtype: "float32", offset: 0 }, [2], "w", "T")), [1.5, -2.25]);
  assert.deepEqual(Array.from(readTensor(buffer, { shape: [1, 2], dtype: "float16", offset: 8 }, [1, 2], "b", "T")), [1, -2]);
  assert.throws(() => readTensor(buffer, { shape: [3], dtype: "float32", offset: 0 }, [2], "w", "T"),
                /T: w has shape \[3\], expected \[2\]/);
  assert.throws(() => readTensor(buffer, { shape: [4], dtype: "float32", offset: 4 }, [4], "w", "T"),
                /T: w lies outside the weight file/);
  assert.throws(() => readTensor(buffer, { shape: [2], dtype: "int8", offset: 0 }, [2], "w", "T"), /unknown dtype int8/);
  assert.equal(product([3, 28, 28]), 2352);
});

test("a spec's header must match the reader and its weight file", () => {
  const spec = { format: "vae-core-decoder", version: 2, byte_order: "little", blob_bytes: 8 };
  assert.doesNotThrow(() => checkHeader(spec, new ArrayBuffer(8), "vae-core-decoder", 2, "D"));
  assert.throws(() => checkHeader(spec, new ArrayBuffer(8), "vae-core-encoder", 2, "D"), /D: not a vae-core-encoder spec/);
  assert.throws(() => checkHeader(spec, new ArrayBuffer(8), "vae-core-decoder", 3, "D"), /spec version 2, this reads 3/);
  assert.throws(() => checkHeader(spec, new ArrayBuffer(4), "vae-core-decoder", 2, "D"), /has 4 bytes, the spec says 8/);
});

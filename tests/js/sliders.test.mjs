// The latent sliders' pure parts under Node (run by tests/test_js_units.py): a slider's range
// attributes, and which of the server's points are news to the sliders and which are echoes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SLIDER_STEPS, rangeAttributes, samePoint, serverPoint } from "../../explorer/latent_map/sliders.js";

test("a slider spans its range in 200 steps, its attributes read back as the numbers given", () => {
  for (const [lo, hi, value] of [[-3, 3, 0.25], [-2.5, 2.5, -2.5], [-4, 4, 1.7000000476837158]]) {
    const a = rangeAttributes(lo, hi, value);
    assert.deepEqual([parseFloat(a.min), parseFloat(a.max), parseFloat(a.value)], [lo, hi, value]);
    const step = parseFloat(a.step);
    assert.equal(SLIDER_STEPS, 200);
    assert.ok(Math.abs(lo + SLIDER_STEPS * step - hi) <= 1e-12 * (hi - lo), `${lo} + 200 x ${step} is ${hi}`);
    // The value's position along the slider, as a range input places it, from its attributes alone.
    const position = (parseFloat(a.value) - parseFloat(a.min)) / (parseFloat(a.max) - parseFloat(a.min));
    assert.ok(Math.abs(position - (value - lo) / (hi - lo)) <= 1e-12);
  }
  assert.equal(rangeAttributes(-3, 3, 0).step, "0.03");
});

test("two points are one within 1e-6 per coordinate, and only at the same length", () => {
  assert.ok(samePoint([0.1, -2], Float32Array.from([0.1, -2]))); // float32 0.1 is 1.5e-9 off
  assert.ok(samePoint([1, 2], [1 + 9e-7, 2 - 9e-7]));
  assert.ok(!samePoint([1, 2], [1 + 2e-6, 2]));
  assert.ok(!samePoint([1, 2], [1, 2, 0]));
});

test("a point we sent comes back as an echo: it and older ones leave the queue, the sliders stay", () => {
  const sent = [[0, 0], [0.5, 0], [1, 0]];
  const values = Float32Array.from([1.25, 0]); // keys pressed since the last release
  assert.equal(serverPoint(sent, values, [0.5, 0]), "echo");
  assert.deepEqual(sent, [[1, 0]]);
  assert.equal(serverPoint(sent, values, [1, 0]), "echo");
  assert.deepEqual(sent, []);
});

test("a point set elsewhere is news: the sliders take it and the queue is emptied", () => {
  const sent = [[0.5, 0]];
  assert.equal(serverPoint(sent, Float32Array.from([0.5, 0]), [-1, 2]), "news");
  assert.deepEqual(sent, []);
});

test("the sliders' own point is nothing new", () => {
  const sent = [];
  assert.equal(serverPoint(sent, Float32Array.from([0.3, -0.7]), [0.3, -0.7]), "same");
  assert.deepEqual(sent, []);
});

// The component's layout for the width it has, under Node (run by tests/test_js_units.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mapLayout } from "../../explorer/latent_map/layout.js";

test("below 760 px the maps stack and the panel takes the whole width", () => {
  const l = mapLayout(700, 2, 900);
  assert.deepEqual([l.narrow, l.perRow, l.panelWidth, l.mapWidth], [true, 1, 700, 700]);
  assert.equal(mapLayout(760, 2, 900).narrow, false);
});

test("wide: the panel beside the maps, at most two maps a row, and all of it fits the width", () => {
  for (const width of [760, 900, 1180, 1400, 2560]) for (const n of [1, 2, 3, 4]) {
    const l = mapLayout(width, n, 1000);
    assert.equal(l.perRow, Math.min(n, 2));
    assert.ok(l.panelWidth >= 130 && l.panelWidth <= 190, `panel ${l.panelWidth}`);
    assert.equal(l.panelWidth, Math.min(190, Math.max(130, width * 0.16)));
    assert.ok(l.perRow * l.mapWidth + 12 * (l.perRow - 1) + l.panelWidth + 16 <= width, `${width} px, ${n} maps`);
    assert.ok(Number.isInteger(l.mapWidth) && Number.isInteger(l.mapHeight));
  }
  assert.deepEqual(mapLayout(1400, 2, 1000), { narrow: false, panelWidth: 190, perRow: 2, mapWidth: 591, mapHeight: 485 });
});

test("a map is at most 0.82 times as high as wide, else half the window's height, never under 240 px", () => {
  for (const [width, height] of [[1400, 1000], [1400, 400], [2560, 700], [900, 2000], [500, 300]]) {
    const l = mapLayout(width, 2, height);
    assert.ok(l.mapHeight <= l.mapWidth * 0.82 + 0.5, `${l.mapWidth} x ${l.mapHeight}`);
    assert.equal(l.mapHeight, Math.round(Math.min(l.mapWidth * 0.82, Math.max(240, height / 2))));
  }
  assert.equal(mapLayout(2560, 2, 300).mapHeight, 240); // a short window: 240 px
  assert.equal(mapLayout(1400, 1, 400).mapHeight, 240);
  assert.equal(mapLayout(300, 1, 1000).mapWidth, 300); // narrow
  assert.equal(mapLayout(150, 1, 1000).mapWidth, 200); // never under 200 px wide
});

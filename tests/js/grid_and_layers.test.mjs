// The manifold grid's lattice, a layer's place and colour scale, and the star's shape, under Node
// (run by tests/test_js_units.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { cellAt, cellPoint, drawLattice, nearestCell, tickIndices } from "../../explorer/latent_map/grid.js";
import { layerRect, legendStops } from "../../explorer/latent_map/layers.js";
import { starCorners } from "../../explorer/latent_map/marks.js";
import { MARGIN, planeToPx } from "../../explorer/latent_map/view.js";

const close = (got, want, tol, what = "") =>
  assert.ok(Math.abs(got - want) <= tol, `${what} ${got} is not within ${tol} of ${want}`);

// A 4 x 4 grid on Gaussian quantiles: uneven spacing, as the page sends for spacing = "quantile".
const GRID = { n: 4, xs: [-1.15, -0.32, 0.32, 1.15], ys: [-0.84, -0.25, 0.25, 0.84] };

test("a point of the grid's picture falls in the cell it is drawn in, and none outside the picture", () => {
  assert.deepEqual(cellAt(0, 0, 4), [0, 0]);
  assert.deepEqual(cellAt(0.2499, 0.25, 4), [0, 1]);
  assert.deepEqual(cellAt(0.999, 0.6, 4), [3, 2]);
  for (const [fx, fy] of [[1, 0.5], [0.5, 1], [-0.01, 0.5], [0.5, -1e-9]]) assert.equal(cellAt(fx, fy, 4), null);
  // Every cell's centre is in that cell.
  for (let col = 0; col < 20; col++) for (let row = 0; row < 20; row++) {
    assert.deepEqual(cellAt((col + 0.5) / 20, (row + 0.5) / 20, 20), [col, row]);
  }
});

test("a cell's point: its column's x, and y from the bottom while rows count from the top", () => {
  assert.deepEqual(cellPoint(GRID, [0, 0]), [-1.15, 0.84]); // top left
  assert.deepEqual(cellPoint(GRID, [3, 3]), [1.15, -0.84]); // bottom right
  assert.deepEqual(cellPoint(GRID, [1, 2]), [-0.32, -0.25]);
});

test("the nearest cell of a cell's own point is that cell; between lattice points, the nearer one", () => {
  for (let col = 0; col < 4; col++) for (let row = 0; row < 4; row++) {
    assert.deepEqual(nearestCell(GRID, ...cellPoint(GRID, [col, row])), [col, row]);
  }
  // x -0.74: 0.41 from -1.15, 0.42 from -0.32; y 0.6: 0.24 from 0.84 (the top row), 0.35 from 0.25.
  assert.deepEqual(nearestCell(GRID, -0.74, 0.6), [0, 0]);
  // x -0.72: now nearer -0.32; y 0.5: nearer 0.25 (the second row from the top).
  assert.deepEqual(nearestCell(GRID, -0.72, 0.5), [1, 1]);
  assert.deepEqual(nearestCell(GRID, 50, -50), [3, 3]); // far outside: the corner cell
  assert.deepEqual(nearestCell(GRID, 0, 0), [1, 2]); // a tie goes to the first of the equally near
});

test("ticks go on every ceil(n / 5)-th column, from the first", () => {
  assert.deepEqual(tickIndices(20), [0, 4, 8, 12, 16]);
  assert.deepEqual(tickIndices(12), [0, 3, 6, 9]);
  assert.deepEqual(tickIndices(4), [0, 1, 2, 3]);
  assert.deepEqual(tickIndices(1), [0]);
});

test("the lattice on a map is one line per column and row, across the grid's extent", () => {
  const lines = [];
  const ctx = { moveTo: (x, y) => lines.push([[x, y]]), lineTo: (x, y) => lines[lines.length - 1].push([x, y]),
                beginPath() {}, stroke() {} };
  const toPx = (x, y) => [100 * x, -100 * y]; // any map transform: the lines are its images
  drawLattice(ctx, GRID, toPx);
  assert.equal(lines.length, 8);
  GRID.xs.forEach((x, i) => assert.deepEqual(lines[i], [toPx(x, -0.84), toPx(x, 0.84)]));
  GRID.ys.forEach((y, i) => assert.deepEqual(lines[4 + i], [toPx(-1.15, y), toPx(1.15, y)]));
});

test("a layer's picture covers its extent's pixels: the whole plot when its extent is the view", () => {
  const W = 500, H = 400, view = { x0: -2, x1: 3, y0: -1, y1: 1.5 };
  const [x, y, w, h] = layerRect(view, W, H, [view.x0, view.x1, view.y0, view.y1]);
  close(x, MARGIN.left, 1e-9, "left");
  close(y, MARGIN.top, 1e-9, "top");
  close(w, W - MARGIN.left - MARGIN.right, 1e-9, "width");
  close(h, H - MARGIN.top - MARGIN.bottom, 1e-9, "height");
  // A smaller extent: its corners' pixels, and a positive size (y up in the plane, down on the canvas).
  const extent = [-1, 0.5, 0, 1];
  const [lx, ly, lw, lh] = layerRect(view, W, H, extent);
  const [tlx, tly] = planeToPx(view, W, H, -1, 1), [brx, bry] = planeToPx(view, W, H, 0.5, 0);
  assert.deepEqual([lx, ly], [tlx, tly]);
  close(lx + lw, brx, 1e-9, "right");
  close(ly + lh, bry, 1e-9, "bottom");
  assert.ok(lw > 0 && lh > 0);
});

test("a legend's colour scale runs evenly from white at the low end to its darkest at the high end", () => {
  const scale = legendStops({ kind: "scale" });
  assert.deepEqual(scale.map(([t]) => t), [0, 0.25, 0.5, 0.75, 1]);
  assert.equal(scale[0][1], "#ffffff");
  assert.equal(scale[4][1], "#3f196e");
  assert.equal(scale[2][1], "#ab8ad1"); // the midpoint
  // Each stop darker than the one before it (the sum of its RGB bytes).
  const brightness = (hex) => [1, 3, 5].reduce((s, i) => s + parseInt(hex.slice(i, i + 2), 16), 0);
  for (let i = 1; i < scale.length; i++) assert.ok(brightness(scale[i][1]) < brightness(scale[i - 1][1]));
  assert.deepEqual(legendStops({ kind: "confidence" }), [[0, "#ffffff"], [1, "#555555"]]);
  for (const legend of [null, undefined, { kind: "classes" }, { kind: "toString" }]) assert.equal(legendStops(legend), null);
});

test("the sliders' star: ten corners, the first straight up, radius 9 at the points and 4 between", () => {
  const corners = starCorners(10, 20);
  assert.equal(corners.length, 10);
  close(corners[0][0], 10, 1e-12, "x");
  close(corners[0][1], 11, 1e-12, "y"); // up is -y on a canvas
  corners.forEach(([x, y], k) => {
    close(Math.hypot(x - 10, y - 20), k % 2 ? 4 : 9, 1e-12, `radius ${k}`);
    close(Math.atan2(y - 20, x - 10), Math.atan2(Math.sin(-Math.PI / 2 + k * Math.PI / 5), Math.cos(-Math.PI / 2 + k * Math.PI / 5)), 1e-12, `angle ${k}`);
  });
});

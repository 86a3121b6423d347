// A map's geometry under Node (run by tests/test_js_units.py): the view's plane <-> pixel transform,
// fitting, zooming and panning it, the plane <-> latent maths, q(z|x)'s ellipse, straight paths,
// the nearest test point and the axes' ticks. Each is checked against an independent computation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MARGIN, fitAspect, panView, planeToPx, pxToPlane, viewOfExtent, wheelZoom, zoomAbout }
  from "../../explorer/latent_map/view.js";
import { latentToPlane, linearPath, planeToLatent, posteriorEllipse } from "../../explorer/latent_map/plane.js";
import { indicesByClass, nearestPoint } from "../../explorer/latent_map/points.js";
import { tickLabel, ticks } from "../../explorer/latent_map/axes.js";

const close = (got, want, tol, what = "") =>
  assert.ok(Math.abs(got - want) <= tol, `${what} ${got} is not within ${tol} of ${want}`);
const closeAll = (got, want, tol, what = "") => {
  assert.equal(got.length, want.length, what);
  got.forEach((g, i) => close(g, want[i], tol, `${what}[${i}]`));
};

const W = 600, H = 420; // a canvas; its plot is W - 52 by H - 42 pixels
const VIEW = { x0: -3.5, x1: 2.25, y0: -1.75, y1: 4 };

test("the view's corners are the plot's corners, with y going up", () => {
  closeAll(planeToPx(VIEW, W, H, VIEW.x0, VIEW.y1), [MARGIN.left, MARGIN.top], 1e-9, "top left");
  closeAll(planeToPx(VIEW, W, H, VIEW.x1, VIEW.y0), [W - MARGIN.right, H - MARGIN.bottom], 1e-9, "bottom right");
  const centre = planeToPx(VIEW, W, H, (VIEW.x0 + VIEW.x1) / 2, (VIEW.y0 + VIEW.y1) / 2);
  closeAll(centre, [(MARGIN.left + W - MARGIN.right) / 2, (MARGIN.top + H - MARGIN.bottom) / 2], 1e-9, "centre");
});

test("plane -> pixel -> plane and pixel -> plane -> pixel round trips", () => {
  for (const [x, y] of [[0, 0], [-3.5, 4], [1.234, -0.5], [10, -20]]) {
    const [px, py] = planeToPx(VIEW, W, H, x, y);
    closeAll(pxToPlane(VIEW, W, H, px, py), [x, y], 1e-12, `(${x}, ${y})`);
  }
  for (const [px, py] of [[0, 0], [MARGIN.left, H - MARGIN.bottom], [311.5, 97.25]]) {
    const [x, y] = pxToPlane(VIEW, W, H, px, py);
    closeAll(planeToPx(VIEW, W, H, x, y), [px, py], 1e-9, `pixel (${px}, ${py})`);
  }
});

test("fitting a view gives both axes one scale, keeps its centre and still shows all of it", () => {
  for (const view of [VIEW, viewOfExtent([-1, 1, -8, 8]), viewOfExtent([0, 100, 0.5, 0.6])]) {
    const fit = fitAspect(view, W, H);
    const [w, h] = [W - MARGIN.left - MARGIN.right, H - MARGIN.top - MARGIN.bottom];
    close((fit.x1 - fit.x0) / w, (fit.y1 - fit.y0) / h, 1e-12 * (fit.x1 - fit.x0), "units per pixel");
    close((fit.x0 + fit.x1) / 2, (view.x0 + view.x1) / 2, 1e-12 * (view.x1 - view.x0), "centre x");
    close((fit.y0 + fit.y1) / 2, (view.y0 + view.y1) / 2, 1e-12 * (view.y1 - view.y0), "centre y");
    const eps = 1e-12 * Math.max(view.x1 - view.x0, view.y1 - view.y0);
    assert.ok(fit.x0 <= view.x0 + eps && fit.x1 >= view.x1 - eps && fit.y0 <= view.y0 + eps && fit.y1 >= view.y1 - eps);
    // One axis is kept exactly (up to rounding): the one that was the tighter fit.
    assert.ok(Math.abs(fit.x1 - fit.x0 - (view.x1 - view.x0)) <= eps * 4 ||
              Math.abs(fit.y1 - fit.y0 - (view.y1 - view.y0)) <= eps * 4);
  }
});

test("zooming about a point keeps that point under the same pixel and scales the view by k", () => {
  for (const [x, y, k] of [[0.3, 1.1, 0.5], [-3, 3.5, 2], [1, -1, wheelZoom(-120)]]) {
    const before = planeToPx(VIEW, W, H, x, y);
    const zoomed = zoomAbout(VIEW, x, y, k);
    closeAll(planeToPx(zoomed, W, H, x, y), before, 1e-9, `(${x}, ${y}) x${k}`);
    close(zoomed.x1 - zoomed.x0, k * (VIEW.x1 - VIEW.x0), 1e-12, "width");
    close(zoomed.y1 - zoomed.y0, k * (VIEW.y1 - VIEW.y0), 1e-12, "height");
  }
});

test("a wheel turn down zooms out, up zooms in, and the two undo each other", () => {
  assert.equal(wheelZoom(0), 1);
  assert.ok(wheelZoom(100) > 1 && wheelZoom(-100) < 1);
  close(wheelZoom(100) * wheelZoom(-100), 1, 1e-15, "down then up");
  close(wheelZoom(100), Math.exp(0.15), 1e-15, "100 px");
});

test("panning moves the plane point under the pointer's start to where the pointer is", () => {
  const [fx, fy, tx, ty] = [200, 150, 260.5, 90];
  const grabbed = pxToPlane(VIEW, W, H, fx, fy);
  const moved = panView(VIEW, W, H, fx, fy, tx, ty);
  closeAll(planeToPx(moved, W, H, ...grabbed), [tx, ty], 1e-9, "grabbed point");
  close(moved.x1 - moved.x0, VIEW.x1 - VIEW.x0, 1e-12, "width kept");
  close(moved.y1 - moved.y0, VIEW.y1 - VIEW.y0, 1e-12, "height kept");
});

// An orthonormal pair of axes in R^4 and a mean: a plane as the page sends one for d > 2.
const s = 0.5, PLANE4 = { mean: [0.1, -0.2, 0.3, 0.05], axes: [[s, s, s, s], [s, -s, s, -s]] };

test("plane -> latent -> plane round trips on an orthonormal plane, and is the identity for d = 2", () => {
  for (const [x, y] of [[0, 0], [1.5, -2], [-0.25, 0.75]]) {
    const z = planeToLatent(PLANE4, x, y);
    // z = mean + x a + y b, computed here in doubles.
    closeAll(Array.from(z), PLANE4.mean.map((m, i) => m + x * PLANE4.axes[0][i] + y * PLANE4.axes[1][i]), 1e-6, "z");
    closeAll(latentToPlane(PLANE4, z), [x, y], 1e-6, `(${x}, ${y})`); // z is float32
  }
  const id = { mean: [0, 0], axes: [[1, 0], [0, 1]] };
  assert.deepEqual(Array.from(planeToLatent(id, 0.5, -1.25)), [0.5, -1.25]);
  assert.deepEqual(latentToPlane(id, [0.5, -1.25]), [0.5, -1.25]);
  assert.deepEqual(latentToPlane(PLANE4, [0.1, -0.2]), latentToPlane(PLANE4, [0.1, -0.2, 0, 0])); // missing: 0
});

test("q(z|x)'s k-sigma ellipse is the set (p - c)ᵀ Σ⁻¹ (p - c) = k² of its covariance in the plane", () => {
  const mu = [0.4, -1, 0.2, 0.9], logvar = [Math.log(0.5), Math.log(2), Math.log(0.1), 0];
  const [a, b] = PLANE4.axes, v = logvar.map(Math.exp), d = mu.map((m, i) => m - PLANE4.mean[i]);
  const dot = (p, q) => p.reduce((t, pi, i) => t + pi * q[i], 0);
  const c = [dot(a, d), dot(b, d)];
  const sxx = dot(a.map((ai, i) => ai * v[i]), a), sxy = dot(a.map((ai, i) => ai * v[i]), b);
  const syy = dot(b.map((bi, i) => bi * v[i]), b), det = sxx * syy - sxy * sxy;
  for (const k of [1, 2]) {
    const pts = posteriorEllipse(mu, logvar, PLANE4, k, 48);
    assert.equal(pts.length, 48);
    closeAll(pts[0], pts[47], 1e-12, "closed");
    for (const [x, y] of pts) {
      const dx = x - c[0], dy = y - c[1];
      close((syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / det, k * k, 1e-9, `k = ${k}`);
    }
  }
  // An axis-aligned case by eye: d = 2, standard deviations 2 and 0.5 about (1, -1).
  const pts = posteriorEllipse([1, -1], [Math.log(4), Math.log(0.25)], { mean: [0, 0], axes: [[1, 0], [0, 1]] }, 1, 5);
  closeAll(pts.map((p) => p[0]), [3, 1, -1, 1, 3], 1e-12, "x");
  closeAll(pts.map((p) => p[1]), [-1, -0.5, -1, -1.5, -1], 1e-12, "y");
});

test("a straight path has its ends, even steps, and counts missing coordinates as 0", () => {
  const path = linearPath([1, 2], [3, -2, 4], 5);
  assert.equal(path.length, 5);
  assert.deepEqual(Array.from(path[0]), [1, 2, 0]);
  assert.deepEqual(Array.from(path[4]), [3, -2, 4]);
  closeAll(Array.from(path[2]), [2, 0, 2], 1e-7, "midpoint");
  closeAll(Array.from(path[1]), [1.5, 1, 1], 1e-7, "first step");
});

test("points are grouped by class, labels taken modulo the class count", () => {
  const groups = indicesByClass(Uint16Array.from([2, 0, 2, 1, 5]), 3);
  assert.deepEqual(groups.map((g) => Array.from(g)), [[1], [3], [0, 2, 4]]);
  assert.ok(groups.every((g) => g instanceof Uint32Array));
});

test("the nearest point is found within the radius in pixels, and none beyond it", () => {
  const view = fitAspect(VIEW, W, H); // one scale: a pixel radius is a circle in the plane
  const at = (px, py) => pxToPlane(view, W, H, px, py);
  const points = Float32Array.from([...at(100, 100), ...at(106, 100), ...at(300, 300), ...at(103.5, 104)]);
  const distance = (i, px, py) => {
    const [qx, qy] = planeToPx(view, W, H, points[2 * i], points[2 * i + 1]);
    return Math.hypot(qx - px, qy - py);
  };
  // The independent answer: the smallest pixel distance below the radius.
  const brute = (px, py, r) => {
    let best = -1;
    for (let i = 0; i < points.length / 2; i++) if (distance(i, px, py) < r && (best < 0 || distance(i, px, py) < distance(best, px, py))) best = i;
    return best;
  };
  for (const [px, py, r] of [[101, 100, 8], [105, 100, 8], [104, 103, 8], [300, 305, 8], [300, 310, 8], [200, 200, 40]]) {
    assert.equal(nearestPoint(points, view, W, H, px, py, r), brute(px, py, r), `(${px}, ${py}) within ${r}`);
  }
  assert.equal(nearestPoint(points, view, W, H, 300, 310, 8), -1);
});

test("ticks are round steps inside the range, at most seven, with zero exactly zero", () => {
  assert.deepEqual(ticks(0, 10), [0, 2, 4, 6, 8, 10]);
  closeAll(ticks(-3.2, 4.7), [-2, 0, 2, 4], 1e-12, "(-3.2, 4.7)");
  for (const [lo, hi] of [[-0.3, 0.3], [-3.5, 2.25], [0.001, 0.0042], [-1234, 5678], [-1e-3, 2e-3]]) {
    const t = ticks(lo, hi);
    assert.ok(t.length >= 2 && t.length <= 7, `${t.length} ticks on (${lo}, ${hi})`);
    const k = t[1] - t[0];
    const mantissa = k / Math.pow(10, Math.floor(Math.log10(k) + 1e-9));
    assert.ok([1, 2, 5, 10].some((m) => Math.abs(mantissa - m) < 1e-6), `step ${k}`);
    for (let i = 0; i < t.length; i++) {
      assert.ok(t[i] >= lo - 1e-12 && t[i] <= hi + 1e-12, `${t[i]} outside (${lo}, ${hi})`);
      if (i) close(t[i] - t[i - 1], k, k * 1e-6, "even steps");
    }
    assert.ok(t[0] - lo < k + 1e-12 && hi - t[t.length - 1] < k + 1e-12, "no room for another tick");
    if (lo < 0 && hi > 0) assert.ok(t.some((v) => Object.is(v, 0)), `0 among ${t}`);
  }
  assert.deepEqual([tickLabel(0.30000000000000004), tickLabel(-2), tickLabel(1234.5)], ["0.3", "-2", "1230"]);
});

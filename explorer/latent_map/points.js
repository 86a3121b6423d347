// The test codes on a map: grouped by class (one fill colour per group), drawn as small squares, and
// the one nearest to a pixel.

import { MARGIN, plotSize, pxToPlane } from "./view.js";

/** The indices of the points of each class: `classes` lists of indices (label modulo `classes`). */
export function indicesByClass(labels, classes) {
  const out = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) out[labels[i] % classes].push(i);
  return out.map((a) => Uint32Array.from(a));
}

/** The point (`points`: x, y pairs in the plane) nearest to the canvas pixel (px, py) within `radius`
 * pixels, or -1. A linear scan of 10,000 points costs well under a millisecond. */
export function nearestPoint(points, view, width, height, px, py, radius) {
  const [x, y] = pxToPlane(view, width, height, px, py);
  const v = view, [w] = plotSize(width, height);
  const r = (radius * (v.x1 - v.x0)) / w;
  let best = -1, bestD = r * r;
  const pts = points;
  for (let i = 0; i < pts.length / 2; i++) {
    const dx = pts[2 * i] - x, dy = pts[2 * i + 1] - y, d = dx * dx + dy * dy;
    if (d < bestD) {
      bestD = d;
      best = i;
    }
  }
  return best;
}

/** Every point as a `size`-pixel square in its class's colour (the caller clips to the plot). */
export function drawPoints(ctx, points, byClass, palette, view, width, height, size) {
  const pts = points, v = view, [w, h] = plotSize(width, height);
  const kx = w / (v.x1 - v.x0), ky = h / (v.y1 - v.y0);
  for (let c = 0; c < byClass.length; c++) {
    ctx.fillStyle = palette[c % palette.length];
    const idx = byClass[c];
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k];
      const px = MARGIN.left + (pts[2 * i] - v.x0) * kx, py = MARGIN.top + h - (pts[2 * i + 1] - v.y0) * ky;
      ctx.fillRect(px - size / 2, py - size / 2, size, size);
    }
  }
}

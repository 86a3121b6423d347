// A map's view: the part of its plane it shows, {x0, x1, y0, y1}, and the plane <-> canvas pixel
// maths. The plot is the canvas less its margins (for the axes), and y goes up.

export const MARGIN = { left: 44, right: 8, top: 8, bottom: 34 };

/** The plot's [width, height] in pixels on a canvas of `width` x `height`. */
export function plotSize(width, height) {
  return [width - MARGIN.left - MARGIN.right, height - MARGIN.top - MARGIN.bottom];
}

/** A plane point's canvas pixel. */
export function planeToPx(view, width, height, x, y) {
  const v = view, [w, h] = plotSize(width, height);
  return [MARGIN.left + ((x - v.x0) / (v.x1 - v.x0)) * w, MARGIN.top + (1 - (y - v.y0) / (v.y1 - v.y0)) * h];
}

/** A canvas pixel's plane point. */
export function pxToPlane(view, width, height, px, py) {
  const v = view, [w, h] = plotSize(width, height);
  return [v.x0 + ((px - MARGIN.left) / w) * (v.x1 - v.x0), v.y0 + (1 - (py - MARGIN.top) / h) * (v.y1 - v.y0)];
}

/** The view of an extent [x0, x1, y0, y1] (what the page sends: the codes and the grid). */
export function viewOfExtent(e) {
  return { x0: e[0], x1: e[1], y0: e[2], y1: e[3] };
}

/** The view widened on one axis, about its centre, to an equal scale on both axes, so distances and
 * circles read true. */
export function fitAspect(view, width, height) {
  const [w, h] = plotSize(width, height);
  const v = view;
  const sx = (v.x1 - v.x0) / w, sy = (v.y1 - v.y0) / h, s = Math.max(sx, sy);
  const cx = (v.x0 + v.x1) / 2, cy = (v.y0 + v.y1) / 2;
  return { x0: cx - (s * w) / 2, x1: cx + (s * w) / 2, y0: cy - (s * h) / 2, y1: cy + (s * h) / 2 };
}

/** The view scaled by `k` about the plane point (x, y), which stays where it is (k > 1 zooms out). */
export function zoomAbout(view, x, y, k) {
  const v = view;
  return { x0: x + (v.x0 - x) * k, x1: x + (v.x1 - x) * k, y0: y + (v.y0 - y) * k, y1: y + (v.y1 - y) * k };
}

/** How far a wheel turn of `deltaY` zooms: the factor for zoomAbout. */
export function wheelZoom(deltaY) {
  return Math.exp(deltaY * 0.0015);
}

/** The view `start` dragged from pixel (fromX, fromY) to (toX, toY): the plane point under the first
 * pixel in `start` is under the second in the result. */
export function panView(start, width, height, fromX, fromY, toX, toY) {
  const [ax, ay] = pxToPlane(start, width, height, fromX, fromY), [bx, by] = pxToPlane(start, width, height, toX, toY);
  return { x0: start.x0 + ax - bx, x1: start.x1 + ax - bx, y0: start.y0 + ay - by, y1: start.y1 + ay - by };
}

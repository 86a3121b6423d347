// A geometry layer under a map's codes: its picture (drawn by the page, explorer/figures.py, on one
// colour scale for every map) stretched over its extent in the plane, and that scale's legend.

import { MARGIN, planeToPx } from "./view.js";

// The legend bar's colours, low to high, per kind of scale.
const RAMPS = {
  scale: ["#ffffff", "#dacceb", "#ab8ad1", "#754da8", "#3f196e"],
  confidence: ["#ffffff", "#555555"],
};

/** The picture's place on the canvas, [left, top, width, height]: its extent [x0, x1, y0, y1]'s corner
 * (x0, y1) is its top left pixel, (x1, y0) its bottom right. */
export function layerRect(view, width, height, extent) {
  const [x0, x1, y0, y1] = extent;
  const [ax, ay] = planeToPx(view, width, height, x0, y1), [bx, by] = planeToPx(view, width, height, x1, y0);
  return [ax, ay, bx - ax, by - ay];
}

/** The layer's picture (`layer`: {image, extent}), pixelated, under the codes. */
export function drawLayer(ctx, layer, view, width, height) {
  const [x, y, w, h] = layerRect(view, width, height, layer.extent);
  ctx.imageSmoothingEnabled = false;
  ctx.globalAlpha = 0.85;
  ctx.drawImage(layer.image, x, y, w, h);
  ctx.globalAlpha = 1;
}

/** The legend bar's colour stops, [offset in [0, 1], colour], evenly spaced from the low end (white)
 * to the high end; null for a legend without a bar. */
export function legendStops(legend) {
  const ramp = legend && Object.hasOwn(RAMPS, legend.kind) ? RAMPS[legend.kind] : null;
  return ramp ? ramp.map((c, i) => [i / (ramp.length - 1), c]) : null;
}

/** A layer's scale in the map's lower left corner: what it measures (with its units) above a bar, the
 * bar's two ends below it. */
export function drawLegend(ctx, legend, height) {
  const stops = legendStops(legend);
  if (!stops) return;
  const x = MARGIN.left + 8, y = height - MARGIN.bottom - 22, w = 90, h = 8;
  ctx.font = "10px sans-serif";
  const title = legend.title || "";
  const boxWidth = Math.max(w, ctx.measureText(title).width) + 8;
  const gradient = ctx.createLinearGradient(x, 0, x + w, 0);
  for (const [offset, colour] of stops) gradient.addColorStop(offset, colour);
  ctx.fillStyle = "rgba(255,255,255,0.85)";
  ctx.fillRect(x - 4, y - 16, boxWidth, h + 30);
  ctx.fillStyle = "#333";
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  ctx.fillText(title, x, y - 13);
  ctx.fillStyle = gradient;
  ctx.fillRect(x, y, w, h);
  ctx.strokeStyle = "#999";
  ctx.strokeRect(x, y, w, h);
  ctx.fillStyle = "#333";
  ctx.fillText(legend.lo.toFixed(1), x, y + h + 1);
  ctx.textAlign = "right";
  ctx.fillText(legend.hi.toFixed(1), x + w, y + h + 1);
}

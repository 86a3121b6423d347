// A map's frame, its tick labels and its axis names.

import { MARGIN, planeToPx } from "./view.js";

/** Round tick values in [lo, hi]: a step of 1, 2, 5 or 10 times a power of ten, at most 6 steps over
 * the range; a value within rounding of 0 is 0. */
export function ticks(lo, hi) {
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / 4)));
  const k = [1, 2, 5, 10].find((m) => (hi - lo) / (m * step) <= 6) * step;
  const out = [];
  for (let t = Math.ceil(lo / k) * k; t <= hi; t += k) out.push(Math.abs(t) < k / 1e6 ? 0 : t);
  return out;
}

/** A tick's label: three significant digits, no trailing zeros. */
export function tickLabel(t) {
  return String(+t.toPrecision(3));
}

export function drawAxes(ctx, view, width, height, axisNames) {
  const v = view, left = MARGIN.left, bottom = height - MARGIN.bottom;
  ctx.strokeStyle = "#999";
  ctx.lineWidth = 1;
  ctx.strokeRect(left + 0.5, MARGIN.top + 0.5, width - left - MARGIN.right - 1, bottom - MARGIN.top - 1);
  ctx.fillStyle = "#555";
  ctx.font = "11px sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const t of ticks(v.x0, v.x1)) {
    const [px] = planeToPx(v, width, height, t, v.y0);
    ctx.fillText(tickLabel(t), px, bottom + 3);
  }
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of ticks(v.y0, v.y1)) {
    const [, py] = planeToPx(v, width, height, v.x0, t);
    ctx.fillText(tickLabel(t), left - 4, py);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.fillText(axisNames[0], left + (width - left - MARGIN.right) / 2, height - 1);
  ctx.save();
  ctx.translate(11, MARGIN.top + (bottom - MARGIN.top) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = "middle";
  ctx.fillText(axisNames[1], 0, 0);
  ctx.restore();
}

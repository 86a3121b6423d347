// The marks on a map's overlay, in canvas pixels: paths with a dot on every point, outlines, rings,
// squares (interpolation ends), diamonds (drawings), the star (the sliders' point) and the crosshair
// (the point under the pointer).

/** A line through `pts` ([x, y] pixels) in the current stroke style, dashed by `dash`, closed if asked. */
export function strokeLine(ctx, pts, dash = [], closed = false) {
  ctx.setLineDash(dash);
  ctx.beginPath();
  pts.forEach(([x, y], k) => {
    if (k === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  if (closed) ctx.closePath();
  ctx.stroke();
  ctx.setLineDash([]);
}

/** A path in one colour: the line, then a dot on each of its points. */
export function dottedPath(ctx, pts, colour, dash) {
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  ctx.lineWidth = 2;
  strokeLine(ctx, pts, dash);
  for (const [x, y] of pts) {
    ctx.beginPath();
    ctx.arc(x, y, 2.5, 0, 2 * Math.PI);
    ctx.fill();
  }
}

export function ring(ctx, x, y, r, style) {
  ctx.strokeStyle = style;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.stroke();
}

export function square(ctx, x, y) {
  ctx.strokeStyle = "#111";
  ctx.lineWidth = 2;
  ctx.strokeRect(x - 5, y - 5, 10, 10);
}

export function diamond(ctx, cx, cy, fill, stroke) {
  ctx.beginPath();
  ctx.moveTo(cx, cy - 8);
  ctx.lineTo(cx + 6, cy);
  ctx.lineTo(cx, cy + 8);
  ctx.lineTo(cx - 6, cy);
  ctx.closePath();
  ctx.fillStyle = fill;
  ctx.fill();
  ctx.strokeStyle = stroke;
  ctx.lineWidth = 1.5;
  ctx.stroke();
}

/** A five-pointed star's ten corners about (cx, cy), the first point straight up: radius 9 at the
 * points, 4 between them. */
export function starCorners(cx, cy) {
  const out = [];
  for (let k = 0; k < 10; k++) {
    const r = k % 2 ? 4 : 9, a = -Math.PI / 2 + (k * Math.PI) / 5;
    out.push([cx + r * Math.cos(a), cy + r * Math.sin(a)]);
  }
  return out;
}

export function star(ctx, cx, cy) {
  ctx.beginPath();
  starCorners(cx, cy).forEach(([x, y], k) => {
    if (k === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.closePath();
  ctx.fillStyle = "#ffd400";
  ctx.fill();
  ctx.strokeStyle = "#111";
  ctx.lineWidth = 1.2;
  ctx.stroke();
}

export function crosshair(ctx, x, y, style) {
  ctx.strokeStyle = style;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(x - 10, y);
  ctx.lineTo(x + 10, y);
  ctx.moveTo(x, y - 10);
  ctx.lineTo(x, y + 10);
  ctx.stroke();
  ctx.beginPath();
  ctx.arc(x, y, 4, 0, 2 * Math.PI);
  ctx.stroke();
}

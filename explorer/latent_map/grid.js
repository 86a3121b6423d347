// The manifold grids: each model's decoded n x n lattice as one picture, with the latent coordinates of
// a few columns and rows. A hovered cell is decoded on every map; the point under the pointer anywhere
// marks its cell on every grid of its dimension. Also the lattice's lines on the maps.
//
// A grid is {n, xs, ys, url, caption} from the page: the lattice's x values left to right and y values
// bottom to top (evenly spaced or Gaussian quantiles, so possibly uneven). Cells are [col, row], rows
// counted from the top as in the picture.

import { el } from "./dom.js";
import { fmt } from "./format.js";
import { absoluteUrl } from "./load.js";

/** The cell at a point of the picture given as fractions of its width and height, or null outside. */
export function cellAt(fx, fy, n) {
  const col = Math.floor(fx * n), row = Math.floor(fy * n);
  return col >= 0 && row >= 0 && col < n && row < n ? [col, row] : null;
}

/** A cell's point in the plane: its column's x, its row's y (rows go down, y goes up). */
export function cellPoint(grid, [col, row]) {
  return [grid.xs[col], grid.ys[grid.n - 1 - row]];
}

/** The cell whose lattice point is nearest to the plane point (x, y), each axis on its own. */
export function nearestCell(grid, x, y) {
  const closest = (values, v) => values.reduce((b, u, i) => (Math.abs(u - v) < Math.abs(values[b] - v) ? i : b), 0);
  const col = closest(grid.xs, x), rowFromBottom = closest(grid.ys, y);
  return [col, grid.n - 1 - rowFromBottom];
}

/** The columns (and rows) that carry a tick: every ceil(n / 5)-th from the first. */
export function tickIndices(n) {
  const every = Math.max(1, Math.ceil(n / 5)), out = [];
  for (let i = 0; i < n; i += every) out.push(i);
  return out;
}

/** The lattice on a map: one line per grid column and row across the grid's extent, so uneven (quantile)
 * spacing shows. `toPx(x, y)` is the map's plane -> canvas pixel. */
export function drawLattice(ctx, grid, toPx) {
  ctx.strokeStyle = "rgba(0, 0, 0, 0.16)";
  ctx.lineWidth = 1;
  const [gx0, gx1] = [grid.xs[0], grid.xs[grid.xs.length - 1]], [gy0, gy1] = [grid.ys[0], grid.ys[grid.ys.length - 1]];
  ctx.beginPath();
  for (const x of grid.xs) {
    const [a, b] = [toPx(x, gy0), toPx(x, gy1)];
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
  }
  for (const y of grid.ys) {
    const [a, b] = [toPx(gx0, y), toPx(gx1, y)];
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
  }
  ctx.stroke();
}

export class ManifoldGrids {
  /** The grids go in `box`. `observer` (the map's ResizeObserver) watches their pictures so their
   * overlays can be sized; `onHover(side, cell, [x, y], event)` when the pointer is over a cell,
   * `onLeave()` when it leaves a grid. */
  constructor(box, observer, { onHover, onLeave }) {
    this.box = box;
    this.observer = observer;
    this.onHover = onHover;
    this.onLeave = onLeave;
    this.views = new Map(); // side -> {model, image, over, box, grid, marked}
    this.signature = null;
  }

  build(data) {
    const signature = JSON.stringify(data.models.map((m) => m.grid && [m.side, m.grid.url]));
    if (this.signature === signature) return;
    this.signature = signature;
    // The old pictures leave the page: stop observing them (the observer would keep them alive).
    for (const view of this.views.values()) this.observer.unobserve(view.image);
    this.box.textContent = "";
    this.views = new Map();
    for (const model of data.models) {
      if (!model.grid) continue;
      const grid = model.grid;
      const box = el("div", "vlm-grid", this.box);
      box.style.flexBasis = data.models.length > 2 ? "calc(50% - 16px)" : "300px"; // two per row for 3 or 4
      el("div", "vlm-title", box, `${model.side}: ${grid.n}×${grid.n} manifold grid`);
      const frame = el("div", "vlm-grid-frame", box);
      const image = el("img", "vlm-grid-image", frame);
      image.src = absoluteUrl(grid.url);
      image.alt = `${model.side}: ${grid.n}×${grid.n} manifold grid`;
      image.draggable = false;
      const over = el("canvas", "vlm-grid-over", frame);
      this.ticks(frame, grid);
      el("div", "vlm-grid-axes", box, grid.caption);
      const view = { model, image, over, box, grid };
      this.views.set(model.side, view);
      over.addEventListener("pointermove", (e) => {
        const r = image.getBoundingClientRect();
        const cell = cellAt((e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height, grid.n);
        if (cell) this.onHover(model.side, cell, cellPoint(grid, cell), e);
      });
      over.addEventListener("pointerleave", () => this.onLeave());
      image.addEventListener("load", () => this.sizeOverlay(view));
      this.observer.observe(image);
    }
  }

  ticks(frame, grid) {
    // The latent coordinate of every few columns and rows, at the cell centres (uneven for quantiles).
    for (const col of tickIndices(grid.n)) {
      const tick = el("span", "vlm-tick-x", frame, fmt(grid.xs[col]));
      tick.style.left = `calc(var(--tick-left) + (100% - var(--tick-left)) * ${(col + 0.5) / grid.n})`;
    }
    for (const row of tickIndices(grid.n)) {
      const tick = el("span", "vlm-tick-y", frame, fmt(grid.ys[grid.n - 1 - row]));
      tick.style.top = `calc((100% - var(--tick-bottom)) * ${(row + 0.5) / grid.n})`;
    }
  }

  resize() {
    for (const view of this.views.values()) this.sizeOverlay(view);
  }

  sizeOverlay(view) {
    // Sized when the image loads or resizes, never while the pointer moves (reading a layout size
    // then would force the browser to lay out the whole page mid-frame).
    const w = view.image.clientWidth, h = view.image.clientHeight;
    if (w && (view.over.width !== w || view.over.height !== h)) {
      view.over.width = w;
      view.over.height = h;
    }
  }

  /** Mark the cell of the point under the pointer (`hover`, or null: none) on every grid: its own cell
   * on its model's grid, the nearest cell to its projection on grids of the same dimension. `source`
   * is the model it is on; `project(side, z)` that side's map's plane point of z. */
  highlight(hover, source, project) {
    for (const view of this.views.values()) {
      const ctx = view.over.getContext("2d");
      if (view.marked) ctx.clearRect(0, 0, view.over.width, view.over.height);
      view.marked = false;
      if (!hover) continue;
      let cell = null;
      if (source.side === view.model.side) cell = hover.cell || nearestCell(view.grid, hover.x, hover.y);
      else if (source.plane.mean.length === view.model.plane.mean.length) {
        const [x, y] = project(view.model.side, hover.z);
        cell = nearestCell(view.grid, x, y);
      }
      if (!cell) continue;
      const w = view.over.width / view.grid.n, h = view.over.height / view.grid.n;
      ctx.strokeStyle = "#ffd400";
      ctx.lineWidth = 2;
      ctx.strokeRect(cell[0] * w + 1, cell[1] * h + 1, w - 2, h - 2);
      view.marked = true;
    }
  }
}

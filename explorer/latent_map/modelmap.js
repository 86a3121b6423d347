// One model's map: its test codes in the map's plane on one canvas (with the layer, the lattice, the
// legend and the axes), the marks on another above it (paths, ellipses, the pin, the drawings, the
// sliders' star, the crosshair), and pan, zoom, hover, click and double-click on it. What it shows comes
// from its owner, the LatentMap (map.js).

import { el } from "./dom.js";
import { drawAxes } from "./axes.js";
import { drawLattice } from "./grid.js";
import { drawLayer, drawLegend } from "./layers.js";
import { crosshair, diamond, dottedPath, ring, square, star, strokeLine } from "./marks.js";
import { latentToPlane, planeToLatent, posteriorEllipse } from "./plane.js";
import { drawPoints, indicesByClass, nearestPoint } from "./points.js";
import { PixelCanvas } from "./tile.js";
import { MARGIN, fitAspect, panView, planeToPx, plotSize, pxToPlane, viewOfExtent, wheelZoom, zoomAbout } from "./view.js";

// Model version -> its pan and zoom, kept when the tab is closed and opened again.
const VIEWS = new Map();

// A second click this soon (ms) and this near (px) to the first makes a double-click (the desktop's
// double-click time is 400 to 500 ms; a slower pair is two clicks).
const DOUBLE_CLICK_MS = 400;
const DOUBLE_CLICK_PX = 6;

export class ModelMap {
  constructor(owner, parent, model) {
    this.owner = owner;
    this.model = model;
    this.box = el("div", "vlm-map", parent);
    this.title = el("div", "vlm-title", this.box, model.title);
    this.stack = el("div", "vlm-stack", this.box);
    this.base = el("canvas", "vlm-base", this.stack);
    this.over = el("canvas", "vlm-over", this.stack);
    this.tip = el("div", "vlm-tip", this.stack);
    this.tipImage = new PixelCanvas(this.tip, 56, "vlm-tip-image");
    this.tipText = el("div", "vlm-tip-text", this.tip);
    this.points = null; // Float32Array (N*2) in plane coordinates
    this.labels = null;
    this.byClass = [];
    this.view = null; // {x0, x1, y0, y1} plane coordinates shown
    this.hover = null; // {x, y} plane coordinates under the pointer (or on a grid cell)
    this.hoverIndex = -1;
    this.layer = null; // {image: HTMLImageElement, extent: [x0, x1, y0, y1]}
    this.layerUrl = null; // the layer picture shown or loading
    this.installPointer();
  }

  get width() { return this.base.width; }
  get height() { return this.base.height; }

  resize(width, height) {
    for (const c of [this.base, this.over]) {
      c.width = width;
      c.height = height;
    }
    this.stack.style.width = `${width}px`;
    this.stack.style.height = `${height}px`;
    this.drawBase();
    this.drawOverlay();
  }

  setPoints(points, labels) {
    this.points = points;
    this.labels = labels;
    this.byClass = indicesByClass(labels, this.owner.data.classes.length);
    if (!this.view) this.resetView();
    this.drawBase();
  }

  saveView() {
    VIEWS.set(this.model.key, { ...this.view });
  }

  resetView() {
    const kept = VIEWS.get(this.model.key);
    if (kept && !this.view) {
      this.view = { ...kept };
      return;
    }
    this.view = viewOfExtent(this.model.extent); // from the server: the codes and the grid
    this.fitAspect();
  }

  fitAspect() {
    // Equal scale on both axes, so distances and circles read true.
    this.view = fitAspect(this.view, this.width, this.height);
    this.saveView();
  }

  toPx(x, y) {
    return planeToPx(this.view, this.width, this.height, x, y);
  }

  toPlane(px, py) {
    return pxToPlane(this.view, this.width, this.height, px, py);
  }

  // The map's plane <-> latent space: z = mean + x·axes[0] + y·axes[1] (identity for d = 2).
  toLatent(x, y) {
    return planeToLatent(this.model.plane, x, y);
  }

  project(z) {
    return latentToPlane(this.model.plane, z);
  }

  drawBase() {
    const ctx = this.base.getContext("2d");
    ctx.clearRect(0, 0, this.width, this.height);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, this.width, this.height);
    if (!this.view) return;
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, MARGIN.top, ...plotSize(this.width, this.height));
    ctx.clip();
    if (this.layer && this.layer.image.complete) drawLayer(ctx, this.layer, this.view, this.width, this.height);
    if (this.model.grid) drawLattice(ctx, this.model.grid, (x, y) => this.toPx(x, y));
    // The layer's scale: the same on every map (the page sends one).
    drawLegend(ctx, this.model.layer && this.model.layer.legend, this.height);
    if (this.points) {
      const size = this.owner.layerShown() ? 1.6 : 2.2;
      ctx.globalAlpha = this.owner.layerShown() ? 0.55 : 0.75;
      drawPoints(ctx, this.points, this.byClass, this.owner.data.palette, this.view, this.width, this.height, size);
      ctx.globalAlpha = 1;
    }
    ctx.restore();
    drawAxes(ctx, this.view, this.width, this.height, this.model.axisNames);
  }

  drawOverlay() {
    const ctx = this.over.getContext("2d");
    ctx.clearRect(0, 0, this.width, this.height);
    if (!this.view) return;
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, MARGIN.top, ...plotSize(this.width, this.height));
    ctx.clip();
    const owner = this.owner;
    const px = (z) => this.toPx(...this.project(z)); // a latent point's pixel
    // The interpolation path (and the geodesic, when the page sends one).
    for (const [key, color, dash] of [["path", "#111", []], ["geodesic", "#c2185b", [5, 3]]]) {
      const path = this.model[key];
      if (path && path.length) dottedPath(ctx, path.map(px), color, dash);
    }
    // Encoder uncertainty ellipses (the page sends them for the picked image).
    for (const ellipse of this.model.ellipses || []) {
      ctx.strokeStyle = "#111";
      ctx.lineWidth = 1.5;
      strokeLine(ctx, ellipse.points.map(([x, y]) => this.toPx(x, y)), ellipse.sigma === 2 ? [4, 3] : [], true);
    }
    // The picked test image: a ring; the interpolation ends: squares.
    const pointRing = (i, r, style) => {
      if (i === null || i === undefined || !this.points || i >= this.points.length / 2) return;
      ring(ctx, ...this.toPx(this.points[2 * i], this.points[2 * i + 1]), r, style);
    };
    pointRing(owner.data.picked, 8, "#111");
    for (const i of owner.data.ends || []) {
      if (i === null || i === undefined || !this.points) continue;
      square(ctx, ...this.toPx(this.points[2 * i], this.points[2 * i + 1]));
    }
    // The drawing's code (and its q(z|x) ellipses) and the pinned drawing's: pen-coloured diamonds.
    const pinnedDrawing = owner.pinnedDrawingCode(this.model.side);
    this.pinnedDrawingPx = pinnedDrawing ? px(pinnedDrawing) : null;
    const toDrawing = owner.drawingPath(this.model.side);
    if (toDrawing) dottedPath(ctx, toDrawing.map(px), "#7b1fa2", [6, 3]);
    if (pinnedDrawing) diamond(ctx, ...this.pinnedDrawingPx, "#ffffff", "#7b1fa2");
    const drawn = owner.drawnCode(this.model.side);
    this.drawnPx = null;
    this.drawnEllipses = [];
    if (drawn) {
      ctx.strokeStyle = "#7b1fa2";
      ctx.lineWidth = 1.5;
      for (const [k, dash] of [[1, []], [2, [4, 3]]]) {
        if (!drawn.logvar) break;
        const ellipse = posteriorEllipse(drawn.mu, drawn.logvar, this.model.plane, k);
        this.drawnEllipses.push(ellipse);
        strokeLine(ctx, ellipse.map(([x, y]) => this.toPx(x, y)), dash);
      }
      this.drawnPx = px(drawn.mu);
      diamond(ctx, ...this.drawnPx, "#7b1fa2", "#fff");
    }
    // The sliders' point: a star (always where the sliders are).
    const z = owner.sliderPoint(this.model.side);
    this.starPx = z ? px(z) : null;
    if (z) star(ctx, ...this.starPx);
    // The point under the pointer (here or on another map, or a hovered grid cell): a crosshair.
    const cross = owner.hoverPointFor(this);
    if (cross) crosshair(ctx, ...this.toPx(cross[0], cross[1]), cross.own ? "rgba(0,0,0,0.8)" : "rgba(194, 24, 91, 0.9)");
    if (this.hoverIndex >= 0) pointRing(this.hoverIndex, 5, "rgba(0,0,0,0.6)");
    ctx.restore();
  }

  nearest(px, py, radius) {
    // The test point nearest to a pixel, within `radius` pixels (-1: none).
    if (!this.points) return -1;
    return nearestPoint(this.points, this.view, this.width, this.height, px, py, radius);
  }

  installPointer() {
    const canvas = this.over;
    let drag = null;
    canvas.addEventListener("pointerdown", (e) => {
      canvas.setPointerCapture(e.pointerId);
      drag = { x: e.offsetX, y: e.offsetY, view: { ...this.view }, moved: false };
    });
    canvas.addEventListener("pointermove", (e) => {
      const t0 = this.owner.mark(e);
      if (drag && (drag.moved || Math.hypot(e.offsetX - drag.x, e.offsetY - drag.y) > 3)) {
        // Panning: the map follows the pointer; decoding waits until the pointer is let go.
        drag.moved = true;
        this.view = panView(drag.view, this.width, this.height, drag.x, drag.y, e.offsetX, e.offsetY);
        this.drawBase();
        this.drawOverlay();
        this.saveView();
        this.owner.record("pan", t0);
        return;
      }
      this.owner.hoverAt(this, e.offsetX, e.offsetY, t0);
    });
    canvas.addEventListener("pointerup", (e) => {
      const click = drag && !drag.moved;
      drag = null;
      if (!click) return;
      // A double-click resets the view and pins nothing: a click counts once the time for a second
      // one has passed, and a second click on the same spot makes it a double-click instead.
      const pending = this.pendingClick;
      this.pendingClick = null;
      if (pending) {
        clearTimeout(pending.timer);
        if (Math.hypot(e.offsetX - pending.x, e.offsetY - pending.y) <= DOUBLE_CLICK_PX) return;
        pending.fire(); // a quick click elsewhere: the first one counts now
      }
      // A shift-click on the pinned drawing (◇) makes it the interpolation's end, on the maps.
      const d = this.pinnedDrawingPx;
      const onDrawing = e.shiftKey && d && Math.hypot(e.offsetX - d[0], e.offsetY - d[1]) <= 10;
      const i = onDrawing ? -1 : this.nearest(e.offsetX, e.offsetY, 8);
      if (!onDrawing && i < 0) return;
      const fire = () => (onDrawing ? this.owner.drawingAsEnd() : this.owner.clickPoint(i, e.shiftKey));
      this.pendingClick = { x: e.offsetX, y: e.offsetY, fire, timer: setTimeout(() => {
        this.pendingClick = null;
        fire();
      }, DOUBLE_CLICK_MS) };
    });
    canvas.addEventListener("pointerleave", () => {
      this.owner.hoverAt(null);
    });
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      const t0 = performance.now();
      const [x, y] = this.toPlane(e.offsetX, e.offsetY);
      this.view = zoomAbout(this.view, x, y, wheelZoom(e.deltaY));
      this.saveView();
      this.drawBase();
      this.drawOverlay();
      this.owner.record("zoom", t0);
    }, { passive: false });
    canvas.addEventListener("dblclick", () => {
      if (this.pendingClick) clearTimeout(this.pendingClick.timer);
      this.pendingClick = null;
      VIEWS.delete(this.model.key);
      this.view = null;
      this.resetView();
      this.drawBase();
      this.drawOverlay();
    });
  }

  showTip(index, px, py) {
    if (index < 0) {
      this.tip.style.display = "none";
      return;
    }
    const data = this.owner.data, label = this.labels[index];
    this.tipText.textContent = `${data.classes[label] ?? label} · test #${index}`;
    if (this.owner.atlas) this.tipImage.drawTile(this.owner.atlas, index, data.atlas);
    this.tipImage.canvas.style.display = this.owner.atlas ? "block" : "none";
    this.tip.style.display = "block";
    // Beside the pointer, never over the point itself, and inside the map.
    const right = px + 16 + 96 < this.width;
    this.tip.style.left = `${right ? px + 16 : px - 16 - 96}px`;
    this.tip.style.top = `${Math.min(Math.max(py - 40, 0), this.height - 90)}px`;
  }
}

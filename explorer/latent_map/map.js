// The latent map: test codes, hover decoding, sliders, the drawing pad and the manifold grids of
// every model on the page, drawn, encoded and decoded in the browser. The entry module of
// st.components.v2; explorer/latent_map/bundle.py joins the modules it imports in front of it.
//
// Nothing is sent to the server while the pointer moves, a slider is dragged or the person draws: the
// encoders and decoders run here. One message goes out on a click (a picked point), a shift-click (an
// interpolation end), a slider's release (the point, so the rest of the page can use it) or
// "Pin the drawing".

import { VaeDecoder } from "./decoder.js";
import { VaeEncoder } from "./encoder.js";
import { DrawingPad } from "./pad.js";
import { el } from "./dom.js";
import { fmt, fmtCode } from "./format.js";
import { absoluteUrl, fetchBytes, fetchJson, loadImage, readPoints } from "./load.js";
import { FrameClock, STATS, exposeTestHooks } from "./stats.js";
import { MARGIN, fitAspect, panView, planeToPx, plotSize, pxToPlane, viewOfExtent, wheelZoom, zoomAbout } from "./view.js";
import { latentToPlane, linearPath, planeToLatent, posteriorEllipse } from "./plane.js";
import { drawPoints, indicesByClass, nearestPoint } from "./points.js";
import { drawAxes } from "./axes.js";
import { PixelCanvas } from "./tile.js";

const INSTANCES = new WeakMap(); // parentElement -> LatentMap: one per mounted component
const VIEWS = new Map(); // model version -> its pan and zoom, kept when the tab is closed and opened again

// ------------------------------------------------------------------------------------------------
// One model's map: its codes in the map's plane, pan and zoom, overlays.
// ------------------------------------------------------------------------------------------------

// A second click this soon (ms) and this near (px) to the first makes a double-click (the desktop's
// double-click time is 400 to 500 ms; a slower pair is two clicks).
const DOUBLE_CLICK_MS = 400;
const DOUBLE_CLICK_PX = 6;

class ModelMap {
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
    if (this.layer && this.layer.image.complete) {
      const [x0, x1, y0, y1] = this.layer.extent;
      const [ax, ay] = this.toPx(x0, y1), [bx, by] = this.toPx(x1, y0);
      ctx.imageSmoothingEnabled = false;
      ctx.globalAlpha = 0.85;
      ctx.drawImage(this.layer.image, ax, ay, bx - ax, by - ay);
      ctx.globalAlpha = 1;
    }
    this.drawGridLattice(ctx);
    this.drawLegend(ctx);
    if (this.points) {
      const size = this.owner.layerShown() ? 1.6 : 2.2;
      ctx.globalAlpha = this.owner.layerShown() ? 0.55 : 0.75;
      drawPoints(ctx, this.points, this.byClass, this.owner.data.palette, this.view, this.width, this.height, size);
      ctx.globalAlpha = 1;
    }
    ctx.restore();
    drawAxes(ctx, this.view, this.width, this.height, this.model.axisNames);
  }

  drawLegend(ctx) {
    // A layer's scale in the map's lower left corner: what it measures (with its units) above a bar,
    // the bar's two ends below it. The same scale on every map (the page sends one).
    const legend = this.model.layer && this.model.layer.legend;
    if (!legend || (legend.kind !== "scale" && legend.kind !== "confidence")) return;
    const x = MARGIN.left + 8, y = this.height - MARGIN.bottom - 22, w = 90, h = 8;
    const ramp = legend.kind === "confidence" ? ["#ffffff", "#555555"]
      : ["#ffffff", "#dacceb", "#ab8ad1", "#754da8", "#3f196e"];
    ctx.font = "10px sans-serif";
    const title = legend.title || "";
    const boxWidth = Math.max(w, ctx.measureText(title).width) + 8;
    const gradient = ctx.createLinearGradient(x, 0, x + w, 0);
    ramp.forEach((c, i) => gradient.addColorStop(i / (ramp.length - 1), c));
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

  drawGridLattice(ctx) {
    // The manifold grid's lattice: one line per grid row and column, so uneven (quantile) spacing shows.
    const grid = this.model.grid;
    if (!grid) return;
    ctx.strokeStyle = "rgba(0, 0, 0, 0.16)";
    ctx.lineWidth = 1;
    const [gx0, gx1] = [grid.xs[0], grid.xs[grid.xs.length - 1]], [gy0, gy1] = [grid.ys[0], grid.ys[grid.ys.length - 1]];
    ctx.beginPath();
    for (const x of grid.xs) {
      const [a, b] = [this.toPx(x, gy0), this.toPx(x, gy1)];
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
    }
    for (const y of grid.ys) {
      const [a, b] = [this.toPx(gx0, y), this.toPx(gx1, y)];
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
    }
    ctx.stroke();
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
    // The interpolation path (and the geodesic, when the page sends one).
    for (const [key, color, dash] of [["path", "#111", []], ["geodesic", "#c2185b", [5, 3]]]) {
      const path = this.model[key];
      if (!path || !path.length) continue;
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineWidth = 2;
      ctx.setLineDash(dash);
      ctx.beginPath();
      path.forEach((z, k) => {
        const [px, py] = this.toPx(...this.project(z));
        if (k === 0) ctx.moveTo(px, py);
        else ctx.lineTo(px, py);
      });
      ctx.stroke();
      ctx.setLineDash([]);
      for (const z of path) {
        const [px, py] = this.toPx(...this.project(z));
        ctx.beginPath();
        ctx.arc(px, py, 2.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    // Encoder uncertainty ellipses (the page sends them for the picked image).
    for (const ellipse of this.model.ellipses || []) {
      ctx.strokeStyle = "#111";
      ctx.lineWidth = 1.5;
      ctx.setLineDash(ellipse.sigma === 2 ? [4, 3] : []);
      ctx.beginPath();
      ellipse.points.forEach(([x, y], k) => {
        const [px, py] = this.toPx(x, y);
        if (k === 0) ctx.moveTo(px, py);
        else ctx.lineTo(px, py);
      });
      ctx.closePath();
      ctx.stroke();
      ctx.setLineDash([]);
    }
    // The picked test image: a ring; the interpolation ends: squares.
    const ring = (i, r, style) => {
      if (i === null || i === undefined || !this.points || i >= this.points.length / 2) return;
      const [px, py] = this.toPx(this.points[2 * i], this.points[2 * i + 1]);
      ctx.strokeStyle = style;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(px, py, r, 0, 2 * Math.PI);
      ctx.stroke();
    };
    ring(owner.data.picked, 8, "#111");
    for (const i of owner.data.ends || []) {
      if (i === null || i === undefined || !this.points) continue;
      const [px, py] = this.toPx(this.points[2 * i], this.points[2 * i + 1]);
      ctx.strokeStyle = "#111";
      ctx.lineWidth = 2;
      ctx.strokeRect(px - 5, py - 5, 10, 10);
    }
    // The drawing's code (and its q(z|x) ellipses) and the pinned drawing's: pen-coloured diamonds.
    const pinnedDrawing = owner.pinnedDrawingCode(this.model.side);
    this.pinnedDrawingPx = pinnedDrawing ? this.toPx(...this.project(pinnedDrawing)) : null;
    const toDrawing = owner.drawingPath(this.model.side);
    if (toDrawing) {
      ctx.strokeStyle = "#7b1fa2";
      ctx.fillStyle = "#7b1fa2";
      ctx.lineWidth = 2;
      ctx.setLineDash([6, 3]);
      ctx.beginPath();
      toDrawing.forEach((z, k) => {
        const [px, py] = this.toPx(...this.project(z));
        if (k === 0) ctx.moveTo(px, py);
        else ctx.lineTo(px, py);
      });
      ctx.stroke();
      ctx.setLineDash([]);
      for (const z of toDrawing) {
        const [px, py] = this.toPx(...this.project(z));
        ctx.beginPath();
        ctx.arc(px, py, 2.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    if (pinnedDrawing) this.diamond(ctx, ...this.pinnedDrawingPx, "#ffffff", "#7b1fa2");
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
        ctx.setLineDash(dash);
        ctx.beginPath();
        ellipse.forEach(([x, y], j) => {
          const [px, py] = this.toPx(x, y);
          if (j === 0) ctx.moveTo(px, py);
          else ctx.lineTo(px, py);
        });
        ctx.stroke();
      }
      ctx.setLineDash([]);
      this.drawnPx = this.toPx(...this.project(drawn.mu));
      this.diamond(ctx, ...this.drawnPx, "#7b1fa2", "#fff");
    }
    // The sliders' point: a star (always where the sliders are).
    const z = owner.sliderPoint(this.model.side);
    this.starPx = z ? this.toPx(...this.project(z)) : null;
    if (z) this.star(ctx, ...this.starPx);
    // The point under the pointer (here or on another map, or a hovered grid cell): a crosshair.
    const cross = owner.hoverPointFor(this);
    if (cross) {
      const [px, py] = this.toPx(cross[0], cross[1]);
      ctx.strokeStyle = cross.own ? "rgba(0,0,0,0.8)" : "rgba(194, 24, 91, 0.9)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(px - 10, py);
      ctx.lineTo(px + 10, py);
      ctx.moveTo(px, py - 10);
      ctx.lineTo(px, py + 10);
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(px, py, 4, 0, 2 * Math.PI);
      ctx.stroke();
    }
    if (this.hoverIndex >= 0) ring(this.hoverIndex, 5, "rgba(0,0,0,0.6)");
    ctx.restore();
  }

  diamond(ctx, cx, cy, fill, stroke) {
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

  star(ctx, cx, cy) {
    ctx.beginPath();
    for (let k = 0; k < 10; k++) {
      const r = k % 2 ? 4 : 9, a = -Math.PI / 2 + (k * Math.PI) / 5;
      const x = cx + r * Math.cos(a), y = cy + r * Math.sin(a);
      if (k === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    ctx.closePath();
    ctx.fillStyle = "#ffd400";
    ctx.fill();
    ctx.strokeStyle = "#111";
    ctx.lineWidth = 1.2;
    ctx.stroke();
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

// ------------------------------------------------------------------------------------------------
// The whole component: maps, the decoded panel, the sliders, the grids.
// ------------------------------------------------------------------------------------------------

class LatentMap {
  constructor(parentElement) {
    this.root = el("div", "vlm-root", parentElement);
    this.notice = el("div", "vlm-notice", this.root);
    this.legend = el("div", "vlm-legend", this.root);
    this.row = el("div", "vlm-row", this.root);
    this.mapsBox = el("div", "vlm-maps", this.row);
    this.panel = el("div", "vlm-panel", this.row);
    this.slidersBox = el("div", "vlm-sliders", this.root);
    this.drawBox = el("div", "vlm-draw", this.root); // below the sliders: the maps stay in view while drawing
    this.drawPathBox = el("div", "vlm-draw-path", this.root);
    this.drawingEnd = false; // the pinned drawing is the interpolation's end on the maps (shift-click on its ◇)
    this.gridsBox = el("div", "vlm-grids", this.root);
    this.maps = new Map(); // side -> ModelMap
    this.decoders = new Map(); // side -> {decoder, key} | {error}
    this.encoders = new Map(); // side -> {encoder, key, code: {mu, logvar} | null} | {error}
    this.pad = null; // the DrawingPad, once an encoder says what shape to draw
    this.drawTiles = new Map(); // side -> {canvas: PixelCanvas, caption}: each model's reconstruction
    this.tiles = new Map(); // side -> {canvas: PixelCanvas, caption}
    this.sliders = new Map(); // group id -> {inputs, values: Float32Array}
    this.pinned = null;
    this.atlas = null;
    this.atlasUrl = null;
    this.hover = null; // {map, x, y} or {gridSide, x, y}
    this.data = null;
    this.stats = STATS;
    this.clock = new FrameClock(STATS); // the time from each input event to its drawn frame
    this.askedServer = ""; // the sides last asked to be decoded on the server, sorted and joined
    this.resizeObserver = new ResizeObserver(() => {
      this.layout();
      if (this.gridViews) for (const view of this.gridViews.values()) this.sizeGridOverlay(view);
    });
    this.resizeObserver.observe(this.root);
  }

  setCallbacks(setStateValue) {
    this.setStateValue = setStateValue;
  }

  send(name, value) {
    this.stats.sent += 1;
    this.setStateValue(name, value);
  }

  layerShown() {
    return this.data && this.data.models.some((m) => m.layer);
  }

  // --- data from the server -----------------------------------------------------------------

  async update(data) {
    if (data.testHooks) exposeTestHooks(this);
    this.stats.timeline = this.stats.timeline || { mounted: performance.now() };
    const previous = this.data;
    this.data = data;
    const sides = data.models.map((m) => m.side);
    for (const [side, map] of this.maps) {
      if (!sides.includes(side) || map.model.key !== data.models.find((m) => m.side === side).key) {
        map.box.remove();
        this.maps.delete(side);
      }
    }
    for (const model of data.models) {
      let map = this.maps.get(model.side);
      if (!map) {
        map = new ModelMap(this, this.mapsBox, model);
        this.maps.set(model.side, map);
        this.loadPoints(map, model);
      }
      map.model = model;
      map.title.textContent = model.title;
      // The picture the map has (or is loading) is its own record: a map built again for data that
      // already names a layer must still load it.
      const layerUrl = model.layer ? model.layer.url : null;
      if (layerUrl !== map.layerUrl) {
        map.layerUrl = layerUrl;
        if (layerUrl) this.loadLayer(map, model.layer);
        else map.layer = null;
      }
      // What the page sends changes what is drawn (the pin, its ellipses, the path, the grid's
      // lattice, the layer's scale): drawn now, not at the pointer's next move.
      map.drawBase();
      map.drawOverlay();
    }
    // Keep the maps in the page's order.
    for (const model of data.models) this.mapsBox.appendChild(this.maps.get(model.side).box);
    this.buildLegend(data);
    this.buildPanel(data);
    this.buildSliders(data, previous);
    this.buildGrids(data);
    this.layout();
    await this.loadDecoders(data);
    this.redrawDecoded(performance.now(), "update");
    this.renderDrawingPath();
    // The test images for hover previews last: 10,000 of them are a large picture, and the map and
    // its decoders come first.
    if (data.atlas && data.atlas.url !== this.atlasUrl) this.loadAtlas(data.atlas.url);
  }

  async loadPoints(map, model) {
    try {
      const buffer = await fetchBytes(model.points);
      const { points, labels } = readPoints(buffer, model.count);
      map.setPoints(points, labels);
      this.stats.timeline.points = performance.now();
      map.drawOverlay();
    } catch (err) {
      this.fail(`The test codes of ${model.title} could not be loaded (${err.message}).`);
    }
  }

  loadLayer(map, layer) {
    loadImage(layer.url, (image) => {
      if (map.layerUrl !== layer.url) return; // another layer was chosen meanwhile
      map.layer = { image, extent: layer.extent };
      map.drawBase();
    });
  }

  loadAtlas(url) {
    this.atlasUrl = url;
    loadImage(url, (image) => {
      this.atlas = image;
      this.redrawPinned();
    });
  }

  async loadDecoders(data) {
    const jobs = data.models.map(async (model) => {
      const have = this.decoders.get(model.side);
      if (have && have.key === model.key) return;
      if (!model.decoder) {
        this.decoders.set(model.side, { key: model.key, error: model.decoderError || "no decoder export" });
        return;
      }
      try {
        const [spec, buffer] = await Promise.all([fetchJson(model.decoder.spec), fetchBytes(model.decoder.weights)]);
        const decoder = VaeDecoder.fromSpec(spec, buffer);
        this.decoders.set(model.side, { key: model.key, decoder, out: new Float32Array(decoder.imageShape.reduce((a, b) => a * b, 1)) });
      } catch (err) {
        this.decoders.set(model.side, { key: model.key, error: err.message });
      }
    });
    await Promise.all([...jobs, ...data.models.map((model) => this.loadEncoder(model))]);
    this.buildPad(data);
    const failed = [...this.decoders.entries()].filter(([side, d]) => d.error && sides(data).includes(side));
    if (failed.length) {
      this.stats.mode = "server";
      // Ask the server to send the sliders' point decoded, with every rerun: once per set of models
      // that need it (a model whose decoder fails later is asked for too).
      const need = failed.map(([side]) => side).sort();
      if ((!data.serverImages || !need.every((side) => data.serverImages[side])) && this.askedServer !== need.join(",")) {
        this.askedServer = need.join(",");
        this.send("serverDecode", need);
      }
      this.notice.textContent = "Decoding in the browser is off (" + failed.map(([s, d]) => `${s}: ${d.error}`).join("; ") +
        "). The images below are decoded on the server when you release a slider or click the map.";
      this.notice.style.display = "block";
    } else {
      this.stats.mode = "browser";
      if (!this.failed) this.notice.style.display = "none";
    }
    this.stats.ready = true;
    this.stats.timeline.decoders = this.stats.timeline.decoders || performance.now();
    this.root.dataset.ready = "1";
    this.root.dataset.mode = this.stats.mode;
  }

  async loadEncoder(model) {
    const have = this.encoders.get(model.side);
    if (have && have.key === model.key) return;
    if (!model.encoder) {
      this.encoders.set(model.side, { key: model.key, error: model.encoderError || "no encoder export" });
      return;
    }
    try {
      const [spec, buffer] = await Promise.all([fetchJson(model.encoder.spec), fetchBytes(model.encoder.weights)]);
      this.encoders.set(model.side, { key: model.key, encoder: VaeEncoder.fromSpec(spec, buffer), code: null });
    } catch (err) {
      this.encoders.set(model.side, { key: model.key, error: err.message });
    }
  }

  fail(message) {
    this.failed = true;
    this.notice.textContent = message;
    this.notice.style.display = "block";
    this.stats.errors.push(message);
  }

  // --- layout -------------------------------------------------------------------------------

  layout() {
    if (!this.data) return;
    const width = this.root.clientWidth || 900;
    const n = this.data.models.length;
    // Narrow screens (a phone, a half window): maps one under the other, the decoded images in a
    // row below them; otherwise the decoded images beside the maps, so both are seen together.
    const narrow = width < 760;
    this.row.classList.toggle("vlm-narrow", narrow);
    const panelWidth = narrow ? width : Math.min(190, Math.max(130, width * 0.16));
    const perRow = narrow ? 1 : Math.min(n, 2);
    const available = narrow ? width : width - panelWidth - 16;
    const mapWidth = Math.max(200, Math.floor((available - 12 * (perRow - 1)) / perRow));
    const mapHeight = Math.round(Math.min(mapWidth * 0.82, Math.max(240, window.innerHeight * 0.5)));
    for (const map of this.maps.values()) {
      if (map.width !== mapWidth || map.height !== mapHeight) {
        map.resize(mapWidth, mapHeight);
        if (map.points && map.view) {
          map.fitAspect();
          map.drawBase();
          map.drawOverlay();
        }
      }
    }
    this.panel.style.width = narrow ? "auto" : `${panelWidth}px`;
  }

  buildLegend(data) {
    const path = data.models.some((m) => m.path), geodesic = data.models.some((m) => m.geodesic);
    const signature = JSON.stringify([data.classes, path, geodesic, data.ends]);
    if (this.legendSignature === signature) return;
    this.legendSignature = signature;
    this.legend.textContent = "";
    data.classes.forEach((name, k) => {
      const item = el("span", "vlm-legend-item", this.legend);
      el("span", "vlm-swatch", item).style.background = data.palette[k % data.palette.length];
      el("span", "", item, name);
    });
    if (path) {
      const [a, b] = data.ends || [];
      el("span", "vlm-legend-note", this.legend,
        `━ □ the Interpolation tab's path, test #${a} → #${b} (shift-click two points to choose others)`);
    }
    if (geodesic) el("span", "vlm-legend-note vlm-legend-geodesic", this.legend, "┅ its geodesic");
  }

  // --- the decoded panel: what each model makes of the point (under the cursor, or the sliders') --

  buildPanel(data) {
    const sides = data.models.map((m) => m.side).join(",");
    if (this.panelSides !== sides) {
      this.panelSides = sides;
      this.panel.textContent = "";
      this.tiles.clear();
      this.panelHeading = el("div", "vlm-panel-heading", this.panel, "Decoded: the sliders' point ★");
      for (const model of data.models) {
        const box = el("div", "vlm-tile", this.panel);
        const canvas = new PixelCanvas(box, 112);
        const caption = el("div", "vlm-caption", box, model.side);
        this.tiles.set(model.side, { canvas, caption, box });
      }
      this.pinBox = el("div", "vlm-pin", this.panel);
    }
    this.redrawPinned();
  }

  decodeInto(side, z) {
    const entry = this.decoders.get(side);
    if (!entry || !entry.decoder) return null;
    const d = entry.decoder.latentDim, zz = new Float32Array(d);
    for (let i = 0; i < d; i++) zz[i] = z[i] ?? 0;
    const t = performance.now();
    entry.decoder.decode(zz, entry.out);
    this.clock.decodeMs += performance.now() - t;
    this.stats.decodes += 1;
    return entry;
  }

  // The latent point each model decodes now: under the pointer when it is on a map or a grid cell,
  // else the sliders' point.
  currentPoint(side) {
    const hover = this.hover;
    if (hover) {
      const model = this.data.models.find((m) => m.side === side);
      const same = hover.map ? hover.map.model : this.data.models.find((m) => m.side === hover.side);
      if (same.side === side) return { z: hover.z, source: "hover" };
      if (same.plane.mean.length === model.plane.mean.length) return { z: hover.z, source: "hover" };
    }
    return { z: this.sliderPoint(side), source: "sliders" };
  }

  redrawDecoded(t0, reason) {
    if (!this.data) return;
    const hovering = !!this.hover;
    const points = this.data.models.map((model) => this.currentPoint(model.side));
    const mixed = new Set(points.map((p) => p.source)).size > 1;
    // A map of another dimension than the one under the cursor keeps the sliders' point: its tile says so.
    this.panelHeading.textContent = mixed ? "Decoded: the point under the cursor; ★ = the sliders' point"
      : hovering ? "Decoded: the point under the cursor" : "Decoded: the sliders' point ★";
    this.data.models.forEach((model, k) => {
      const tile = this.tiles.get(model.side);
      const { z, source } = points[k];
      const zText = z ? fmtCode(z) : "";
      tile.caption.textContent = `${model.side}${mixed && source === "sliders" ? " ★" : ""}: z = (${zText})`;
      const entry = z ? this.decodeInto(model.side, z) : null;
      if (entry) tile.canvas.drawMean(entry.out, entry.decoder.imageShape);
      else if (this.data.serverImages && this.data.serverImages[model.side] && !hovering) this.drawServerImage(tile, model.side);
      else tile.canvas.clear(hovering ? "decoded on release" : "");
    });
    this.record(reason, t0);
  }

  drawServerImage(tile, side) {
    const image = new Image();
    image.onload = () => {
      tile.canvas.ctx.imageSmoothingEnabled = false;
      tile.canvas.ctx.drawImage(image, 0, 0, tile.canvas.canvas.width, tile.canvas.canvas.height);
    };
    image.src = this.data.serverImages[side];
  }

  redrawPinned() {
    if (!this.pinBox || !this.data) return;
    const index = this.data.picked;
    this.pinBox.textContent = "";
    if (!this.data.canPin) {
      el("div", "vlm-hint", this.pinBox, "Pinning a point shows its test image: that needs the data files (see the " +
        "note at the top). Hovering works without them.");
      return;
    }
    if (index === null || index === undefined) {
      el("div", "vlm-hint", this.pinBox, "Click a point to pin it: its test image and what each model makes of it. " +
        "Shift-click two points for the interpolation ends.");
      return;
    }
    el("div", "vlm-panel-heading", this.pinBox, `Pinned: test #${index}`);
    const row = el("div", "vlm-pin-row", this.pinBox);
    const n = this.data.models.length + 1, gap = 6, width = this.pinBox.clientWidth || 180;
    row.style.setProperty("--pin-px", `${Math.max(36, Math.min(56, Math.floor((width - gap * (n - 1)) / n)))}px`);
    const original = el("div", "vlm-tile", row);
    const image = new PixelCanvas(original, 56);
    if (this.atlas) image.drawTile(this.atlas, index, this.data.atlas);
    else image.clear("…");
    el("div", "vlm-caption", original, "original");
    for (const model of this.data.models) {
      // The reconstruction is the decoded code of the image: decode(mean of q(z|x)).
      const map = this.maps.get(model.side);
      const box = el("div", "vlm-tile", row);
      const canvas = new PixelCanvas(box, 56);
      el("div", "vlm-caption", box, model.side);
      const code = model.pickedCode;
      const entry = code ? this.decodeInto(model.side, code) : null;
      if (entry) canvas.drawMean(entry.out, entry.decoder.imageShape);
      else canvas.clear(map && map.points ? "" : "…");
    }
  }

  // --- the drawing pad: every model encodes the drawing as it is drawn ---------------------------

  buildPad(data) {
    const shapes = data.models.map((m) => this.encoders.get(m.side)).filter((e) => e && e.encoder)
      .map((e) => e.encoder.imageShape);
    const shape = shapes[0];
    const signature = JSON.stringify([shape, sides(data)]);
    if (this.padSignature === signature) return;
    this.padSignature = signature;
    this.drawBox.textContent = "";
    this.drawTiles.clear();
    this.pad = null;
    if (!shape) {
      el("div", "vlm-hint", this.drawBox, "Drawing needs a model whose encoder runs in the browser; none of these " +
        "does (" + data.models.map((m) => `${m.side}: ${(this.encoders.get(m.side) || {}).error}`).join("; ") + ").");
      return;
    }
    this.pad = new DrawingPad(this.drawBox, shape, {
      onChange: (t0, reason) => this.encodeDrawing(t0, reason),
      onPin: () => this.pinDrawing(),
    });
    const out = el("div", "vlm-draw-out", this.drawBox);
    el("div", "vlm-panel-heading", out, "What each model makes of it: the code ◆ on its map, its reconstruction");
    const row = el("div", "vlm-draw-row", out);
    for (const model of data.models) {
      const box = el("div", "vlm-tile", row);
      const canvas = new PixelCanvas(box, 112);
      canvas.canvas.setAttribute("aria-label", `${model.side}: reconstruction of the drawing`);
      const caption = el("div", "vlm-caption", box, model.side);
      this.drawTiles.set(model.side, { canvas, caption });
    }
    this.drawHint = el("div", "vlm-hint vlm-draw-hint", out);
    this.encodeDrawing(null, "pad");
  }

  /** Encode the pad's image with every model (mean of q(z|x)), decode that code, redraw the maps. */
  encodeDrawing(t0, reason) {
    if (!this.pad || !this.data) return;
    const image = this.pad.values, inked = this.pad.inked;
    const skipped = [];
    for (const model of this.data.models) {
      const entry = this.encoders.get(model.side), tile = this.drawTiles.get(model.side);
      if (!tile) continue;
      if (!entry || !entry.encoder || entry.encoder.inputSize !== image.length) {
        if (entry) entry.code = null;
        tile.canvas.clear("no encoder");
        skipped.push(`${model.side}: ${entry && entry.error ? entry.error : "another image size"}`);
        continue;
      }
      if (!inked) {
        entry.code = null;
        tile.canvas.clear("draw on the pad");
        tile.caption.textContent = model.side;
        continue;
      }
      const te = performance.now();
      const { mu, logvar } = entry.encoder.encode(image);
      this.clock.encodeMs += performance.now() - te;
      entry.code = { mu: Float32Array.from(mu), logvar: logvar ? Float32Array.from(logvar) : null };
      tile.caption.textContent = `${model.side}: z = (${fmtCode(mu)})`;
      const decoded = this.decodeInto(model.side, entry.code.mu);
      if (decoded) tile.canvas.drawMean(decoded.out, decoded.decoder.imageShape);
      else tile.canvas.clear("decoder off");
    }
    this.drawHint.textContent = skipped.length ? `Not encoded: ${skipped.join("; ")}` : "";
    for (const map of this.maps.values()) map.drawOverlay();
    this.stats.encodes = (this.stats.encodes || 0) + 1;
    if (t0 !== null) {
      this.clock.eventWait = this.pad.eventWait || 0;
      this.pad.eventWait = 0;
      this.record(reason, t0);
    }
  }

  drawnCode(side) {
    const entry = this.encoders.get(side);
    return entry && entry.code ? entry.code : null;
  }

  pinnedDrawingCode(side) {
    const pinned = this.data && this.data.pinnedDrawing;
    return pinned && pinned.codes && pinned.codes[side] ? pinned.codes[side] : null;
  }

  /** The linear path from the interpolation's end (the last point of the page's path; else the
   * sliders' point) to the pinned drawing's code, when the drawing is the end: as many steps as the
   * page's path. */
  drawingPath(side) {
    const end = this.drawingEnd && this.pinnedDrawingCode(side);
    if (!end) return null;
    const model = this.data.models.find((m) => m.side === side);
    const from = model.path && model.path.length ? model.path[model.path.length - 1] : this.sliderPoint(side);
    if (!from) return null;
    return linearPath(from, end, model.path && model.path.length >= 2 ? model.path.length : 10);
  }

  drawingAsEnd() {
    if (!this.data || !this.data.pinnedDrawing) return;
    this.drawingEnd = true;
    for (const map of this.maps.values()) map.drawOverlay();
    this.renderDrawingPath();
  }

  /** Each model's frames along its path to the drawing, decoded here. */
  renderDrawingPath() {
    const box = this.drawPathBox;
    box.textContent = "";
    this.drawPathFrames = new Map();
    if (!this.data || !this.drawingEnd || !this.data.pinnedDrawing) return;
    const b = (this.data.ends || [])[1];
    el("div", "vlm-panel-heading", box, `Interpolation to your pinned drawing ◇: from ${b !== undefined && b !== null
      ? `test #${b} (the Interpolation tab's end)` : "the sliders' point ★"}, decoded in your browser. ` +
      "Shift-click a point on a map to go back to test images.");
    for (const model of this.data.models) {
      const path = this.drawingPath(model.side);
      if (!path) continue;
      const row = el("div", "vlm-draw-path-row", box);
      el("span", "vlm-caption", row, model.side);
      const frames = [];
      for (const z of path) {
        const canvas = new PixelCanvas(row, 56);
        const entry = this.decodeInto(model.side, z);
        if (entry) canvas.drawMean(entry.out, entry.decoder.imageShape);
        else canvas.clear("…");
        frames.push(canvas);
      }
      this.drawPathFrames.set(model.side, { path, frames });
    }
  }

  /** The one message of the pad: the drawing, so the page keeps it as a point on the maps. */
  pinDrawing() {
    if (!this.pad || !this.pad.inked) return;
    this.pinCount = (this.pinCount || 0) + 1;
    const [c, h, w] = this.pad.imageShape;
    this.send("drawing", { shape: [c, h, w], pixels: Array.from(this.pad.values, (v) => Math.round(v * 1e4) / 1e4),
                           count: this.pinCount });
  }

  // --- sliders ------------------------------------------------------------------------------

  buildSliders(data, previous) {
    const signature = JSON.stringify(data.sliders.map((g) => [g.id, g.ranges]));
    if (this.sliderSignature === signature) {
      // Same sliders: take the server's values only when another view set them. A value we sent comes
      // back with the rerun it caused, and keys pressed meanwhile have moved the sliders on: not news.
      const same = (a, b) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= 1e-6);
      for (const group of data.sliders) {
        const mine = this.sliders.get(group.id);
        const sent = mine ? mine.sent : [];
        const echo = sent.findIndex((values) => same(values, group.z));
        if (echo >= 0) {
          sent.splice(0, echo + 1);
          continue;
        }
        if (mine && !same(group.z, mine.values)) {
          sent.length = 0;
          group.z.forEach((v, i) => {
            mine.values[i] = v;
            mine.inputs[i].value = String(v);
            mine.labels[i].textContent = fmt(v);
          });
        }
      }
      return;
    }
    this.sliderSignature = signature;
    this.slidersBox.textContent = "";
    this.sliders.clear();
    for (const group of data.sliders) {
      const box = el("div", "vlm-slider-group", this.slidersBox);
      el("div", "vlm-slider-title", box, group.title);
      const grid = el("div", "vlm-slider-grid", box);
      const values = Float32Array.from(group.z);
      const inputs = [], labels = [];
      group.ranges.forEach(([lo, hi], i) => {
        const cell = el("label", "vlm-slider", grid);
        el("span", "vlm-slider-name", cell, `z${i + 1}`);
        const input = el("input", "", cell);
        input.type = "range";
        input.min = String(lo);
        input.max = String(hi);
        input.step = String((hi - lo) / 200);
        input.value = String(values[i]);
        input.setAttribute("aria-label", `${group.prefix}z${i + 1}`);
        const label = el("span", "vlm-slider-value", cell, fmt(values[i]));
        input.addEventListener("input", (e) => {
          const t0 = this.mark(e);
          values[i] = parseFloat(input.value);
          label.textContent = fmt(values[i]);
          this.hover = null;
          for (const map of this.maps.values()) map.drawOverlay();
          this.redrawDecoded(t0, "slider");
        });
        input.addEventListener("change", () => this.sendSliders());
        inputs.push(input);
        labels.push(label);
      });
      this.sliders.set(group.id, { values, inputs, labels, sides: group.sides, sent: [] });
    }
  }

  sendSliders() {
    const out = {};
    for (const group of this.sliders.values()) {
      group.sent.push(Array.from(group.values)); // until the server sends it back
      for (const side of group.sides) out[side] = Array.from(group.values);
    }
    this.send("z", out);
  }

  sliderPoint(side) {
    for (const group of this.sliders.values()) if (group.sides.includes(side)) return group.values;
    return null;
  }

  // --- pointer ------------------------------------------------------------------------------

  hoverAt(map, px, py, t0) {
    if (!map) {
      this.hover = null;
      for (const m of this.maps.values()) {
        m.hoverIndex = -1;
        m.showTip(-1);
        m.drawOverlay();
      }
      this.highlightGridCell(null);
      this.redrawDecoded(performance.now(), "leave");
      return;
    }
    const [x, y] = map.toPlane(px, py);
    this.hover = { map, x, y, z: map.toLatent(x, y) };
    map.hoverIndex = map.nearest(px, py, 6);
    map.showTip(map.hoverIndex, px, py);
    for (const m of this.maps.values()) m.drawOverlay();
    this.highlightGridCell(this.hover);
    this.redrawDecoded(t0, "hover");
  }

  hoverPointFor(map) {
    const hover = this.hover;
    if (!hover) return null;
    const source = hover.map ? hover.map.model : this.data.models.find((m) => m.side === hover.side);
    if (source.side === map.model.side) {
      const p = [hover.x, hover.y];
      p.own = !!hover.map;
      return p;
    }
    if (source.plane.mean.length !== map.model.plane.mean.length) return null;
    const p = map.project(hover.z);
    p.own = false;
    return p;
  }

  clickPoint(index, shift) {
    // State values, not triggers: the page's callbacks read them from the session state. A count
    // makes two shift-clicks on the same point two changes.
    if (!this.data.canPin) return; // no test images: nothing to pin (the hint says so)
    if (shift && this.drawingEnd) {
      this.drawingEnd = false; // back to test images at both ends
      this.renderDrawingPath();
    }
    if (shift) {
      this.shiftClicks = (this.shiftClicks || 0) + 1;
      this.send("end", { index, count: this.shiftClicks });
    } else this.send("picked", index);
  }

  mark(event) {
    return this.clock.mark(event);
  }

  record(reason, t0) {
    this.clock.record(reason, t0);
  }

  // --- the manifold grids, with their axes; hover marks the cell's z on every map ---------------

  buildGrids(data) {
    const signature = JSON.stringify(data.models.map((m) => m.grid && [m.side, m.grid.url]));
    if (this.gridSignature === signature) return;
    this.gridSignature = signature;
    // The old pictures leave the page: stop observing them (the observer would keep them alive).
    if (this.gridViews) for (const view of this.gridViews.values()) this.resizeObserver.unobserve(view.image);
    this.gridsBox.textContent = "";
    this.gridViews = new Map();
    for (const model of data.models) {
      if (!model.grid) continue;
      const grid = model.grid;
      const box = el("div", "vlm-grid", this.gridsBox);
      box.style.flexBasis = data.models.length > 2 ? "calc(50% - 16px)" : "300px"; // two per row for 3 or 4
      el("div", "vlm-title", box, `${model.side}: ${grid.n}×${grid.n} manifold grid`);
      const frame = el("div", "vlm-grid-frame", box);
      const image = el("img", "vlm-grid-image", frame);
      image.src = absoluteUrl(grid.url);
      image.alt = `${model.side}: ${grid.n}×${grid.n} manifold grid`;
      image.draggable = false;
      const over = el("canvas", "vlm-grid-over", frame);
      this.gridTicks(frame, grid);
      el("div", "vlm-grid-axes", box, grid.caption);
      const view = { model, image, over, box, grid };
      this.gridViews.set(model.side, view);
      const cellAt = (e) => {
        const r = image.getBoundingClientRect();
        const col = Math.floor(((e.clientX - r.left) / r.width) * grid.n);
        const row = Math.floor(((e.clientY - r.top) / r.height) * grid.n);
        return col >= 0 && row >= 0 && col < grid.n && row < grid.n ? [col, row] : null;
      };
      over.addEventListener("pointermove", (e) => {
        const cell = cellAt(e);
        if (!cell) return;
        const [col, row] = cell;
        const x = grid.xs[col], y = grid.ys[grid.n - 1 - row]; // rows go down, y goes up
        const map = this.maps.get(model.side);
        this.hover = { side: model.side, x, y, z: map.toLatent(x, y), cell };
        for (const m of this.maps.values()) m.drawOverlay();
        this.highlightGridCell(this.hover);
        this.redrawDecoded(this.mark(e), "grid");
      });
      over.addEventListener("pointerleave", () => this.hoverAt(null));
      image.addEventListener("load", () => this.sizeGridOverlay(view));
      this.resizeObserver.observe(image);
    }
  }

  gridTicks(frame, grid) {
    // The latent coordinate of every few columns and rows, at the cell centres (uneven for quantiles).
    const every = Math.max(1, Math.ceil(grid.n / 5));
    for (let col = 0; col < grid.n; col += every) {
      const tick = el("span", "vlm-tick-x", frame, fmt(grid.xs[col]));
      tick.style.left = `calc(var(--tick-left) + (100% - var(--tick-left)) * ${(col + 0.5) / grid.n})`;
    }
    for (let row = 0; row < grid.n; row += every) {
      const tick = el("span", "vlm-tick-y", frame, fmt(grid.ys[grid.n - 1 - row]));
      tick.style.top = `calc((100% - var(--tick-bottom)) * ${(row + 0.5) / grid.n})`;
    }
  }

  sizeGridOverlay(view) {
    // Sized when the image loads or resizes, never while the pointer moves (reading a layout size
    // then would force the browser to lay out the whole page mid-frame).
    const w = view.image.clientWidth, h = view.image.clientHeight;
    if (w && (view.over.width !== w || view.over.height !== h)) {
      view.over.width = w;
      view.over.height = h;
    }
  }

  highlightGridCell(hover) {
    if (!this.gridViews) return;
    for (const view of this.gridViews.values()) {
      const ctx = view.over.getContext("2d");
      if (view.marked) ctx.clearRect(0, 0, view.over.width, view.over.height);
      view.marked = false;
      if (!hover) continue;
      let cell = null;
      const source = hover.map ? hover.map.model : this.data.models.find((m) => m.side === hover.side);
      if (source.side === view.model.side) cell = hover.cell || this.nearestCell(view.grid, hover.x, hover.y);
      else if (source.plane.mean.length === view.model.plane.mean.length) {
        const [x, y] = this.maps.get(view.model.side).project(hover.z);
        cell = this.nearestCell(view.grid, x, y);
      }
      if (!cell) continue;
      const w = view.over.width / view.grid.n, h = view.over.height / view.grid.n;
      ctx.strokeStyle = "#ffd400";
      ctx.lineWidth = 2;
      ctx.strokeRect(cell[0] * w + 1, cell[1] * h + 1, w - 2, h - 2);
      view.marked = true;
    }
  }

  nearestCell(grid, x, y) {
    // The grid cell whose centre is nearest (cells sit on the lattice; spacing may be uneven).
    const closest = (values, v) => values.reduce((b, u, i) => (Math.abs(u - v) < Math.abs(values[b] - v) ? i : b), 0);
    const col = closest(grid.xs, x), rowFromBottom = closest(grid.ys, y);
    return [col, grid.n - 1 - rowFromBottom];
  }
}

function sides(data) {
  return data.models.map((m) => m.side);
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let map = INSTANCES.get(parentElement);
  if (!map) {
    map = new LatentMap(parentElement);
    INSTANCES.set(parentElement, map);
  }
  map.setCallbacks(setStateValue);
  map.update(data).catch((err) => map.fail(`The latent map failed: ${err.message}`));
  // No cleanup: the map lives as long as its element (Streamlit calls this again with new data
  // for the same element, and the map keeps its pan, zoom and decoders).
}

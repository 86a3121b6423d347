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
import { fmtCode } from "./format.js";
import { fetchBytes, fetchJson, loadImage, readPoints } from "./load.js";
import { FrameClock, STATS, exposeTestHooks } from "./stats.js";
import { linearPath } from "./plane.js";
import { PixelCanvas } from "./tile.js";
import { ManifoldGrids } from "./grid.js";
import { ModelMap } from "./modelmap.js";
import { Sliders } from "./sliders.js";

const INSTANCES = new WeakMap(); // parentElement -> LatentMap: one per mounted component

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
    this.sliders = new Sliders(this.slidersBox, {
      mark: (e) => this.mark(e),
      onInput: (t0) => {
        this.hover = null;
        for (const map of this.maps.values()) map.drawOverlay();
        this.redrawDecoded(t0, "slider");
      },
      onRelease: () => this.sendSliders(),
    });
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
      this.grids.resize();
    });
    this.resizeObserver.observe(this.root);
    this.grids = new ManifoldGrids(this.gridsBox, this.resizeObserver, {
      onHover: (side, cell, point, event) => this.hoverGridCell(side, cell, point, event),
      onLeave: () => this.hoverAt(null),
    });
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
    this.sliders.update(data);
    this.grids.build(data);
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
      const same = this.hoverModel();
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

  sendSliders() {
    this.send("z", this.sliders.release());
  }

  sliderPoint(side) {
    return this.sliders.point(side);
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

  /** The model whose map or grid the pointer is on. */
  hoverModel() {
    const hover = this.hover;
    return hover.map ? hover.map.model : this.data.models.find((m) => m.side === hover.side);
  }

  hoverPointFor(map) {
    const hover = this.hover;
    if (!hover) return null;
    const source = this.hoverModel();
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

  // --- the manifold grids: hovering a cell decodes its point; the point under the pointer marks its cell

  hoverGridCell(side, cell, [x, y], event) {
    const map = this.maps.get(side);
    this.hover = { side, x, y, z: map.toLatent(x, y), cell };
    for (const m of this.maps.values()) m.drawOverlay();
    this.highlightGridCell(this.hover);
    this.redrawDecoded(this.mark(event), "grid");
  }

  highlightGridCell(hover) {
    this.grids.highlight(hover, hover && this.hoverModel(), (side, z) => this.maps.get(side).project(z));
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

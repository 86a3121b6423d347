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
import { el } from "./dom.js";
import { fetchBytes, fetchJson, loadImage, readPoints } from "./load.js";
import { FrameClock, STATS, exposeTestHooks } from "./stats.js";
import { ManifoldGrids } from "./grid.js";
import { mapLayout } from "./layout.js";
import { ModelMap } from "./modelmap.js";
import { Sliders } from "./sliders.js";
import { DecodedPanel } from "./panel.js";
import { DrawingPanel } from "./drawing.js";

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
    this.panelBox = el("div", "vlm-panel", this.row);
    this.slidersBox = el("div", "vlm-sliders", this.root);
    this.drawBox = el("div", "vlm-draw", this.root); // below the sliders: the maps stay in view while drawing
    this.drawPathBox = el("div", "vlm-draw-path", this.root);
    this.gridsBox = el("div", "vlm-grids", this.root);
    this.maps = new Map(); // side -> ModelMap
    this.decoders = new Map(); // side -> {decoder, key} | {error}
    this.encoders = new Map(); // side -> {encoder, key, code: {mu, logvar} | null} | {error}
    this.panel = new DecodedPanel(this, this.panelBox);
    this.drawing = new DrawingPanel(this, this.drawBox, this.drawPathBox);
    this.sliders = new Sliders(this.slidersBox, {
      mark: (e) => this.mark(e),
      onInput: (t0) => {
        this.hover = null;
        for (const map of this.maps.values()) map.drawOverlay();
        this.redrawDecoded(t0, "slider");
      },
      onRelease: () => this.sendSliders(),
    });
    this.atlas = null;
    this.atlasUrl = null;
    this.hover = null; // the point under the pointer: {map, x, y, z} on a map, {side, x, y, z, cell} on a grid
    this.data = null;
    this.stats = STATS;
    // A map mounted again (another tab and back) is not ready until its own decoders are: the page's
    // counters are one object for every mount, and a stale "ready" let a screenshot catch blank tiles.
    STATS.ready = false;
    this.clock = new FrameClock(STATS); // the time from each input event to its drawn frame
    this.askedServer = ""; // the sides last asked to be decoded on the server, sorted and joined
    this.resizeObserver = new ResizeObserver(() => {
      this.layout();
      this.grids.resize();
    });
    this.grids = new ManifoldGrids(this.gridsBox, this.resizeObserver, {
      onHover: (side, cell, point, event) => this.hoverGridCell(side, cell, point, event),
      onLeave: () => this.hoverAt(null),
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
    this.panel.build(data);
    this.sliders.update(data);
    this.grids.build(data);
    this.layout();
    this.redrawDecoded(performance.now(), "update"); // the models whose decoders are here draw at once
    await this.loadDecoders(data);
    this.redrawDecoded(performance.now(), "update");
    this.drawing.renderPath();
    // The test images for hover previews last: 10,000 of them are a large picture, and the map and
    // its decoders come first.
    if (data.atlas && data.atlas.url !== this.atlasUrl) this.loadAtlas(data.atlas.url);
    // The drawing pad's encoders after the first paint: it needs only the decoders, and the encoders'
    // weights (as large) would share the same two cores while the page draws.
    await this.loadEncoders(data);
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
      this.panel.redrawPinned();
    });
  }

  async loadDecoders(data) {
    const size = (shape) => shape.reduce((a, b) => a * b, 1);
    await Promise.all(data.models.map((model) => this.loadNet(this.decoders, model, model.decoder,
      model.decoderError || "no decoder export", (spec, buffer) => VaeDecoder.fromSpec(spec, buffer),
      (decoder) => ({ decoder, out: new Float32Array(size(decoder.imageShape)) }))));
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
    // Drawn by a server that has not loaded torch yet (its first view is files): say so, once, and
    // it imports torch now, while the person looks (explorer/warmup.py).
    if (data.warmAfterDraw && !this.warmAsked) {
      this.warmAsked = true;
      this.send("drawn", true);
    }
    this.stats.ready = true;
    this.stats.timeline.decoders = this.stats.timeline.decoders || performance.now();
    this.root.dataset.ready = "1";
    this.root.dataset.mode = this.stats.mode;
  }

  async loadEncoders(data) {
    await Promise.all(data.models.map((model) => this.loadNet(this.encoders, model, model.encoder,
      model.encoderError || "no encoder export", (spec, buffer) => VaeEncoder.fromSpec(spec, buffer),
      (encoder) => ({ encoder, code: null }))));
    this.drawing.build(data);
    this.stats.timeline.encoders = this.stats.timeline.encoders || performance.now();
  }

  /** One model's network for the browser into `store` (side -> entry), fetched once per model version:
   * {key, ...entry(net)}, or {key, error} when it has no export (`missing`) or the export does not load. */
  async loadNet(store, model, files, missing, fromSpec, entry) {
    const have = store.get(model.side);
    if (have && have.key === model.key) return;
    if (!files) {
      store.set(model.side, { key: model.key, error: missing });
      return;
    }
    try {
      const [spec, buffer] = await Promise.all([fetchJson(files.spec), fetchBytes(files.weights)]);
      store.set(model.side, { key: model.key, ...entry(fromSpec(spec, buffer)) });
    } catch (err) {
      store.set(model.side, { key: model.key, error: err.message });
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
    const { narrow, panelWidth, mapWidth, mapHeight } =
      mapLayout(this.root.clientWidth || 900, this.data.models.length, window.innerHeight);
    this.row.classList.toggle("vlm-narrow", narrow);
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
    this.panelBox.style.width = narrow ? "auto" : `${panelWidth}px`;
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
      const [a, b] = (data.ends || []).map((i) => (i === null || i === undefined ? "your drawing ◇" : `test #${i}`));
      el("span", "vlm-legend-note", this.legend,
        `━ □ the Interpolation tab's path, ${a} → ${b} (shift-click two points to choose others)`);
    }
    if (geodesic) el("span", "vlm-legend-note vlm-legend-geodesic", this.legend, "┅ its geodesic");
  }

  // --- the decoded panel: what each model makes of the point (under the cursor, or the sliders') --

  get tiles() {
    return this.panel.tiles;
  }

  decodeInto(side, z) {
    const entry = this.decoders.get(side);
    const model = this.data && this.data.models.find((m) => m.side === side);
    if (!entry || !entry.decoder || (model && entry.key !== model.key)) return null; // another model's, still loading
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
    this.panel.redraw(this.data.models.map((model) => this.currentPoint(model.side)), !!this.hover);
    this.record(reason, t0);
  }

  // --- the drawing pad: every model encodes the drawing as it is drawn ---------------------------

  get pad() {
    return this.drawing.pad;
  }

  get drawTiles() {
    return this.drawing.tiles;
  }

  get drawingEnd() {
    return this.drawing.isEnd;
  }

  get drawPathFrames() {
    return this.drawing.pathFrames;
  }

  drawnCode(side) {
    return this.drawing.drawnCode(side);
  }

  pinnedDrawingCode(side) {
    return this.drawing.pinnedCode(side);
  }

  drawingPath(side) {
    return this.drawing.path(side);
  }

  drawingAsEnd() {
    this.drawing.makeEnd();
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
    if (shift && this.drawing.isEnd) this.drawing.endAtTestImages(); // back to test images at both ends
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
  const { parentElement, setStateValue } = component;
  const [data] = component.data; // a list of one (explorer/latent_map/__init__.py says why)
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

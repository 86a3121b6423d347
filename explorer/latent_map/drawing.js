// The person's own drawing: the pad (pad.js), every model's encoding of it as it is drawn (its code ◆
// on the maps, with q(z|x)'s ellipses, and its reconstruction here), "Pin the drawing" (the pad's one
// message), and the pinned drawing as the interpolation's end, with the path to it decoded.

import { el } from "./dom.js";
import { fmtCode } from "./format.js";
import { DrawingPad } from "./pad.js";
import { linearPath } from "./plane.js";
import { PixelCanvas } from "./tile.js";

export class DrawingPanel {
  /** The pad and its reconstructions go in `box`, the path to the pinned drawing in `pathBox`; `owner`
   * (the LatentMap) has the page's data, the encoders and decoders, the maps, the sliders' point, the
   * frame clock and the way to the server. */
  constructor(owner, box, pathBox) {
    this.owner = owner;
    this.box = box;
    this.pathBox = pathBox;
    this.pad = null; // the DrawingPad, once an encoder says what shape to draw
    this.tiles = new Map(); // side -> {canvas: PixelCanvas, caption}: each model's reconstruction
    this.isEnd = false; // the pinned drawing is the interpolation's end on the maps (shift-click on its ◇)
    this.pathFrames = new Map(); // side -> {path, frames: PixelCanvas[]}
    this.hint = null;
    this.signature = null;
    this.models = null; // the models' keys the pad's codes are from
    this.pinCount = 0;
  }

  build(data) {
    const encoders = this.owner.encoders;
    const shapes = data.models.map((m) => encoders.get(m.side)).filter((e) => e && e.encoder)
      .map((e) => e.encoder.imageShape);
    const shape = shapes[0];
    const signature = JSON.stringify([shape, data.models.map((m) => m.side)]);
    const models = data.models.map((m) => m.key).join("|");
    if (this.signature === signature) {
      // The same pad, but another model behind a side (or a new version of it): its code of the drawing.
      if (this.models !== models) {
        this.models = models;
        this.encode(null, "models");
      }
      return;
    }
    this.signature = signature;
    this.models = models;
    this.box.textContent = "";
    this.tiles.clear();
    this.pad = null;
    if (!shape) {
      el("div", "vlm-hint", this.box, "Drawing needs a model whose encoder runs in the browser; none of these " +
        "does (" + data.models.map((m) => `${m.side}: ${(encoders.get(m.side) || {}).error}`).join("; ") + ").");
      return;
    }
    this.pad = new DrawingPad(this.box, shape, {
      onChange: (t0, reason) => this.encode(t0, reason),
      onPin: () => this.pin(),
    });
    const out = el("div", "vlm-draw-out", this.box);
    el("div", "vlm-panel-heading", out, "What each model makes of it: the code ◆ on its map, its reconstruction");
    const row = el("div", "vlm-draw-row", out);
    for (const model of data.models) {
      const box = el("div", "vlm-tile", row);
      const canvas = new PixelCanvas(box, 112);
      canvas.canvas.setAttribute("aria-label", `${model.side}: reconstruction of the drawing`);
      const caption = el("div", "vlm-caption", box, model.side);
      this.tiles.set(model.side, { canvas, caption });
    }
    this.hint = el("div", "vlm-hint vlm-draw-hint", out);
    this.encode(null, "pad");
  }

  /** Encode the pad's image with every model (mean of q(z|x)), decode that code, redraw the maps. */
  encode(t0, reason) {
    const owner = this.owner;
    if (!this.pad || !owner.data) return;
    const image = this.pad.values, inked = this.pad.inked;
    const skipped = [];
    for (const model of owner.data.models) {
      const entry = owner.encoders.get(model.side), tile = this.tiles.get(model.side);
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
      owner.clock.encodeMs += performance.now() - te;
      entry.code = { mu: Float32Array.from(mu), logvar: logvar ? Float32Array.from(logvar) : null };
      tile.caption.textContent = `${model.side}: z = (${fmtCode(mu)})`;
      const decoded = owner.decodeInto(model.side, entry.code.mu);
      if (decoded) tile.canvas.drawMean(decoded.out, decoded.decoder.imageShape);
      else tile.canvas.clear("decoder off");
    }
    this.hint.textContent = skipped.length ? `Not encoded: ${skipped.join("; ")}` : "";
    for (const map of owner.maps.values()) map.drawOverlay();
    owner.stats.encodes = (owner.stats.encodes || 0) + 1;
    if (t0 !== null) {
      owner.clock.eventWait = this.pad.eventWait || 0;
      this.pad.eventWait = 0;
      owner.record(reason, t0);
    }
  }

  /** The drawing's code under a model ({mu, logvar}), or null. */
  drawnCode(side) {
    const entry = this.owner.encoders.get(side);
    return entry && entry.code ? entry.code : null;
  }

  /** The pinned drawing's code under a model (the page encodes it), or null. */
  pinnedCode(side) {
    const pinned = this.owner.data && this.owner.data.pinnedDrawing;
    return pinned && pinned.codes && pinned.codes[side] ? pinned.codes[side] : null;
  }

  /** The linear path from the interpolation's end (the last point of the page's path; else the
   * sliders' point) to the pinned drawing's code, when the drawing is the end: as many steps as the
   * page's path. */
  path(side) {
    const end = this.isEnd && this.pinnedCode(side);
    if (!end) return null;
    const model = this.owner.data.models.find((m) => m.side === side);
    const from = model.path && model.path.length ? model.path[model.path.length - 1] : this.owner.sliderPoint(side);
    if (!from) return null;
    return linearPath(from, end, model.path && model.path.length >= 2 ? model.path.length : 10);
  }

  /** The pinned drawing becomes the interpolation's end (a shift-click on its ◇). */
  makeEnd() {
    if (!this.owner.data || !this.owner.data.pinnedDrawing) return;
    this.isEnd = true;
    for (const map of this.owner.maps.values()) map.drawOverlay();
    this.renderPath();
  }

  /** Test images at both ends again (a shift-click on a test point). */
  endAtTestImages() {
    this.isEnd = false;
    this.renderPath();
  }

  /** Each model's frames along its path to the drawing, decoded here. */
  renderPath() {
    const box = this.pathBox, data = this.owner.data;
    box.textContent = "";
    this.pathFrames = new Map();
    if (!data || !this.isEnd || !data.pinnedDrawing) return;
    const b = (data.ends || [])[1];
    el("div", "vlm-panel-heading", box, `Interpolation to your pinned drawing ◇: from ${b !== undefined && b !== null
      ? `test #${b} (the Interpolation tab's end)` : "the sliders' point ★"}, decoded in your browser. ` +
      "Shift-click a point on a map to go back to test images.");
    for (const model of data.models) {
      const path = this.path(model.side);
      if (!path) continue;
      const row = el("div", "vlm-draw-path-row", box);
      el("span", "vlm-caption", row, model.side);
      const frames = [];
      for (const z of path) {
        const canvas = new PixelCanvas(row, 56);
        const entry = this.owner.decodeInto(model.side, z);
        if (entry) canvas.drawMean(entry.out, entry.decoder.imageShape);
        else canvas.clear("…");
        frames.push(canvas);
      }
      this.pathFrames.set(model.side, { path, frames });
    }
  }

  /** The one message of the pad: the drawing, so the page keeps it as a point on the maps. */
  pin() {
    if (!this.pad || !this.pad.inked) return;
    this.pinCount += 1;
    const [c, h, w] = this.pad.imageShape;
    this.owner.send("drawing", { shape: [c, h, w], pixels: Array.from(this.pad.values, (v) => Math.round(v * 1e4) / 1e4),
                                 count: this.pinCount });
  }
}

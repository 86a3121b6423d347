// The decoded panel beside the maps: what each model makes of the point under the pointer (or of the
// sliders' point), and the pinned test image with each model's reconstruction of it.

import { el } from "./dom.js";
import { fmtCode } from "./format.js";
import { PixelCanvas } from "./tile.js";

export class DecodedPanel {
  /** The panel goes in `box`; `owner` (the LatentMap) has the page's data, the decoders (decodeInto),
   * the test images' atlas and the maps. */
  constructor(owner, box) {
    this.owner = owner;
    this.box = box;
    this.tiles = new Map(); // side -> {canvas: PixelCanvas, caption, box}
    this.heading = null;
    this.pinBox = null;
    this.sides = null; // the models the tiles are for, joined
  }

  build(data) {
    const sides = data.models.map((m) => m.side).join(",");
    if (this.sides !== sides) {
      this.sides = sides;
      this.box.textContent = "";
      this.tiles.clear();
      this.heading = el("div", "vlm-panel-heading", this.box, "Decoded: the sliders' point ★");
      for (const model of data.models) {
        const box = el("div", "vlm-tile", this.box);
        const canvas = new PixelCanvas(box, 112);
        const caption = el("div", "vlm-caption", box, model.side);
        this.tiles.set(model.side, { canvas, caption, box });
      }
      this.pinBox = el("div", "vlm-pin", this.box);
    }
    this.redrawPinned();
  }

  /** Each model's tile: `points` is {z, source: "hover" | "sliders"} per model, in the page's order. */
  redraw(points, hovering) {
    const data = this.owner.data;
    const mixed = new Set(points.map((p) => p.source)).size > 1;
    // A map of another dimension than the one under the cursor keeps the sliders' point: its tile says so.
    this.heading.textContent = mixed ? "Decoded: the point under the cursor; ★ = the sliders' point"
      : hovering ? "Decoded: the point under the cursor" : "Decoded: the sliders' point ★";
    data.models.forEach((model, k) => {
      const tile = this.tiles.get(model.side);
      const { z, source } = points[k];
      const zText = z ? fmtCode(z) : "";
      tile.caption.textContent = `${model.side}${mixed && source === "sliders" ? " ★" : ""}: z = (${zText})`;
      const entry = z ? this.owner.decodeInto(model.side, z) : null;
      if (entry) tile.canvas.drawMean(entry.out, entry.decoder.imageShape);
      else if (data.serverImages && data.serverImages[model.side] && !hovering) this.drawServerImage(tile, data.serverImages[model.side]);
      else tile.canvas.clear(hovering ? "decoded on release" : "");
    });
  }

  /** The sliders' point as the server decoded it (a data: URL), for a model not decoded here. */
  drawServerImage(tile, url) {
    const image = new Image();
    image.onload = () => {
      tile.canvas.ctx.imageSmoothingEnabled = false;
      tile.canvas.ctx.drawImage(image, 0, 0, tile.canvas.canvas.width, tile.canvas.canvas.height);
    };
    image.src = url;
  }

  redrawPinned() {
    const { data, atlas, maps } = this.owner;
    if (!this.pinBox || !data) return;
    const index = data.picked;
    this.pinBox.textContent = "";
    if (!data.canPin) {
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
    const n = data.models.length + 1, gap = 6, width = this.pinBox.clientWidth || 180;
    row.style.setProperty("--pin-px", `${Math.max(36, Math.min(56, Math.floor((width - gap * (n - 1)) / n)))}px`);
    const original = el("div", "vlm-tile", row);
    const image = new PixelCanvas(original, 56);
    if (atlas) image.drawTile(atlas, index, data.atlas);
    else image.clear("…");
    el("div", "vlm-caption", original, "original");
    for (const model of data.models) {
      // The reconstruction is the decoded code of the image: decode(mean of q(z|x)).
      const map = maps.get(model.side);
      const box = el("div", "vlm-tile", row);
      const canvas = new PixelCanvas(box, 56);
      el("div", "vlm-caption", box, model.side);
      const code = model.pickedCode;
      const entry = code ? this.owner.decodeInto(model.side, code) : null;
      if (entry) canvas.drawMean(entry.out, entry.decoder.imageShape);
      else canvas.clear(map && map.points ? "" : "…");
    }
  }
}

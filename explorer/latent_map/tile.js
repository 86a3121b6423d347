// A small picture on a canvas, pixelated: a decoded mean image (C, H, W floats in [0, 1]), an atlas
// tile or a message. Decoded images are written by pixels.js's writeImageData, the one pixel path.

import { el } from "./dom.js";
import { writeImageData } from "./pixels.js";

export class PixelCanvas {
  constructor(parent, size, className) {
    this.canvas = el("canvas", className || "vlm-pixels", parent);
    this.canvas.width = size;
    this.canvas.height = size;
    this.ctx = this.canvas.getContext("2d");
    this.ctx.imageSmoothingEnabled = false;
    this.small = document.createElement("canvas");
    this.smallCtx = this.small.getContext("2d");
    this.image = null;
  }

  /** The image at its own size on a hidden canvas, then scaled up to this one's. */
  drawMean(values, shape) {
    const [, h, w] = shape;
    if (!this.image || this.image.width !== w || this.image.height !== h) {
      this.small.width = w;
      this.small.height = h;
      this.image = this.smallCtx.createImageData(w, h);
    }
    writeImageData(values, shape, this.image);
    this.smallCtx.putImageData(this.image, 0, 0);
    this.ctx.imageSmoothingEnabled = false;
    this.ctx.drawImage(this.small, 0, 0, this.canvas.width, this.canvas.height);
  }

  /** Test image `index` of the atlas (`tile`: its columns and each image's width and height). */
  drawTile(atlas, index, tile) {
    const { columns, width, height } = tile;
    const sx = (index % columns) * width, sy = Math.floor(index / columns) * height;
    this.ctx.imageSmoothingEnabled = false;
    this.ctx.drawImage(atlas, sx, sy, width, height, 0, 0, this.canvas.width, this.canvas.height);
  }

  clear(text) {
    this.ctx.fillStyle = "#eee";
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (text) {
      this.ctx.fillStyle = "#777";
      this.ctx.font = "12px sans-serif";
      this.ctx.textAlign = "center";
      this.ctx.fillText(text, this.canvas.width / 2, this.canvas.height / 2);
    }
  }
}

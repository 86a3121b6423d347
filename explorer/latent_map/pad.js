// The drawing pad: a person draws (or loads a picture) and gets the image exactly as the models will
// read it, (C, H, W) floats in [0, 1] in torch's order, after every stroke segment.
//
// Strokes are rasterised on a hidden canvas RASTER times the dataset's size (round pen, antialiased),
// then each RASTER x RASTER block is averaged into one pixel: the ink's coverage, as MNIST's own
// anti-aliased digits are. The visible pad shows that small image upscaled (what the model sees),
// so nothing is shown that the model does not get. Ink is white on black, like MNIST and
// Fashion-MNIST; for colour data the pen has a colour. Nothing here talks to the server.

import { el } from "./dom.js";
import { writeImageData } from "./pixels.js";

const RASTER = 4; // hidden canvas pixels per image pixel (coverage in steps of 1/16)
const PEN_WIDTHS = [1, 1.5, 2, 2.5, 3, 4, 5]; // in image pixels; MNIST's strokes are about 2 to 3 wide

export class DrawingPad {
  /** `imageShape` [C, H, W]; `onChange(t0, reason)` after every change of the image; `onPin()` when
   * "Pin the drawing" is pressed. */
  constructor(parent, imageShape, { onChange, onPin, displayPx = 168 }) {
    const [c, h, w] = imageShape;
    if (c !== 1 && c !== 3) throw new Error(`DrawingPad: cannot draw ${c} channels`);
    this.imageShape = imageShape.slice();
    this.onChange = onChange;
    this.onPin = onPin;
    this.values = new Float32Array(c * h * w);
    this.inked = false;
    this.box = el("div", "vlm-pad", parent);
    el("div", "vlm-panel-heading", this.box, "Draw your own input");
    const scale = Math.max(1, Math.floor(displayPx / Math.max(h, w)));
    this.scale = scale;
    this.canvas = el("canvas", "vlm-pad-canvas", this.box);
    this.canvas.width = w * scale;
    this.canvas.height = h * scale;
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", "Drawing pad");
    this.canvas.tabIndex = 0;
    this.ctx = this.canvas.getContext("2d");
    this.shown = this.ctx.createImageData(w * scale, h * scale);
    this.raster = document.createElement("canvas");
    this.raster.width = w * RASTER;
    this.raster.height = h * RASTER;
    this.rctx = this.raster.getContext("2d", { willReadFrequently: true });
    this.tools = el("div", "vlm-pad-tools", this.box);
    const penLabel = el("label", "vlm-pad-pen", this.tools, "Pen ");
    this.pen = el("input", "", penLabel);
    this.pen.type = "range";
    this.pen.min = "0";
    this.pen.max = String(PEN_WIDTHS.length - 1);
    this.pen.step = "1";
    this.pen.value = "3";
    this.pen.setAttribute("aria-label", "Pen width");
    this.eraser = el("button", "vlm-pad-button", this.tools, "Eraser");
    this.eraser.type = "button";
    this.eraser.setAttribute("aria-pressed", "false");
    this.eraser.addEventListener("click", () => {
      this.eraser.setAttribute("aria-pressed", this.erasing() ? "false" : "true");
    });
    if (c === 3) {
      this.colour = el("input", "vlm-pad-colour", this.tools);
      this.colour.type = "color";
      this.colour.value = "#ffffff";
      this.colour.setAttribute("aria-label", "Pen colour");
    }
    const invert = el("button", "vlm-pad-button", this.tools, "Invert");
    invert.type = "button";
    invert.title = "Dark ink on light paper (a photo, a scan) -> light on dark, as the data's images are";
    invert.addEventListener("click", () => this.invert(performance.now()));
    const clear = el("button", "vlm-pad-button", this.tools, "Clear");
    clear.type = "button";
    clear.addEventListener("click", () => this.clear(performance.now()));
    const fileLabel = el("label", "vlm-pad-file", this.box, "Use an image file ");
    this.file = el("input", "", fileLabel);
    this.file.type = "file";
    this.file.accept = "image/png,image/jpeg";
    this.file.setAttribute("aria-label", "Use an image file");
    this.file.addEventListener("change", () => this.file.files[0] && this.loadFile(this.file.files[0]));
    this.pinButton = el("button", "vlm-pad-button vlm-pad-pin", this.box, "Pin the drawing");
    this.pinButton.type = "button";
    this.pinButton.addEventListener("click", () => this.onPin && this.onPin());
    this.note = el("div", "vlm-hint", this.box,
      `${w}×${h}${c === 3 ? " colour" : ""} pixels, shown as the models read them; each model encodes it as you draw.`);
    this.clear(null);
    this.installPointer();
  }

  erasing() {
    return this.eraser.getAttribute("aria-pressed") === "true";
  }

  penWidth() {
    return PEN_WIDTHS[Number(this.pen.value)] ?? 2.5;
  }

  clear(t0) {
    this.rctx.fillStyle = "#000";
    this.rctx.fillRect(0, 0, this.raster.width, this.raster.height);
    this.inked = false;
    this.update(t0, "clear");
  }

  invert(t0) {
    const ctx = this.rctx;
    ctx.save();
    ctx.globalCompositeOperation = "difference";
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, this.raster.width, this.raster.height);
    ctx.restore();
    this.inked = true;
    this.update(t0, "invert");
  }

  installPointer() {
    let last = null;
    // Image pixel units, from the pad's box on screen (CSS may scale the canvas; read once per stroke).
    let rect = null;
    const at = (e) => [((e.clientX - rect.left) / rect.width) * this.imageShape[2],
                       ((e.clientY - rect.top) / rect.height) * this.imageShape[1]];
    this.canvas.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      this.canvas.setPointerCapture(e.pointerId);
      rect = this.canvas.getBoundingClientRect();
      last = at(e);
      this.stroke(last, last, performance.now());
    });
    this.canvas.addEventListener("pointermove", (e) => {
      if (!last) return;
      const t0 = performance.now();
      this.eventWait = Math.max(0, t0 - e.timeStamp);
      const p = at(e);
      this.stroke(last, p, t0);
      last = p;
    });
    const end = () => { last = null; };
    this.canvas.addEventListener("pointerup", end);
    this.canvas.addEventListener("pointercancel", end);
  }

  /** One segment of a stroke (a dot when a = b), in image pixel units. */
  stroke(a, b, t0) {
    const ctx = this.rctx;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = this.penWidth() * RASTER;
    ctx.strokeStyle = this.erasing() ? "#000" : (this.colour ? this.colour.value : "#fff");
    ctx.beginPath();
    ctx.moveTo(a[0] * RASTER, a[1] * RASTER);
    ctx.lineTo(b[0] * RASTER + (a[0] === b[0] && a[1] === b[1] ? 0.01 : 0), b[1] * RASTER);
    ctx.stroke();
    if (!this.erasing()) this.inked = true;
    this.update(t0, "draw");
  }

  /** A PNG or JPEG, resized to the dataset's size (aspect kept, centred on black) and, for grey
   * data, turned grey by luminance; then shown as the model will read it. */
  async loadFile(file) {
    const bitmap = await createImageBitmap(file);
    const t0 = performance.now();
    const W = this.raster.width, H = this.raster.height, k = Math.min(W / bitmap.width, H / bitmap.height);
    const dw = bitmap.width * k, dh = bitmap.height * k;
    this.rctx.fillStyle = "#000";
    this.rctx.fillRect(0, 0, W, H);
    this.rctx.imageSmoothingEnabled = true;
    this.rctx.imageSmoothingQuality = "high";
    this.rctx.drawImage(bitmap, (W - dw) / 2, (H - dh) / 2, dw, dh);
    bitmap.close();
    this.inked = true;
    this.update(t0, "file");
  }

  /** The hidden raster -> the model's image (block averages) -> the visible pad; then tell the owner. */
  update(t0, reason) {
    const [c, h, w] = this.imageShape, R = RASTER, W = w * R;
    const px = this.rctx.getImageData(0, 0, W, h * R).data, v = this.values, hw = h * w, norm = 1 / (255 * R * R);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let r = 0, g = 0, b = 0;
        for (let dy = 0; dy < R; dy++) {
          let at = ((y * R + dy) * W + x * R) * 4;
          for (let dx = 0; dx < R; dx++, at += 4) {
            r += px[at];
            g += px[at + 1];
            b += px[at + 2];
          }
        }
        const i = y * w + x;
        if (c === 3) {
          v[i] = r * norm;
          v[hw + i] = g * norm;
          v[2 * hw + i] = b * norm;
        } else {
          v[i] = (0.299 * r + 0.587 * g + 0.114 * b) * norm; // ITU-R 601 luma, as PIL's convert("L")
        }
      }
    }
    writeImageData(v, this.imageShape, this.shown, this.scale);
    this.ctx.putImageData(this.shown, 0, 0);
    if (t0 !== null && this.onChange) this.onChange(t0, reason);
  }
}

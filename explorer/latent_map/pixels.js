// The one path from an image of floats to pixels on a canvas: decoded images, reconstructions and
// the drawing pad are all written by writeImageData.

import { LITTLE_ENDIAN } from "./nn.js";

/** A value in [0, 1] as a byte: floor(255 v + 0.5), like vae_core.analysis.explore.to_uint8; rounded once,
 * clamped, NaN -> 0. */
export function byte(v) {
  return v > 0 ? (v < 1 ? Math.floor(v * 255 + 0.5) : 255) : 0;
}

/** Draw an image (C, H, W) in [0, 1], C = 1 (grey) or 3 (RGB), into an ImageData of (W*scale) x
 * (H*scale), opaque, each pixel a scale x scale block. `imageData` only needs width, height, data. */
export function writeImageData(pixels, imageShape, imageData, scale = 1) {
  const [c, h, w] = imageShape;
  if (c !== 1 && c !== 3) throw new Error(`writeImageData: cannot draw ${c} channels`);
  if (imageData.width !== w * scale || imageData.height !== h * scale) {
    throw new Error(`writeImageData: ImageData is ${imageData.width}x${imageData.height}, expected ` +
                    `${w * scale}x${h * scale}`);
  }
  const words = new Uint32Array(imageData.data.buffer, imageData.data.byteOffset, imageData.width * imageData.height);
  const hw = h * w, gOff = c === 3 ? hw : 0, bOff = c === 3 ? 2 * hw : 0, rowWords = w * scale;
  for (let y = 0; y < h; y++) {
    const row = y * scale * rowWords;
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const r = byte(pixels[i]), g = byte(pixels[i + gOff]), b = byte(pixels[i + bOff]);
      const word = LITTLE_ENDIAN ? (0xff000000 | (b << 16) | (g << 8) | r) >>> 0
        : ((r << 24) | (g << 16) | (b << 8) | 0xff) >>> 0;
      for (let sx = 0, at = row + x * scale; sx < scale; sx++) words[at + sx] = word;
    }
    for (let sy = 1; sy < scale; sy++) words.copyWithin(row + sy * rowWords, row, row + rowWords);
  }
  return imageData;
}

/* VaeDecoder: a VAE decoder's forward pass in plain JavaScript, for the latent map.
 *
 * Reads what vae_core/store/export.py writes: a JSON spec and a little-endian weight blob.
 *   import { VaeDecoder } from "./decoder.js";
 *   const dec = VaeDecoder.fromSpec(spec, arrayBuffer);   // or: await VaeDecoder.load(jsonUrl)
 *   dec.latentDim, dec.imageShape ([C, H, W]), dec.outputSize (C*H*W)
 *   dec.decode(z, out)        // z: d numbers; out: optional Float32Array(C*H*W); mean image in [0, 1], CHW
 *                             // (the likelihood's mean E[x|z]: Bernoulli, continuous Bernoulli, Gaussian)
 *   dec.decodeBatch(zs, n)    // zs: Float32Array(n*d) -> Float32Array(n*C*H*W)
 *   dec.writeImageData(pixels, imageData, scale)  // greyscale (C=1) or RGB (C=3), integer upscale
 *
 * The layers run in nn.js (shared with encoder.js); the pixels are written by pixels.js.
 */
import { checkHeader, compile, fetchWeights, product } from "./nn.js";
import { writeImageData } from "./pixels.js";

const FORMAT = "vae-core-decoder";
const VERSION = 1;
const WHO = "VaeDecoder";

/* The mean image from the logits, E[x | z]: one op per output the exporter names (each likelihood's
 * `mean` in vae_core/model/likelihoods.py). Each builds a function of one logit from the spec's "output". */
const OUTPUT_OPS = {
  sigmoid: () => (v) => 1 / (1 + Math.exp(-v)), // Bernoulli, Gaussian
  /* The continuous Bernoulli's mean, as vae_core.model.likelihoods.cb_mean: -1/expm1(-v) - 1/v. Both terms
   * are about 1/v and cancel as v -> 0, so below |v| = series_below the series
   * 1/2 + v/12 - v^3/720 + v^5/30240 - v^7/1209600 + v^9/47900160 is used instead. */
  cbernoulli_mean: (output) => {
    const below = output.series_below;
    if (!(below > 0 && below <= 1)) { // the series is accurate (< 1e-9) up to |v| = 1
      throw new Error(`${WHO}: cbernoulli_mean needs 0 < series_below <= 1, got ${below}`);
    }
    return (v) => {
      if (Math.abs(v) < below) {
        const v2 = v * v;
        return 0.5 + v * (1 / 12 + v2 * (-1 / 720 + v2 * (1 / 30240 + v2 * (-1 / 1209600 + v2 / 47900160))));
      }
      return -1 / Math.expm1(-v) - 1 / v;
    };
  },
};

class Decoder {
  constructor(spec, buffer) {
    checkHeader(spec, buffer, FORMAT, VERSION, WHO);
    const makeOutput = spec.output && Object.prototype.hasOwnProperty.call(OUTPUT_OPS, spec.output.op) &&
      OUTPUT_OPS[spec.output.op];
    if (!makeOutput) throw new Error(`${WHO}: unknown output op ${JSON.stringify(spec.output)}`);
    this.spec = spec;
    this.latentDim = spec.latent_dim;
    this.imageShape = spec.image_shape.slice();
    this.outputSize = product(this.imageShape);
    const net = compile(spec.layers, buffer, [this.latentDim], WHO);
    const last = net.output;
    if (product(last.shape) !== this.outputSize) {
      throw new Error(`${WHO}: the layers end in ${JSON.stringify(last.shape)}, not the image ${JSON.stringify(this.imageShape)}`);
    }
    this._input = net.input;
    this._runs = net.runs;
    this._last = last.data;
    // logits index -> torch's (C, H, W) order; a channels-last map is transposed on the way out
    const c = last.shape[0], hw = this.outputSize / c;
    this._order = new Int32Array(this.outputSize);
    for (let j = 0; j < this.outputSize; j++) this._order[j] = last.layout === "hwc" ? (j % hw) * c + ((j / hw) | 0) : j;
    this._outputOp = makeOutput(spec.output);
    this._out = new Float32Array(this.outputSize);
  }

  /** The mean image at z, (C, H, W) row-major in [0, 1]. Without `out` the decoder's own buffer is
   * returned: it is overwritten by the next decode. */
  decode(z, out) {
    if (!z || z.length !== this.latentDim) {
      throw new Error(`${WHO}: z has ${z && z.length} coordinates; the model has ${this.latentDim}`);
    }
    out = out || this._out;
    this._forward(z, 0, out, 0);
    return out;
  }

  /** n points at once: zs holds n*d numbers, the result n*C*H*W (a new array unless `out` is given). */
  decodeBatch(zs, n, out) {
    const d = this.latentDim, size = this.outputSize;
    if (!(zs && zs.length >= n * d)) throw new Error(`${WHO}: ${n} points need ${n * d} numbers`);
    out = out || new Float32Array(n * size);
    for (let k = 0; k < n; k++) this._forward(zs, k * d, out, k * size);
    return out;
  }

  /** z = zs[zAt ... zAt + d) -> the mean image into out[outAt ... outAt + C*H*W). Allocates nothing. */
  _forward(zs, zAt, out, outAt) {
    const d = this.latentDim, input = this._input, runs = this._runs;
    for (let i = 0; i < d; i++) {
      const v = zs[zAt + i];
      if (!isFinite(v)) throw new Error(`${WHO}: z[${i}] is ${v}`); // a folded ReLU would hide a NaN
      input[i] = v;
    }
    for (let i = 0; i < runs.length; i++) runs[i]();
    const logits = this._last, order = this._order, f = this._outputOp, n = this.outputSize;
    for (let i = 0; i < n; i++) out[outAt + i] = f(logits[order[i]]);
  }

  writeImageData(pixels, imageData, scale) {
    return writeImageData(pixels, this.imageShape, imageData, scale);
  }
}

function fromSpec(spec, arrayBuffer) {
  return new Decoder(spec, arrayBuffer);
}

/** Fetch `<digest>.json` and the `<digest>.bin` beside it, then build the decoder. */
async function load(jsonUrl, binUrl) {
  return fromSpec(...(await fetchWeights(jsonUrl, binUrl, WHO)));
}

export const VaeDecoder = { fromSpec, load, writeImageData, FORMAT, VERSION };
export default VaeDecoder;

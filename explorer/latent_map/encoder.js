/* VaeEncoder: a VAE encoder's forward pass in plain JavaScript, for the drawing pad.
 *
 * Reads what vae_core/store/export.py's encoder_export writes: a JSON spec and a little-endian weight blob.
 *   import { VaeEncoder } from "./encoder.js";
 *   const enc = VaeEncoder.fromSpec(spec, arrayBuffer);   // or: await VaeEncoder.load(jsonUrl)
 *   enc.imageShape ([C, H, W]), enc.latentDim, enc.stochastic (q(z|x) has a variance)
 *   enc.encode(image)  // image: C*H*W numbers in [0, 1], torch's (C, H, W) order
 *                      // -> {mu: Float32Array(d), logvar: Float32Array(d) | null} (the encoder's own
 *                      //    buffers: overwritten by the next encode)
 *
 * q(z|x) = N(mu, diag(exp(logvar))) for a stochastic encoder (the network's output split in two, as
 * vae_core.model.networks.VAE.encode chunks it); a deterministic one (the MMD-VAE's) gives mu alone. The
 * layers run in nn.js, exactly as the decoder's do.
 */
import { checkHeader, compile, fetchWeights, product } from "./nn.js";

const FORMAT = "vae-core-encoder";
const VERSION = 1;
const WHO = "VaeEncoder";

class Encoder {
  constructor(spec, buffer) {
    checkHeader(spec, buffer, FORMAT, VERSION, WHO);
    this.spec = spec;
    this.imageShape = spec.image_shape.slice();
    this.inputSize = product(this.imageShape);
    this.latentDim = spec.latent_dim;
    const posterior = spec.posterior || {};
    this.stochastic = !!posterior.logvar;
    const net = compile(spec.layers, buffer, this.imageShape, WHO);
    const out = net.output;
    const width = this.latentDim * (this.stochastic ? 2 : 1);
    if (out.layout !== "flat" || out.shape[0] !== width) {
      throw new Error(`${WHO}: the layers end in ${JSON.stringify(out.shape)}, not ${width} numbers`);
    }
    const [m0, m1] = posterior.mu || [], [l0, l1] = posterior.logvar || [0, 0];
    if (m1 - m0 !== this.latentDim || (this.stochastic && l1 - l0 !== this.latentDim)) {
      throw new Error(`${WHO}: posterior ${JSON.stringify(posterior)} does not fit latent_dim ${this.latentDim}`);
    }
    this._input = net.input;
    this._runs = net.runs;
    this._mu = out.data.subarray(m0, m1);
    this._logvar = this.stochastic ? out.data.subarray(l0, l1) : null;
  }

  encode(image) {
    if (!image || image.length !== this.inputSize) {
      throw new Error(`${WHO}: the image has ${image && image.length} values; the model reads ${this.inputSize}`);
    }
    const input = this._input;
    for (let i = 0; i < input.length; i++) {
      const v = image[i];
      if (!isFinite(v)) throw new Error(`${WHO}: pixel ${i} is ${v}`);
      input[i] = v;
    }
    for (let i = 0; i < this._runs.length; i++) this._runs[i]();
    return { mu: this._mu, logvar: this._logvar };
  }
}

function fromSpec(spec, arrayBuffer) {
  return new Encoder(spec, arrayBuffer);
}

/** Fetch `<digest>.json` and the `<digest>.bin` beside it, then build the encoder. */
async function load(jsonUrl, binUrl) {
  return fromSpec(...(await fetchWeights(jsonUrl, binUrl, WHO)));
}

export const VaeEncoder = { fromSpec, load, FORMAT, VERSION };
export default VaeEncoder;

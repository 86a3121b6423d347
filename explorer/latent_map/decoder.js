/* VaeDecoder: a VAE decoder's forward pass in plain JavaScript, for the latent map.
 *
 * Reads what vae_core/export.py writes: a JSON spec and a little-endian weight blob.
 *   var dec = VaeDecoder.fromSpec(spec, arrayBuffer);    // or: await VaeDecoder.load(jsonUrl)
 *   dec.latentDim, dec.imageShape ([C, H, W]), dec.outputSize (C*H*W)
 *   dec.decode(z, out)        // z: d numbers; out: optional Float32Array(C*H*W); mean image in [0, 1], CHW
 *                             // (the likelihood's mean E[x|z]: Bernoulli, continuous Bernoulli, Gaussian)
 *   dec.decodeBatch(zs, n)    // zs: Float32Array(n*d) -> Float32Array(n*C*H*W)
 *   dec.writeImageData(pixels, imageData, scale)  // greyscale (C=1) or RGB (C=3), integer upscale
 *
 * Exact: the weights are the very float16/float32 numbers torch uses, sums run in float64
 * (plain JS numbers) and each layer's output is rounded to float32 as torch's is.
 * Fast without SIMD or WebAssembly: the weights are rearranged once at load (as float64, so the
 * hot loop converts nothing) so every inner loop walks contiguous memory; Linear and
 * ConvTranspose2d share one loop that adds weight rows scaled by the inputs, skipping inputs that
 * are exactly zero (after ReLU most are; a ReLU is folded into that test), eight at a time;
 * feature maps are channels-last (H, W, C); every buffer is allocated at load, none per decode.
 *
 * A plain script with one top-level name (no import/export): load it with a <script> tag or
 * concatenate it in front of an ES module.
 */
var VaeDecoder = (function () {
  "use strict";

  var FORMAT = "vae-core-decoder";
  var VERSION = 1;

  // ---- weights --------------------------------------------------------------------------------

  var halfTable = null; // float16 bit pattern -> float32 value, built on first use (256 KiB)

  function halfToFloatTable() {
    if (halfTable) return halfTable;
    halfTable = new Float32Array(65536);
    for (var h = 0; h < 65536; h++) {
      var sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
      halfTable[h] = exp === 0 ? sign * mant * Math.pow(2, -24) // zero and subnormals
        : exp === 31 ? (mant ? NaN : sign * Infinity)
          : sign * (1024 + mant) * Math.pow(2, exp - 25);
    }
    return halfTable;
  }

  var LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

  function product(shape) {
    var n = 1;
    for (var i = 0; i < shape.length; i++) n *= shape[i];
    return n;
  }

  function sameShape(a, b) {
    if (!a || a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /* One tensor of the blob as a new Float32Array, in torch's row-major order. */
  function readTensor(buffer, entry, shape, what) {
    if (!entry || !sameShape(entry.shape, shape)) {
      throw new Error("VaeDecoder: " + what + " has shape " + JSON.stringify(entry && entry.shape) +
                      ", expected " + JSON.stringify(shape));
    }
    var n = product(shape), size = entry.dtype === "float16" ? 2 : entry.dtype === "float32" ? 4 : 0;
    if (!size) throw new Error("VaeDecoder: " + what + " has unknown dtype " + entry.dtype);
    var off = entry.offset;
    if (!(off >= 0) || off % size || off + n * size > buffer.byteLength) {
      throw new Error("VaeDecoder: " + what + " lies outside the weight file");
    }
    var out = new Float32Array(n), i;
    if (size === 2) {
      var table = halfToFloatTable();
      if (LITTLE_ENDIAN) {
        var u16 = new Uint16Array(buffer, off, n);
        for (i = 0; i < n; i++) out[i] = table[u16[i]];
      } else {
        var dv = new DataView(buffer, off, n * 2);
        for (i = 0; i < n; i++) out[i] = table[dv.getUint16(2 * i, true)];
      }
    } else if (LITTLE_ENDIAN) {
      out.set(new Float32Array(buffer, off, n));
    } else {
      var dv32 = new DataView(buffer, off, n * 4);
      for (i = 0; i < n; i++) out[i] = dv32.getFloat32(4 * i, true);
    }
    return out;
  }

  function readBias(buffer, entry, n, what) {
    return entry ? readTensor(buffer, entry, [n], what) : new Float32Array(n);
  }

  // ---- layers: each compiles to a step {run(), out} over preallocated buffers -------------------

  /* The one hot loop. For the m listed inputs (values nzv, weight-row offsets nzo; m a multiple
   * of 4): dst[db + j] += sum_k nzv[k] * w[nzo[k] + wb + j], j < len. Eight rows at a time keep
   * eight weights and one partial sum in registers per element of dst. */
  function accumulateRows(nzv, nzo, m, w, wb, dst, db, len) {
    var k = 0, j;
    for (; k + 8 <= m; k += 8) {
      var v0 = nzv[k], v1 = nzv[k + 1], v2 = nzv[k + 2], v3 = nzv[k + 3];
      var v4 = nzv[k + 4], v5 = nzv[k + 5], v6 = nzv[k + 6], v7 = nzv[k + 7];
      var r0 = nzo[k] + wb, r1 = nzo[k + 1] + wb, r2 = nzo[k + 2] + wb, r3 = nzo[k + 3] + wb;
      var r4 = nzo[k + 4] + wb, r5 = nzo[k + 5] + wb, r6 = nzo[k + 6] + wb, r7 = nzo[k + 7] + wb;
      for (j = 0; j < len; j++) {
        dst[db + j] += v0 * w[r0 + j] + v1 * w[r1 + j] + v2 * w[r2 + j] + v3 * w[r3 + j] +
                       v4 * w[r4 + j] + v5 * w[r5 + j] + v6 * w[r6 + j] + v7 * w[r7 + j];
      }
    }
    if (k < m) {
      var u0 = nzv[k], u1 = nzv[k + 1], u2 = nzv[k + 2], u3 = nzv[k + 3];
      var s0 = nzo[k] + wb, s1 = nzo[k + 1] + wb, s2 = nzo[k + 2] + wb, s3 = nzo[k + 3] + wb;
      for (j = 0; j < len; j++) dst[db + j] += u0 * w[s0 + j] + u1 * w[s1 + j] + u2 * w[s2 + j] + u3 * w[s3 + j];
    }
  }

  /* List the inputs x[xb + i] (i < n) that are not exactly zero: after ReLU most are, and a zero
   * adds nothing. Each gets its weight row's offset i * stride; the list is padded to a multiple of
   * 4 with zero values (0 * a finite weight adds nothing either). Returns its length. */
  function listNonzero(x, xb, n, stride, nzv, nzo) {
    var m = 0;
    for (var i = 0; i < n; i++) {
      var v = x[xb + i];
      if (v !== 0) { nzv[m] = v; nzo[m] = i * stride; m++; }
    }
    while (m & 3) { nzv[m] = 0; nzo[m] = 0; m++; }
    return m;
  }

  /* The same for relu(x): a ReLU right before a Linear or ConvTranspose2d is applied here, free,
   * instead of in a pass of its own. */
  function listPositive(x, xb, n, stride, nzv, nzo) {
    var m = 0;
    for (var i = 0; i < n; i++) {
      var v = x[xb + i];
      if (v > 0) { nzv[m] = v; nzo[m] = i * stride; m++; }
    }
    while (m & 3) { nzv[m] = 0; nzo[m] = 0; m++; }
    return m;
  }

  /* y = W x + b, as acc += x_i * W[:, i] over the nonzero x_i; W stored transposed, (in, out),
   * so each such column is contiguous. */
  function linearStep(layer, buffer, input, scratch, where, reluInput) {
    var nin = layer.in_features, nout = layer.out_features;
    if (input.shape.length !== 1 || input.shape[0] !== nin) {
      throw new Error("VaeDecoder: " + where + " expects " + nin + " inputs, gets " + JSON.stringify(input.shape));
    }
    var w = readTensor(buffer, layer.weight, [nout, nin], where + " weight");
    var b = readBias(buffer, layer.bias, nout, where + " bias");
    var wt = new Float64Array(nin * nout); // float64: no conversion in the hot loop (measured faster)
    for (var o = 0; o < nout; o++) for (var i = 0; i < nin; i++) wt[i * nout + o] = w[o * nin + i];
    scratch.need(nout, nin);
    var x = input.data, y = new Float32Array(nout), list = reluInput ? listPositive : listNonzero;

    function run() {
      var acc = scratch.acc, o;
      var m = list(x, 0, nin, nout, scratch.nzv, scratch.nzo);
      for (o = 0; o < nout; o++) acc[o] = b[o];
      accumulateRows(scratch.nzv, scratch.nzo, m, wt, 0, acc, 0, nout);
      for (o = 0; o < nout; o++) y[o] = acc[o];
    }
    return { run: run, data: y, shape: [nout], layout: "flat" };
  }

  /* ConvTranspose2d (dilation 1, groups 1) on channels-last maps. Input pixel p = (iy, ix) with
   * channel ci adds x[p, ci] * W[ci, :, ky, kx] to output pixel (iy*s - pad + ky, ix*s - pad + kx).
   * W is stored as (ci, tap, co). Two forms, both over the nonzero inputs only:
   *  - scatter (many output channels): for each of p's valid taps, accumulate straight into the
   *    output pixel's channels (a contiguous run of cout);
   *  - columns (few output channels, e.g. the last layer's 1 or 3): accumulate p's whole
   *    taps*cout row of contributions (contiguous, long), then sum each output pixel's entries.
   * Index tables built here list each input pixel's valid (output pixel, tap) pairs. */
  var SCATTER_MIN_CHANNELS = 8;

  function convTranspose2dStep(layer, buffer, input, scratch, where, reluInput) {
    var cin = layer.in_channels, cout = layer.out_channels;
    if (input.shape.length !== 3 || input.shape[0] !== cin) {
      throw new Error("VaeDecoder: " + where + " expects (" + cin + ", H, W), gets " + JSON.stringify(input.shape));
    }
    var kh = layer.kernel_size[0], kw = layer.kernel_size[1], sh = layer.stride[0], sw = layer.stride[1];
    var ph = layer.padding[0], pw = layer.padding[1];
    var h = input.shape[1], wdt = input.shape[2];
    var ho = (h - 1) * sh - 2 * ph + kh + layer.output_padding[0];
    var wo = (wdt - 1) * sw - 2 * pw + kw + layer.output_padding[1];
    if (!(ho > 0 && wo > 0)) throw new Error("VaeDecoder: " + where + " gives an empty output");
    var taps = kh * kw, tc = taps * cout;
    var w = readTensor(buffer, layer.weight, [cin, cout, kh, kw], where + " weight");
    var b = readBias(buffer, layer.bias, cout, where + " bias");
    var ws = new Float64Array(cin * tc), ci, co, t;
    for (ci = 0; ci < cin; ci++) for (co = 0; co < cout; co++) for (t = 0; t < taps; t++) {
      ws[ci * tc + t * cout + co] = w[(ci * cout + co) * taps + t];
    }
    var npix = h * wdt, nq = ho * wo, n = nq * cout;
    var start = new Int32Array(npix + 1), outBase = [], tapBase = [], perOutput = [];
    for (var q0 = 0; q0 < nq; q0++) perOutput.push([]);
    for (var iy = 0; iy < h; iy++) for (var ix = 0; ix < wdt; ix++) {
      var p0 = iy * wdt + ix;
      for (var ky = 0; ky < kh; ky++) {
        var oy = iy * sh - ph + ky;
        if (oy < 0 || oy >= ho) continue;
        for (var kx = 0; kx < kw; kx++) {
          var ox = ix * sw - pw + kx;
          if (ox < 0 || ox >= wo) continue;
          outBase.push((oy * wo + ox) * cout);
          tapBase.push((ky * kw + kx) * cout);
          perOutput[oy * wo + ox].push(p0 * tc + (ky * kw + kx) * cout);
        }
      }
      start[p0 + 1] = outBase.length;
    }
    var x = input.data, y = new Float32Array(n), list = reluInput ? listPositive : listNonzero, run;

    if (cout >= SCATTER_MIN_CHANNELS) {
      var eOut = Int32Array.from(outBase), eTap = Int32Array.from(tapBase);
      scratch.need(n, cin);
      run = function () {
        var acc = scratch.acc, nzv = scratch.nzv, nzo = scratch.nzo, q, co, e;
        for (q = 0; q < n; q += cout) for (co = 0; co < cout; co++) acc[q + co] = b[co];
        for (var p = 0; p < npix; p++) {
          var m = list(x, p * cin, cin, tc, nzv, nzo);
          if (m === 0) continue;
          for (e = start[p]; e < start[p + 1]; e++) accumulateRows(nzv, nzo, m, ws, eTap[e], acc, eOut[e], cout);
        }
        for (q = 0; q < n; q++) y[q] = acc[q];
      };
    } else {
      var gStart = new Int32Array(nq + 1), gList = [];
      for (var q1 = 0; q1 < nq; q1++) { gList.push.apply(gList, perOutput[q1]); gStart[q1 + 1] = gList.length; }
      var gOff = Int32Array.from(gList);
      scratch.need(npix * tc, cin);
      run = function () {
        var cols = scratch.acc, nzv = scratch.nzv, nzo = scratch.nzo, q, co, e;
        for (var p = 0; p < npix; p++) {
          var m = list(x, p * cin, cin, tc, nzv, nzo), base = p * tc;
          for (var j = 0; j < tc; j++) cols[base + j] = 0;
          if (m !== 0) accumulateRows(nzv, nzo, m, ws, 0, cols, base, tc);
        }
        for (q = 0; q < nq; q++) {
          for (co = 0; co < cout; co++) {
            var a = b[co];
            for (e = gStart[q]; e < gStart[q + 1]; e++) a += cols[gOff[e] + co];
            y[q * cout + co] = a;
          }
        }
      };
    }
    return { run: run, data: y, shape: [cout, ho, wo], layout: "hwc" };
  }

  /* Elementwise activations, in place (torch's definitions). */
  var ACTIVATIONS = {
    relu: function () {
      return function (v) { for (var i = 0; i < v.length; i++) if (v[i] < 0) v[i] = 0; };
    },
    tanh: function () {
      return function (v) { for (var i = 0; i < v.length; i++) v[i] = Math.tanh(v[i]); };
    },
    elu: function (layer) {
      var alpha = layer.alpha;
      return function (v) { for (var i = 0; i < v.length; i++) if (v[i] <= 0) v[i] = alpha * Math.expm1(v[i]); };
    },
    leaky_relu: function (layer) {
      var slope = layer.negative_slope;
      return function (v) { for (var i = 0; i < v.length; i++) if (v[i] < 0) v[i] = v[i] * slope; };
    }
  };

  /* A flat vector in torch's (C, H, W) order -> a channels-last feature map. */
  function unflattenStep(layer, buffer, input, scratch, where) {
    var shape = layer.shape;
    if (input.shape.length !== 1 || shape.length !== 3 || product(shape) !== input.shape[0]) {
      throw new Error("VaeDecoder: " + where + " cannot unflatten " + JSON.stringify(input.shape) +
                      " into " + JSON.stringify(shape));
    }
    var c = shape[0], hw = shape[1] * shape[2], x = input.data, y = new Float32Array(input.data.length);
    function run() {
      for (var ch = 0; ch < c; ch++) for (var q = 0; q < hw; q++) y[q * c + ch] = x[ch * hw + q];
    }
    return { run: run, data: y, shape: shape.slice(), layout: "hwc" };
  }

  var STEPS = { linear: linearStep, conv_transpose2d: convTranspose2dStep, unflatten: unflattenStep };

  /* Whether layers[i...] reach a Linear or ConvTranspose2d through nothing but reshapes. */
  function feedsWeights(layers, i) {
    while (i < layers.length && (layers[i].op === "unflatten" || layers[i].op === "relu")) i++;
    return i < layers.length && (layers[i].op === "linear" || layers[i].op === "conv_transpose2d");
  }

  /* The mean image from the logits, E[x | z]: one op per output the exporter names (each
   * likelihood's `mean` in vae_core/likelihoods.py). Each builds a function of one logit from the
   * spec's "output" entry. */
  var OUTPUT_OPS = {
    sigmoid: function () {
      return function (v) { return 1 / (1 + Math.exp(-v)); }; // Bernoulli, Gaussian
    },
    /* The continuous Bernoulli's mean, as vae_core.likelihoods.cb_mean: -1/expm1(-v) - 1/v. Both
     * terms are about 1/v and cancel as v -> 0, so below |v| = series_below the series
     * 1/2 + v/12 - v^3/720 + v^5/30240 - v^7/1209600 + v^9/47900160 is used instead. */
    cbernoulli_mean: function (output) {
      var below = output.series_below;
      if (!(below > 0 && below <= 1)) { // the series is accurate (< 1e-9) up to |v| = 1
        throw new Error("VaeDecoder: cbernoulli_mean needs 0 < series_below <= 1, got " + below);
      }
      return function (v) {
        if (Math.abs(v) < below) {
          var v2 = v * v;
          return 0.5 + v * (1 / 12 + v2 * (-1 / 720 + v2 * (1 / 30240 + v2 * (-1 / 1209600 + v2 / 47900160))));
        }
        return -1 / Math.expm1(-v) - 1 / v;
      };
    }
  };

  // ---- the decoder ----------------------------------------------------------------------------

  /* Buffers shared by the steps of one decoder (they run one after another). */
  function Scratch() {
    this.acc = new Float64Array(0);
    this.nzv = new Float64Array(0);
    this.nzo = new Int32Array(0);
  }
  Scratch.prototype.need = function (accLength, inputs) {
    if (this.acc.length < accLength) this.acc = new Float64Array(accLength);
    if (this.nzv.length < inputs + 3) { // + padding to a multiple of 4
      this.nzv = new Float64Array(inputs + 3);
      this.nzo = new Int32Array(inputs + 3);
    }
  };

  function Decoder(spec, buffer) {
    if (!spec || spec.format !== FORMAT) throw new Error("VaeDecoder: not a " + FORMAT + " spec");
    if (spec.version !== VERSION) {
      throw new Error("VaeDecoder: spec version " + spec.version + ", this reads " + VERSION);
    }
    if (spec.byte_order !== "little") throw new Error("VaeDecoder: byte order " + spec.byte_order);
    if (buffer.byteLength !== spec.blob_bytes) {
      throw new Error("VaeDecoder: the weight file has " + buffer.byteLength + " bytes, the spec says " +
                      spec.blob_bytes);
    }
    var makeOutput = spec.output && OUTPUT_OPS.hasOwnProperty(spec.output.op) && OUTPUT_OPS[spec.output.op];
    if (!makeOutput) throw new Error("VaeDecoder: unknown output op " + JSON.stringify(spec.output));
    var outputOp = makeOutput(spec.output);
    this.spec = spec;
    this.latentDim = spec.latent_dim;
    this.imageShape = spec.image_shape.slice();
    this.outputSize = product(this.imageShape);

    var scratch = new Scratch();
    var current = { data: new Float32Array(this.latentDim), shape: [this.latentDim], layout: "flat" };
    this._input = current.data;
    var runs = [], reluPending = false, layers = spec.layers;
    for (var i = 0; i < layers.length; i++) {
      var layer = layers[i], where = "layer " + i + " (" + layer.op + ")";
      if (layer.op === "relu" && reluPending) continue; // relu(relu(x)) = relu(x)
      if (layer.op === "relu" && feedsWeights(layers, i + 1)) {
        reluPending = true; // applied by the next Linear/ConvTranspose2d as it reads its input
      } else if (ACTIVATIONS[layer.op]) {
        var apply = ACTIVATIONS[layer.op](layer), data = current.data;
        runs.push(function (f, v) { return function () { f(v); }; }(apply, data));
      } else if (STEPS[layer.op]) {
        var weighted = layer.op !== "unflatten";
        current = STEPS[layer.op](layer, buffer, current, scratch, where, weighted && reluPending);
        if (weighted) reluPending = false;
        runs.push(current.run);
      } else {
        throw new Error("VaeDecoder: unknown layer op " + layer.op);
      }
    }
    if (product(current.shape) !== this.outputSize) {
      throw new Error("VaeDecoder: the layers end in " + JSON.stringify(current.shape) +
                      ", not the image " + JSON.stringify(this.imageShape));
    }
    this._runs = runs;
    this._last = current.data;
    // logits index -> torch's (C, H, W) order; a channels-last map is transposed on the way out
    var c = current.shape[0], hw = this.outputSize / c;
    this._order = new Int32Array(this.outputSize);
    for (var j = 0; j < this.outputSize; j++) {
      this._order[j] = current.layout === "hwc" ? (j % hw) * c + ((j / hw) | 0) : j;
    }
    this._outputOp = outputOp;
    this._out = new Float32Array(this.outputSize);
  }

  /* The mean image at z, (C, H, W) row-major in [0, 1]. Without `out` the decoder's own buffer
   * is returned: it is overwritten by the next decode. */
  Decoder.prototype.decode = function (z, out) {
    if (!z || z.length !== this.latentDim) {
      throw new Error("VaeDecoder: z has " + (z && z.length) + " coordinates; the model has " + this.latentDim);
    }
    out = out || this._out;
    this._forward(z, 0, out, 0);
    return out;
  };

  /* n points at once: zs holds n*d numbers, the result n*C*H*W (a new array unless `out` is given). */
  Decoder.prototype.decodeBatch = function (zs, n, out) {
    var d = this.latentDim, size = this.outputSize;
    if (!(zs && zs.length >= n * d)) throw new Error("VaeDecoder: " + n + " points need " + n * d + " numbers");
    out = out || new Float32Array(n * size);
    for (var k = 0; k < n; k++) this._forward(zs, k * d, out, k * size);
    return out;
  };

  /* z = zs[zAt ... zAt + d) -> the mean image into out[outAt ... outAt + C*H*W). Allocates nothing. */
  Decoder.prototype._forward = function (zs, zAt, out, outAt) {
    var d = this.latentDim, input = this._input, runs = this._runs, i;
    for (i = 0; i < d; i++) {
      var v = zs[zAt + i];
      if (!isFinite(v)) throw new Error("VaeDecoder: z[" + i + "] is " + v); // a folded ReLU would hide a NaN
      input[i] = v;
    }
    for (i = 0; i < runs.length; i++) runs[i]();
    var logits = this._last, order = this._order, f = this._outputOp, n = this.outputSize;
    for (i = 0; i < n; i++) out[outAt + i] = f(logits[order[i]]);
  };

  Decoder.prototype.writeImageData = function (pixels, imageData, scale) {
    return writeImageData(pixels, this.imageShape, imageData, scale);
  };

  /* Draw a mean image (C, H, W) in [0, 1] into an ImageData of (W*scale) x (H*scale), opaque;
   * each value v becomes floor(255 v + 0.5) like vae_core.explore.to_uint8. */
  function writeImageData(pixels, imageShape, imageData, scale) {
    var c = imageShape[0], h = imageShape[1], w = imageShape[2];
    scale = scale || 1;
    if (c !== 1 && c !== 3) throw new Error("VaeDecoder: cannot draw " + c + " channels");
    if (imageData.width !== w * scale || imageData.height !== h * scale) {
      throw new Error("VaeDecoder: ImageData is " + imageData.width + "x" + imageData.height + ", expected " +
                      w * scale + "x" + h * scale);
    }
    var words = new Uint32Array(imageData.data.buffer, imageData.data.byteOffset, imageData.width * imageData.height);
    var hw = h * w, gOff = c === 3 ? hw : 0, bOff = c === 3 ? 2 * hw : 0, rowWords = w * scale;
    for (var y = 0; y < h; y++) {
      var row = y * scale * rowWords;
      for (var x = 0; x < w; x++) {
        var i = y * w + x;
        var r = byte(pixels[i]), g = byte(pixels[i + gOff]), b = byte(pixels[i + bOff]);
        var word = LITTLE_ENDIAN ? (0xff000000 | (b << 16) | (g << 8) | r) >>> 0
          : ((r << 24) | (g << 16) | (b << 8) | 0xff) >>> 0;
        for (var sx = 0, at = row + x * scale; sx < scale; sx++) words[at + sx] = word;
      }
      for (var sy = 1; sy < scale; sy++) words.copyWithin(row + sy * rowWords, row, row + rowWords);
    }
    return imageData;
  }

  function byte(v) {
    return v > 0 ? (v < 1 ? Math.floor(v * 255 + 0.5) : 255) : 0; // NaN -> 0
  }

  function fromSpec(spec, arrayBuffer) {
    return new Decoder(spec, arrayBuffer);
  }

  /* Fetch `<digest>.json` and the `<digest>.bin` beside it, then build the decoder. */
  function load(jsonUrl, binUrl) {
    binUrl = binUrl || String(jsonUrl).replace(/\.json(\?.*)?$/, ".bin$1");
    return Promise.all([fetch(jsonUrl), fetch(binUrl)]).then(function (responses) {
      responses.forEach(function (r) {
        if (!r.ok) throw new Error("VaeDecoder: " + r.url + ": HTTP " + r.status);
      });
      return Promise.all([responses[0].json(), responses[1].arrayBuffer()]);
    }).then(function (parts) { return fromSpec(parts[0], parts[1]); });
  }

  return { fromSpec: fromSpec, load: load, writeImageData: writeImageData, FORMAT: FORMAT, VERSION: VERSION };
})();

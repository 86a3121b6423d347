// The forward pass shared by decoder.js and encoder.js: layers compiled once into steps over
// preallocated buffers, computing exactly what torch computes in float32.
//
// Exact: the weights are the very float16/float32 numbers torch uses, sums run in float64 (plain JS
// numbers) and each layer's output is rounded to float32 as torch's is.
// Fast without SIMD or WebAssembly: the weights are rearranged once at load (as float64, so the hot
// loop converts nothing) so every inner loop walks contiguous memory; Linear, Conv2d and
// ConvTranspose2d share one loop that adds weight rows scaled by the inputs, skipping inputs that are
// exactly zero (after ReLU most are, and most of a drawing is background; a ReLU is folded into that
// test), eight at a time; feature maps are channels-last (H, W, C); every buffer is allocated at
// load, none per pass.
//
// A step is {run(), data, shape, layout}: `run` reads its input's `data` and writes its own; `layout`
// is "flat" (a vector in torch's order) or "hwc" (a channels-last feature map of shape [C, H, W]).

// ---- weights ------------------------------------------------------------------------------------

let halfTable = null; // float16 bit pattern -> float32 value, built on first use (256 KiB)

export function halfToFloatTable() {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    halfTable[h] = exp === 0 ? sign * mant * Math.pow(2, -24) // zero and subnormals
      : exp === 31 ? (mant ? NaN : sign * Infinity)
        : sign * (1024 + mant) * Math.pow(2, exp - 25);
  }
  return halfTable;
}

export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function product(shape) {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

function sameShape(a, b) {
  return !!a && a.length === b.length && a.every((v, i) => v === b[i]);
}

/** One tensor of the blob as a new Float32Array, in torch's row-major order. `who` prefixes errors. */
export function readTensor(buffer, entry, shape, what, who) {
  if (!entry || !sameShape(entry.shape, shape)) {
    throw new Error(`${who}: ${what} has shape ${JSON.stringify(entry && entry.shape)}, expected ${JSON.stringify(shape)}`);
  }
  const n = product(shape), size = entry.dtype === "float16" ? 2 : entry.dtype === "float32" ? 4 : 0;
  if (!size) throw new Error(`${who}: ${what} has unknown dtype ${entry.dtype}`);
  const off = entry.offset;
  if (!(off >= 0) || off % size || off + n * size > buffer.byteLength) {
    throw new Error(`${who}: ${what} lies outside the weight file`);
  }
  const out = new Float32Array(n);
  if (size === 2) {
    const table = halfToFloatTable();
    if (LITTLE_ENDIAN) {
      const u16 = new Uint16Array(buffer, off, n);
      for (let i = 0; i < n; i++) out[i] = table[u16[i]];
    } else {
      const dv = new DataView(buffer, off, n * 2);
      for (let i = 0; i < n; i++) out[i] = table[dv.getUint16(2 * i, true)];
    }
  } else if (LITTLE_ENDIAN) {
    out.set(new Float32Array(buffer, off, n));
  } else {
    const dv = new DataView(buffer, off, n * 4);
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  }
  return out;
}

function readBias(buffer, entry, n, what, who) {
  return entry ? readTensor(buffer, entry, [n], what, who) : new Float32Array(n);
}

/** Fetch `<digest>.json` and the `<digest>.bin` beside it (the export's two files): [spec, ArrayBuffer]. */
export async function fetchWeights(jsonUrl, binUrl, who) {
  binUrl = binUrl || String(jsonUrl).replace(/\.json(\?.*)?$/, ".bin$1");
  const responses = await Promise.all([fetch(jsonUrl), fetch(binUrl)]);
  for (const r of responses) if (!r.ok) throw new Error(`${who}: ${r.url}: HTTP ${r.status}`);
  return Promise.all([responses[0].json(), responses[1].arrayBuffer()]);
}

/** Checks a spec's header fields and the blob's size (both files must be of one export). */
export function checkHeader(spec, buffer, format, version, who) {
  if (!spec || spec.format !== format) throw new Error(`${who}: not a ${format} spec`);
  if (spec.version !== version) throw new Error(`${who}: spec version ${spec.version}, this reads ${version}`);
  if (spec.byte_order !== "little") throw new Error(`${who}: byte order ${spec.byte_order}`);
  if (buffer.byteLength !== spec.blob_bytes) {
    throw new Error(`${who}: the weight file has ${buffer.byteLength} bytes, the spec says ${spec.blob_bytes}`);
  }
}

// ---- the one hot loop ---------------------------------------------------------------------------

/** For the m listed inputs (values nzv, weight-row offsets nzo; m a multiple of 4):
 * dst[db + j] += sum_k nzv[k] * w[nzo[k] + wb + j], j < len. Eight rows at a time keep eight weights
 * and one partial sum in registers per element of dst. */
export function accumulateRows(nzv, nzo, m, w, wb, dst, db, len) {
  let k = 0, j;
  for (; k + 8 <= m; k += 8) {
    const v0 = nzv[k], v1 = nzv[k + 1], v2 = nzv[k + 2], v3 = nzv[k + 3];
    const v4 = nzv[k + 4], v5 = nzv[k + 5], v6 = nzv[k + 6], v7 = nzv[k + 7];
    const r0 = nzo[k] + wb, r1 = nzo[k + 1] + wb, r2 = nzo[k + 2] + wb, r3 = nzo[k + 3] + wb;
    const r4 = nzo[k + 4] + wb, r5 = nzo[k + 5] + wb, r6 = nzo[k + 6] + wb, r7 = nzo[k + 7] + wb;
    for (j = 0; j < len; j++) {
      dst[db + j] += v0 * w[r0 + j] + v1 * w[r1 + j] + v2 * w[r2 + j] + v3 * w[r3 + j] +
                     v4 * w[r4 + j] + v5 * w[r5 + j] + v6 * w[r6 + j] + v7 * w[r7 + j];
    }
  }
  if (k < m) {
    const u0 = nzv[k], u1 = nzv[k + 1], u2 = nzv[k + 2], u3 = nzv[k + 3];
    const s0 = nzo[k] + wb, s1 = nzo[k + 1] + wb, s2 = nzo[k + 2] + wb, s3 = nzo[k + 3] + wb;
    for (j = 0; j < len; j++) dst[db + j] += u0 * w[s0 + j] + u1 * w[s1 + j] + u2 * w[s2 + j] + u3 * w[s3 + j];
  }
}

/** List the inputs x[xb + i] (i < n) that are not exactly zero: a zero adds nothing. Each gets its
 * weight row's offset i * stride; the list is padded to a multiple of 4 with zero values (0 * a finite
 * weight adds nothing either). Returns its length. */
export function listNonzero(x, xb, n, stride, nzv, nzo) {
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xb + i];
    if (v !== 0) { nzv[m] = v; nzo[m] = i * stride; m++; }
  }
  while (m & 3) { nzv[m] = 0; nzo[m] = 0; m++; }
  return m;
}

/** The same for relu(x): a ReLU right before a weighted layer is applied here, free. */
export function listPositive(x, xb, n, stride, nzv, nzo) {
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xb + i];
    if (v > 0) { nzv[m] = v; nzo[m] = i * stride; m++; }
  }
  while (m & 3) { nzv[m] = 0; nzo[m] = 0; m++; }
  return m;
}

/** Buffers shared by the steps of one network (they run one after another). */
export class Scratch {
  constructor() {
    this.acc = new Float64Array(0);
    this.nzv = new Float64Array(0);
    this.nzo = new Int32Array(0);
  }

  need(accLength, inputs) {
    if (this.acc.length < accLength) this.acc = new Float64Array(accLength);
    if (this.nzv.length < inputs + 3) { // + padding to a multiple of 4
      this.nzv = new Float64Array(inputs + 3);
      this.nzo = new Int32Array(inputs + 3);
    }
  }
}

// ---- layers ---------------------------------------------------------------------------------------

/** y = W x + b, as acc += x_i * W[:, i] over the nonzero x_i; W stored transposed, (in, out), so each
 * such column is contiguous. */
function linearStep(layer, ctx, input, where, reluInput) {
  const nin = layer.in_features, nout = layer.out_features;
  if (input.shape.length !== 1 || input.shape[0] !== nin) {
    throw new Error(`${ctx.who}: ${where} expects ${nin} inputs, gets ${JSON.stringify(input.shape)}`);
  }
  const w = readTensor(ctx.buffer, layer.weight, [nout, nin], `${where} weight`, ctx.who);
  const b = readBias(ctx.buffer, layer.bias, nout, `${where} bias`, ctx.who);
  const wt = new Float64Array(nin * nout); // float64: no conversion in the hot loop (measured faster)
  for (let o = 0; o < nout; o++) for (let i = 0; i < nin; i++) wt[i * nout + o] = w[o * nin + i];
  const scratch = ctx.scratch;
  scratch.need(nout, nin);
  const x = input.data, y = new Float32Array(nout), list = reluInput ? listPositive : listNonzero;

  function run() {
    const acc = scratch.acc;
    const m = list(x, 0, nin, nout, scratch.nzv, scratch.nzo);
    for (let o = 0; o < nout; o++) acc[o] = b[o];
    accumulateRows(scratch.nzv, scratch.nzo, m, wt, 0, acc, 0, nout);
    for (let o = 0; o < nout; o++) y[o] = acc[o];
  }
  return { run, data: y, shape: [nout], layout: "flat" };
}

/** Which output pixels each input pixel reaches, and through which tap (ky, kx), for a 2-D
 * convolution (`transposed` false: output (oy, ox) reads input (oy*s - p + ky, ox*s - p + kx)) or a
 * transposed one (input (iy, ix) adds to output (iy*s - p + ky, ix*s - p + kx)). Both are sums over
 * (input pixel, tap, output pixel) triples; this lists them once. Returns the output size and, per
 * input pixel p, its triples' output pixel q and tap t. */
export function convTriples({ h, w, kh, kw, sh, sw, ph, pw, transposed, outputPadding = [0, 0] }) {
  const ho = transposed ? (h - 1) * sh - 2 * ph + kh + outputPadding[0] : Math.floor((h + 2 * ph - kh) / sh) + 1;
  const wo = transposed ? (w - 1) * sw - 2 * pw + kw + outputPadding[1] : Math.floor((w + 2 * pw - kw) / sw) + 1;
  const start = new Int32Array(h * w + 1), qs = [], taps = [];
  for (let iy = 0; iy < h; iy++) for (let ix = 0; ix < w; ix++) {
    for (let ky = 0; ky < kh; ky++) {
      let oy;
      if (transposed) oy = iy * sh - ph + ky;
      else {
        const t = iy + ph - ky; // = oy * sh
        if (t % sh !== 0) continue;
        oy = t / sh;
      }
      if (oy < 0 || oy >= ho) continue;
      for (let kx = 0; kx < kw; kx++) {
        let ox;
        if (transposed) ox = ix * sw - pw + kx;
        else {
          const t = ix + pw - kx;
          if (t % sw !== 0) continue;
          ox = t / sw;
        }
        if (ox < 0 || ox >= wo) continue;
        qs.push(oy * wo + ox);
        taps.push(ky * kw + kx);
      }
    }
    start[iy * w + ix + 1] = qs.length;
  }
  return { ho, wo, start, q: Int32Array.from(qs), tap: Int32Array.from(taps) };
}

/** Conv2d or ConvTranspose2d (dilation 1, groups 1) on channels-last maps, over the nonzero inputs
 * only. W is stored as (ci, tap, co). Two forms:
 *  - scatter (many output channels): for each of an input pixel's triples, accumulate straight into
 *    the output pixel's channels (a contiguous run of cout);
 *  - columns (few output channels, e.g. a decoder's last layer's 1 or 3): accumulate the pixel's whole
 *    taps*cout row of contributions (contiguous, long), then sum each output pixel's entries. */
const SCATTER_MIN_CHANNELS = 8;

function convStep(layer, ctx, input, where, reluInput, transposed) {
  const cin = layer.in_channels, cout = layer.out_channels, who = ctx.who;
  if (input.shape.length !== 3 || input.shape[0] !== cin || input.layout !== "hwc") {
    throw new Error(`${who}: ${where} expects (${cin}, H, W), gets ${JSON.stringify(input.shape)}`);
  }
  const [kh, kw] = layer.kernel_size, [sh, sw] = layer.stride, [ph, pw] = layer.padding;
  const h = input.shape[1], wdt = input.shape[2];
  const t = convTriples({ h, w: wdt, kh, kw, sh, sw, ph, pw, transposed, outputPadding: layer.output_padding });
  const { ho, wo } = t;
  if (!(ho > 0 && wo > 0)) throw new Error(`${who}: ${where} gives an empty output`);
  const taps = kh * kw, tc = taps * cout;
  // torch's weight: (cin, cout, kh, kw) for a transposed convolution, (cout, cin, kh, kw) for a plain one.
  const w = readTensor(ctx.buffer, layer.weight, transposed ? [cin, cout, kh, kw] : [cout, cin, kh, kw],
                       `${where} weight`, who);
  const b = readBias(ctx.buffer, layer.bias, cout, `${where} bias`, who);
  const ws = new Float64Array(cin * tc);
  for (let ci = 0; ci < cin; ci++) for (let co = 0; co < cout; co++) for (let k = 0; k < taps; k++) {
    ws[ci * tc + k * cout + co] = w[(transposed ? ci * cout + co : co * cin + ci) * taps + k];
  }
  const npix = h * wdt, nq = ho * wo, n = nq * cout, scratch = ctx.scratch;
  const x = input.data, y = new Float32Array(n), list = reluInput ? listPositive : listNonzero;
  let run;
  if (cout >= SCATTER_MIN_CHANNELS) {
    const { start } = t, eOut = t.q.map((q) => q * cout), eTap = t.tap.map((k) => k * cout);
    scratch.need(n, cin);
    run = function () {
      const acc = scratch.acc, nzv = scratch.nzv, nzo = scratch.nzo;
      for (let q = 0; q < n; q += cout) for (let co = 0; co < cout; co++) acc[q + co] = b[co];
      for (let p = 0; p < npix; p++) {
        const m = list(x, p * cin, cin, tc, nzv, nzo);
        if (m === 0) continue;
        for (let e = start[p]; e < start[p + 1]; e++) accumulateRows(nzv, nzo, m, ws, eTap[e], acc, eOut[e], cout);
      }
      for (let q = 0; q < n; q++) y[q] = acc[q];
    };
  } else {
    // Per output pixel, the offsets into the columns (p * tc + tap * cout) that add up to it.
    const perOutput = Array.from({ length: nq }, () => []);
    for (let p = 0; p < npix; p++) {
      for (let e = t.start[p]; e < t.start[p + 1]; e++) perOutput[t.q[e]].push(p * tc + t.tap[e] * cout);
    }
    const gStart = new Int32Array(nq + 1), gList = [];
    for (let q = 0; q < nq; q++) {
      for (const off of perOutput[q]) gList.push(off);
      gStart[q + 1] = gList.length;
    }
    const gOff = Int32Array.from(gList);
    scratch.need(npix * tc, cin);
    run = function () {
      const cols = scratch.acc, nzv = scratch.nzv, nzo = scratch.nzo;
      for (let p = 0; p < npix; p++) {
        const m = list(x, p * cin, cin, tc, nzv, nzo), base = p * tc;
        for (let j = 0; j < tc; j++) cols[base + j] = 0;
        if (m !== 0) accumulateRows(nzv, nzo, m, ws, 0, cols, base, tc);
      }
      for (let q = 0; q < nq; q++) {
        for (let co = 0; co < cout; co++) {
          let a = b[co];
          for (let e = gStart[q]; e < gStart[q + 1]; e++) a += cols[gOff[e] + co];
          y[q * cout + co] = a;
        }
      }
    };
  }
  return { run, data: y, shape: [cout, ho, wo], layout: "hwc" };
}

/** A flat vector in torch's (C, H, W) order -> a channels-last feature map. */
function unflattenStep(layer, ctx, input, where) {
  const shape = layer.shape;
  if (input.shape.length !== 1 || shape.length !== 3 || product(shape) !== input.shape[0]) {
    throw new Error(`${ctx.who}: ${where} cannot unflatten ${JSON.stringify(input.shape)} into ${JSON.stringify(shape)}`);
  }
  const c = shape[0], hw = shape[1] * shape[2], x = input.data, y = new Float32Array(input.data.length);
  function run() {
    for (let ch = 0; ch < c; ch++) for (let q = 0; q < hw; q++) y[q * c + ch] = x[ch * hw + q];
  }
  return { run, data: y, shape: shape.slice(), layout: "hwc" };
}

/** A channels-last feature map -> a flat vector in torch's (C, H, W) order (nn.Flatten). A flat
 * input stays as it is. */
function flattenStep(layer, ctx, input) {
  const n = product(input.shape);
  if (input.layout !== "hwc") return { run() {}, data: input.data, shape: [n], layout: "flat" };
  const c = input.shape[0], hw = n / c, x = input.data, y = new Float32Array(n);
  function run() {
    for (let ch = 0; ch < c; ch++) for (let q = 0; q < hw; q++) y[ch * hw + q] = x[q * c + ch];
  }
  return { run, data: y, shape: [n], layout: "flat" };
}

/** Elementwise activations, in place (torch's definitions). */
const ACTIVATIONS = {
  relu: () => (v) => { for (let i = 0; i < v.length; i++) if (v[i] < 0) v[i] = 0; },
  tanh: () => (v) => { for (let i = 0; i < v.length; i++) v[i] = Math.tanh(v[i]); },
  elu: (layer) => {
    const alpha = layer.alpha;
    return (v) => { for (let i = 0; i < v.length; i++) if (v[i] <= 0) v[i] = alpha * Math.expm1(v[i]); };
  },
  leaky_relu: (layer) => {
    const slope = layer.negative_slope;
    return (v) => { for (let i = 0; i < v.length; i++) if (v[i] < 0) v[i] = v[i] * slope; };
  },
};

const WEIGHTED = {
  linear: linearStep,
  conv2d: (layer, ctx, input, where, relu) => convStep(layer, ctx, input, where, relu, false),
  conv_transpose2d: (layer, ctx, input, where, relu) => convStep(layer, ctx, input, where, relu, true),
};
const RESHAPES = { unflatten: unflattenStep, flatten: flattenStep };

/** Whether layers[i...] reach a weighted layer through nothing but reshapes. */
function feedsWeights(layers, i) {
  while (i < layers.length && (RESHAPES[layers[i].op] || layers[i].op === "relu")) i++;
  return i < layers.length && !!WEIGHTED[layers[i].op];
}

/**
 * Compile `layers` (the spec's list, in forward order) for an input of `inputShape`: a vector [n], or
 * an image [C, H, W] in torch's order (read channels-last when a convolution comes first).
 * Returns {input: Float32Array to write the input into, runs: [function], output: the last step}.
 * `who` names the network in errors.
 */
export function compile(layers, buffer, inputShape, who) {
  const ctx = { buffer, scratch: new Scratch(), who };
  const n = product(inputShape);
  let current = { run() {}, data: new Float32Array(n), shape: [n], layout: "flat" };
  const input = current.data, runs = [];
  const first = layers.find((l) => WEIGHTED[l.op]);
  if (first && first.op !== "linear" && layers[0].op !== "unflatten") {
    if (inputShape.length !== 3) throw new Error(`${who}: a convolution needs a (C, H, W) input, not ${JSON.stringify(inputShape)}`);
    current = unflattenStep({ shape: inputShape }, ctx, current, "input");
    runs.push(current.run);
  }
  let reluPending = false;
  layers.forEach((layer, i) => {
    const where = `layer ${i} (${layer.op})`;
    if (layer.op === "relu" && reluPending) return; // relu(relu(x)) = relu(x)
    if (layer.op === "relu" && feedsWeights(layers, i + 1)) {
      reluPending = true; // applied by the next weighted layer as it reads its input
    } else if (ACTIVATIONS[layer.op]) {
      const apply = ACTIVATIONS[layer.op](layer), data = current.data;
      runs.push(() => apply(data));
    } else if (WEIGHTED[layer.op]) {
      current = WEIGHTED[layer.op](layer, ctx, current, where, reluPending);
      reluPending = false;
      runs.push(current.run);
    } else if (RESHAPES[layer.op]) {
      current = RESHAPES[layer.op](layer, ctx, current, where);
      runs.push(current.run);
    } else {
      throw new Error(`${who}: unknown layer op ${layer.op}`);
    }
  });
  return { input, runs, output: current };
}

"""decoder.js in headless Chromium equals vae_core's torch decode.

No Streamlit: the exports are written into a temporary folder served by a tiny local HTTP
server (so the decoder loads them with fetch, as the page will), and decoder.js (joined with the
modules it imports, as the page gets it: explorer/latent_map/bundle.py) is added to a blank page. Each model is decoded at 100 random points in the browser and compared with
`vae_core.analysis.explore.decode` (pixel probabilities within 1e-4); models of every likelihood (Bernoulli,
continuous Bernoulli, Gaussian) with the likelihood's mean, `model.likelihood.mean`.
"""
from __future__ import annotations

import base64
import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import vae_core as vc
from vae_core.analysis import explore

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ["mnist-vae", "mnist-mmd", "fashion-vae", "fashion-mmd"]
TOL = 1e-4
N_POINTS = 100

# Loads a decoder and decodes every point one at a time, then the first `nBatch` as one batch;
# returns the images (float32 bytes, base64: quicker than a JSON list) and how far decodeBatch is
# from decode. That distance is asserted to be exactly 0: decodeBatch runs the very same _forward per
# point, in one JS thread whose arithmetic is IEEE double by the language (no SIMD reordering, no
# contraction into FMA) and whose Math.exp/tanh/expm1 are V8's own, so the two agree to the bit on any CPU.
DECODE_JS = """async ([url, zs, d, nBatch]) => {
  const dec = await VaeDecoder.load(url);
  const n = zs.length / d, size = dec.outputSize, z = new Float32Array(zs);
  const one = new Float32Array(n * size);
  for (let k = 0; k < n; k++) one.set(dec.decode(z.subarray(k * d, (k + 1) * d)), k * size);
  const batch = dec.decodeBatch(z, nBatch);
  let batchDiff = 0;
  for (let i = 0; i < batch.length; i++) batchDiff = Math.max(batchDiff, Math.abs(one[i] - batch[i]));
  const bytes = new Uint8Array(one.buffer);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return {images: btoa(s), batchDiff, latentDim: dec.latentDim, imageShape: dec.imageShape};
}"""


def add_forward_passes(page) -> None:
    """decoder.js and encoder.js (as window.VaeDecoder, window.VaeEncoder) on `page`."""
    from explorer.latent_map.bundle import test_page_js

    page.add_script_tag(content=test_page_js(), type="module")
    page.wait_for_function("() => window.VaeDecoder && window.VaeEncoder && window.DrawingPad")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, folder): a local HTTP server over a folder of decoder exports."""
    folder = tmp_path_factory.mktemp("decoders")
    (folder / "index.html").write_text("<!doctype html><title>decoder</title><body></body>")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def blank(browser_context, served):
    """One blank page with decoder.js for the whole module (a page per test costs seconds on 2 cores)."""
    page = browser_context.new_page()
    page.page_errors = []
    page.on("pageerror", lambda exc: page.page_errors.append(str(exc)))
    page.goto(f"{served[0]}/index.html")
    add_forward_passes(page)
    yield page
    page.close()


def browser_decode(page, served, model, z: np.ndarray, n_batch: int = 10):
    base, folder = served
    name = vc.export_to_folder(model, folder).name
    out = page.evaluate(DECODE_JS, [f"{base}/{name}", [float(v) for v in z.ravel()], z.shape[1], min(n_batch, len(z))])
    c, h, w = out["imageShape"]
    images = np.frombuffer(base64.b64decode(out["images"]), "<f4").astype(np.float64)
    return images.reshape(len(z), c, h, w), out


def random_z(n, d, seed):
    return (np.random.default_rng(seed).standard_normal((n, d)) * 1.5).astype(np.float32)


def torch_mean(model, z):
    """The likelihood's mean of the logits, as vae_core shows it (a bare decoder's: the sigmoid)."""
    likelihood = getattr(model, "likelihood", None)
    mean = torch.sigmoid if likelihood is None else likelihood.mean
    with torch.no_grad():
        return mean(model.decoder(torch.as_tensor(z))).numpy()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_decodes_exactly(blank, served, name):
    model = vc.load_bundle(vc.PRETRAINED_DIR / name, with_latents=False).model
    z = random_z(N_POINTS, model.latent_dim, seed=SHIPPED.index(name))
    got, out = browser_decode(blank, served, model, z)
    want = vc.decode(model, z)  # (K, 28, 28): what the page shows today
    assert out["latentDim"] == model.latent_dim and got.shape[1] == 1
    np.testing.assert_allclose(got[:, 0], want, rtol=0, atol=TOL)
    assert out["batchDiff"] == 0
    assert not blank.page_errors


def small_vae(arch, d, activation="relu", seed=0, **fields):
    torch.manual_seed(seed)
    return vc.build_model(vc.ModelConfig(arch=arch, latent_dim=d, activation=activation, hidden=(96, 64),
                                         **fields)).eval()


class Wrapped(nn.Module):
    """A model-like module around any decoder `net` whose forward reshapes to the image."""

    def __init__(self, net: nn.Sequential, latent_dim: int, image_shape, likelihood: str | None = None):
        super().__init__()
        self.decoder = nn.Module()
        self.decoder.net = net
        self.decoder.forward = lambda z: net(z).reshape(-1, *image_shape)
        self.latent_dim = latent_dim
        if likelihood is not None:
            self.likelihood = vc.LIKELIHOODS[likelihood](image_shape)


def odd_conv(d, act):
    """Strides 1-3, non-square kernels, output padding, a layer without bias, 3 output channels."""
    torch.manual_seed(d)
    net = nn.Sequential(
        nn.Linear(d, 8 * 3 * 3), act,
        nn.Unflatten(1, (8, 3, 3)),
        nn.ConvTranspose2d(8, 6, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2)), act,  # 6x10
        nn.ConvTranspose2d(6, 5, 4, stride=2, padding=1, bias=False), act, act,  # 12x20
        nn.ConvTranspose2d(5, 3, (1, 3), stride=1, padding=(0, 1)),
    )
    return Wrapped(net, d, (3, 12, 20))


@pytest.mark.parametrize("model, d", [
    pytest.param(small_vae("mlp", 8, "relu"), 8, id="mlp-d8-relu"),
    pytest.param(small_vae("mlp", 64, "tanh"), 64, id="mlp-d64-tanh"),
    pytest.param(small_vae("mlp", 8, "elu"), 8, id="mlp-d8-elu"),
    pytest.param(small_vae("mlp", 64, "leaky_relu"), 64, id="mlp-d64-leaky_relu"),
    pytest.param(small_vae("conv", 8), 8, id="conv-d8"),
    pytest.param(small_vae("conv", 64), 64, id="conv-d64"),
    pytest.param(odd_conv(8, nn.ELU(alpha=0.7)), 8, id="odd-conv-d8-elu"),
    pytest.param(odd_conv(5, nn.LeakyReLU(0.3)), 5, id="odd-conv-d5-leaky"),
    pytest.param(odd_conv(3, nn.Tanh()), 3, id="odd-conv-d3-tanh"),
    pytest.param(odd_conv(4, nn.ReLU()), 4, id="odd-conv-d4-relu-relu"),
    pytest.param(Wrapped(nn.Sequential(nn.Linear(6, 50), nn.ReLU(), nn.Tanh(), nn.Linear(50, 784), nn.ReLU()), 6,
                         (1, 28, 28)), 6, id="mlp-relu-tanh-last-relu"),
])
def test_random_models_decode_exactly(blank, served, model, d):
    z = random_z(25, d, seed=d)
    got, out = browser_decode(blank, served, model, z)
    np.testing.assert_allclose(got, torch_mean(model, z), rtol=0, atol=TOL)
    assert out["batchDiff"] == 0
    assert not blank.page_errors


def spread_logits(model, z, arch):
    """Rescale the last layer so the logits at z spread over a few units around 0: both sides of
    the continuous Bernoulli's series bound (|logit| = 1) are met."""
    with torch.no_grad():
        last, logits = model.decoder.net[-1], model.decoder(torch.as_tensor(z))
        offset = logits.mean((0, 2, 3)) if arch == "conv" else logits.flatten(1).mean(0)  # the bias's shape
        spread = 2 / (logits.flatten(1) - logits.flatten(1).mean(0)).std()
        last.weight.mul_(spread)
        last.bias.sub_(offset).mul_(spread)
    return model


@pytest.mark.parametrize("likelihood", sorted(vc.LIKELIHOODS))
@pytest.mark.parametrize("arch, shape", [("mlp", (1, 28, 28)), ("mlp", (3, 16, 20)), ("conv", (1, 28, 28)),
                                         ("conv", (3, 32, 32))], ids=["mlp-grey", "mlp-rgb", "conv-grey", "conv-rgb"])
def test_every_likelihood_decodes_its_mean(blank, served, likelihood, arch, shape):
    """What the page shows (`vae_core.decode`: the likelihood's mean E[x|z]) for random models of
    both architectures, grey and colour, and each likelihood."""
    d = 3
    z = random_z(25, d, seed=len(likelihood))
    model = spread_logits(small_vae(arch, d, likelihood=likelihood, image_shape=shape, seed=len(shape)), z, arch)
    got, out = browser_decode(blank, served, model, z)
    assert tuple(out["imageShape"]) == shape
    shown = vc.decode(model, z)  # (K, H, W) or (K, H, W, 3)
    np.testing.assert_allclose(got[:, 0] if shape[0] == 1 else got.transpose(0, 2, 3, 1), shown, rtol=0, atol=TOL)
    logits = torch.as_tensor(np.abs(torch_logits(model, z)))
    assert (logits < 1).float().mean() > 0.2 and (logits > 1).float().mean() > 0.2
    assert out["batchDiff"] == 0
    assert not blank.page_errors


def torch_logits(model, z):
    with torch.no_grad():
        return model.decoder(torch.as_tensor(z)).numpy()


def test_cbernoulli_mean_near_logit_zero(blank, served):
    """The continuous Bernoulli's mean at, near and far from logit 0 (where its two closed-form terms
    cancel), at the series' bound and where expm1 overflows float32: equal to torch's
    `likelihood.mean` within 1e-6, and 1/2 at 0."""
    logits = np.array([0.0, 1e-30, 1e-7, 1e-4, 1e-3, 0.01, 0.3, 0.999999, 1.0, 1.000001, 2.0, 10.0, 88.0, 89.0,
                       1e3, 1e6], np.float32)
    logits = np.concatenate([logits, -logits[1:]])
    logits = np.concatenate([logits, np.zeros(-len(logits) % 8, np.float32)])
    net = nn.Sequential(nn.Linear(1, len(logits), bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(logits)[:, None])
    model = Wrapped(net, 1, (1, len(logits) // 8, 8), likelihood="cbernoulli")
    z = np.ones((1, 1), np.float32)  # the logits are the weights, exactly
    assert vc.decoder_export(model).spec["output"]["op"] == "cbernoulli_mean"
    got, _ = browser_decode(blank, served, model, z)
    np.testing.assert_allclose(got.ravel(), torch_mean(model, z).ravel(), rtol=0, atol=1e-6)
    assert got.ravel()[0] == 0.5
    assert not blank.page_errors


def test_float16_conversion_is_exact(blank, served):
    """Every float16 value of magnitude ≤ 2^-10 (all subnormals, both zeros), scaled by z = 2^14 into
    the sigmoid's steep part: one float16 ulp would move a pixel by ~2.5e-4, so compare at 1e-6."""
    bits = np.arange(65536, dtype=np.uint16)
    values = bits.view(np.float16).astype(np.float32)
    values = values[np.isfinite(values) & (np.abs(values) <= 2.0 ** -10)]
    values = np.concatenate([values, np.zeros(-len(values) % 64, np.float32)])
    net = nn.Sequential(nn.Linear(1, len(values), bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(values)[:, None])
    model = Wrapped(net, 1, (1, len(values) // 64, 64))
    assert vc.decoder_export(model).spec["layers"][0]["weight"]["dtype"] == "float16"
    z = np.array([[2.0 ** 14], [-(2.0 ** 14)]], np.float32)
    got, _ = browser_decode(blank, served, model, z)
    np.testing.assert_allclose(got, torch_mean(model, z), rtol=0, atol=1e-6)


def test_write_image_data_grey_and_rgb(blank, served):
    model = vc.load_bundle(vc.PRETRAINED_DIR / "mnist-vae", with_latents=False).model
    name = vc.export_to_folder(model, served[1]).name
    z = np.array([0.3, -0.8], np.float32)
    grey = blank.evaluate("""async ([url, z]) => {
      const dec = await VaeDecoder.load(url);
      const img = new ImageData(28 * 3, 28 * 3);
      dec.writeImageData(dec.decode(z), img, 3);
      const canvas = document.createElement('canvas');
      canvas.width = img.width; canvas.height = img.height;
      canvas.getContext('2d').putImageData(img, 0, 0);  // a real canvas takes it
      return Array.from(img.data);
    }""", [f"{served[0]}/{name}", z.tolist()])
    grey = np.asarray(grey, np.int64).reshape(84, 84, 4)
    want = np.kron(explore.to_uint8(vc.decode(model, z[None])[0]).astype(np.int64), np.ones((3, 3), np.int64))
    for ch in range(3):
        assert np.abs(grey[..., ch] - want).max() <= 1  # a rounding tie may differ by one
        assert (grey[..., ch] == want).mean() > 0.99
    assert (grey[..., 3] == 255).all()

    rgb = np.random.default_rng(0).random((3, 4, 5)).astype(np.float32)
    rgb[0, 0, 0], rgb[1, 0, 0], rgb[2, 0, 0] = -0.5, 1.5, np.nan  # clamped; NaN drawn black
    drawn = blank.evaluate("""([pixels]) => {
      const img = new ImageData(5, 4);
      VaeDecoder.writeImageData(new Float32Array(pixels.map(v => v === null ? NaN : v)), [3, 4, 5], img, 1);
      return Array.from(img.data);
    }""", [[None if np.isnan(v) else float(v) for v in rgb.ravel()]])
    drawn = np.asarray(drawn, np.int64).reshape(4, 5, 4)
    want = explore.to_uint8(np.nan_to_num(rgb, nan=0.0)).transpose(1, 2, 0)
    assert np.abs(drawn[..., :3] - want).max() <= 1
    assert list(drawn[0, 0, :3]) == [0, 255, 0]


def test_refuses_what_it_cannot_run(blank, served):
    name = vc.export_to_folder(small_vae("mlp", 2), served[1]).name
    errors = blank.evaluate("""async (url) => {
      const spec = await (await fetch(url)).json();
      const bin = await (await fetch(url.replace('.json', '.bin'))).arrayBuffer();
      const tries = {
        short_blob: () => VaeDecoder.fromSpec(spec, bin.slice(0, 100)),
        unknown_op: () => VaeDecoder.fromSpec({...spec, layers: [...spec.layers, {op: 'softmax'}]}, bin),
        unknown_output: () => VaeDecoder.fromSpec({...spec, output: {op: 'gaussian_mean'}}, bin),
        newer_version: () => VaeDecoder.fromSpec({...spec, version: 2}, bin),
        wrong_z: () => VaeDecoder.fromSpec(spec, bin).decode(new Float32Array(3)),
        nan_z: () => VaeDecoder.fromSpec(spec, bin).decode([NaN, 0]),
      };
      const out = {};
      for (const [k, f] of Object.entries(tries)) {
        try { f(); out[k] = null; } catch (e) { out[k] = String(e.message); }
      }
      let missing = null;
      try {
        await VaeDecoder.load(url.replace(/[0-9a-f]{64}/, 'f'.repeat(64)));
      } catch (e) { missing = String(e.message); }
      out.missing_file = missing;
      return out;
    }""", f"{served[0]}/{name}")
    assert all(msg and msg.startswith("VaeDecoder:") for msg in errors.values()), errors
    assert "softmax" in errors["unknown_op"] and "gaussian_mean" in errors["unknown_output"]
    assert "404" in errors["missing_file"]


def test_component_bundle_is_one_module(page, served):
    """The component's JavaScript (every module joined by bundle.py) runs as one inline module, adds
    no globals, and its forward passes are the modules' own."""
    from explorer.latent_map.bundle import component_js

    source = component_js()
    assert not any(line.startswith("import ") for line in source.splitlines())
    page.goto(f"{served[0]}/index.html")
    before = set(page.evaluate("Object.getOwnPropertyNames(window)"))
    page.add_script_tag(content=source + "\nwindow.__moduleSaw = [typeof VaeDecoder.fromSpec, "
                        "typeof VaeEncoder.fromSpec, typeof compile];", type="module")
    page.wait_for_function("window.__moduleSaw !== undefined")
    assert page.evaluate("window.__moduleSaw") == ["function", "function", "undefined"]
    added = set(page.evaluate("Object.getOwnPropertyNames(window)")) - before
    assert added == {"__moduleSaw"}
    assert not page.page_errors

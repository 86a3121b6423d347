"""encoder.js in headless Chromium equals vae_core's torch encoder (mu, and logvar of q(z|x)).

As test_decoder_js.py: the exports (vae_core.store.export.encoder_export) are served from a
temporary folder and encoder.js, joined with the modules it imports as the page gets it, runs on
a blank page. Every shipped model and random models of both architectures, grey and colour,
stochastic and deterministic, of several latent sizes, encode the same images in both: real test
images, random ones, and pad-like drawings (mostly exact zeros, which the forward pass skips).
"""
from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

import vae_core as vc
from vae_core.store import export as ex

from test_decoder_js import SHIPPED, add_forward_passes, served  # noqa: F401  (served: a fixture)

pytestmark = pytest.mark.browser

TOL = 1e-4  # on mu and logvar, float64-summed JS vs torch float32

ENCODE_JS = """async ([url, images, n]) => {
  const enc = await VaeEncoder.load(url);
  const x = new Float32Array(images), size = x.length / n, d = enc.latentDim;
  const mu = new Float32Array(n * d), logvar = new Float32Array(n * d);
  for (let k = 0; k < n; k++) {
    const out = enc.encode(x.subarray(k * size, (k + 1) * size));
    mu.set(out.mu, k * d);
    if (out.logvar) logvar.set(out.logvar, k * d);
  }
  const b64 = (a) => {
    const bytes = new Uint8Array(a.buffer);
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(s);
  };
  return {mu: b64(mu), logvar: b64(logvar), stochastic: enc.stochastic, latentDim: d, imageShape: enc.imageShape};
}"""


@pytest.fixture(scope="module")
def blank(browser_context, served):  # noqa: F811
    page = browser_context.new_page()
    page.page_errors = []
    page.on("pageerror", lambda exc: page.page_errors.append(str(exc)))
    page.goto(f"{served[0]}/index.html")
    add_forward_passes(page)
    yield page
    page.close()


def drawings(n, shape, seed):
    """Pad-like images: a few thick random strokes of ink on black, most pixels exactly 0."""
    rng = np.random.default_rng(seed)
    c, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((n, c, h, w), np.float32)
    for k in range(n):
        for _ in range(3):
            (y0, x0), (y1, x1) = rng.uniform(0, [h, w], (2, 2))
            t = np.clip(((yy - y0) * (y1 - y0) + (xx - x0) * (x1 - x0)) / max((y1 - y0) ** 2 + (x1 - x0) ** 2, 1e-9), 0, 1)
            dist = np.hypot(yy - (y0 + t * (y1 - y0)), xx - (x0 + t * (x1 - x0)))
            ink = np.clip(1.5 - dist, 0, 1).astype(np.float32)
            out[k] = np.maximum(out[k], ink * rng.uniform(0.3, 1, (c, 1, 1)).astype(np.float32))
    return out


def images_for(shape, seed, data_dir=None, dataset=None):
    parts = [drawings(6, shape, seed), np.random.default_rng(seed).random((4, *shape), np.float32),
             np.zeros((1, *shape), np.float32)]
    if dataset is not None:
        test = vc.load_split(dataset, "test", data_dir=data_dir)
        parts.append(test.images[:8].numpy().astype(np.float32).reshape(8, *shape) / 255)
    return np.concatenate(parts)


def browser_encode(page, served, model, x):  # noqa: F811
    base, folder = served
    name = ex.encoder_to_folder(model, folder).name
    out = page.evaluate(ENCODE_JS, [f"{base}/{name}", [float(v) for v in x.ravel()], len(x)])
    d = out["latentDim"]
    mu = np.frombuffer(base64.b64decode(out["mu"]), "<f4").reshape(len(x), d)
    logvar = np.frombuffer(base64.b64decode(out["logvar"]), "<f4").reshape(len(x), d)
    return mu, (logvar if out["stochastic"] else None), out


def torch_encode(model, x):
    with torch.no_grad():
        post = model.eval().encode(torch.as_tensor(x))
    return post.mu.numpy(), None if post.logvar is None else post.logvar.numpy()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_encodes_exactly(blank, served, name, data_dir):  # noqa: F811
    model = vc.load_bundle(vc.PRETRAINED_DIR / name, with_latents=False).model
    x = images_for(model.image_shape, seed=SHIPPED.index(name), data_dir=data_dir, dataset=name.split("-")[0])
    mu, logvar, out = browser_encode(blank, served, model, x)
    want_mu, want_logvar = torch_encode(model, x)
    assert tuple(out["imageShape"]) == tuple(model.image_shape) and out["stochastic"] == (want_logvar is not None)
    np.testing.assert_allclose(mu, want_mu, rtol=0, atol=TOL)
    if want_logvar is not None:
        np.testing.assert_allclose(logvar, want_logvar, rtol=0, atol=TOL)
    assert np.ptp(mu, axis=0).min() > 0.01  # the images land in different places: a real comparison
    assert not blank.page_errors


def random_vae(arch, d, objective="standard", shape=(1, 28, 28), activation="relu", seed=0):
    torch.manual_seed(seed)
    return vc.build_model(vc.ModelConfig(arch=arch, latent_dim=d, objective=objective, image_shape=shape,
                                         activation=activation, hidden=(96, 64))).eval()


@pytest.mark.parametrize("arch, d, objective, shape, activation", [
    ("mlp", 2, "standard", (1, 28, 28), "relu"),
    ("mlp", 8, "mmd", (1, 28, 28), "tanh"),
    ("mlp", 64, "standard", (3, 16, 20), "elu"),
    ("conv", 2, "mmd", (1, 28, 28), "relu"),
    ("conv", 8, "standard", (1, 28, 28), "relu"),
    ("conv", 64, "standard", (3, 32, 32), "relu"),
    ("conv", 5, "standard", (3, 17, 23), "relu"),  # odd sizes: the strides' floors
], ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else str(v))
def test_random_models_encode_exactly(blank, served, arch, d, objective, shape, activation):  # noqa: F811
    model = random_vae(arch, d, objective, shape, activation, seed=d)
    x = images_for(shape, seed=d)
    mu, logvar, out = browser_encode(blank, served, model, x)
    want_mu, want_logvar = torch_encode(model, x)
    assert out["latentDim"] == d and out["stochastic"] == (objective != "mmd")
    np.testing.assert_allclose(mu, want_mu, rtol=0, atol=TOL)
    if want_logvar is not None:
        np.testing.assert_allclose(logvar, want_logvar, rtol=0, atol=TOL)
    assert not blank.page_errors


def test_refuses_what_it_cannot_run(blank, served):  # noqa: F811
    name = ex.encoder_to_folder(random_vae("mlp", 2), served[1]).name
    errors = blank.evaluate("""async (url) => {
      const spec = await (await fetch(url)).json();
      const bin = await (await fetch(url.replace('.json', '.bin'))).arrayBuffer();
      const tries = {
        short_blob: () => VaeEncoder.fromSpec(spec, bin.slice(0, 100)),
        decoder_spec: () => VaeEncoder.fromSpec({...spec, format: 'vae-core-decoder'}, bin),
        wrong_posterior: () => VaeEncoder.fromSpec({...spec, posterior: {mu: [0, 3], logvar: [3, 4]}}, bin),
        wrong_image: () => VaeEncoder.fromSpec(spec, bin).encode(new Float32Array(10)),
        nan_pixel: () => VaeEncoder.fromSpec(spec, bin).encode(new Float32Array(784).fill(NaN)),
      };
      const out = {};
      for (const [k, f] of Object.entries(tries)) {
        try { f(); out[k] = null; } catch (e) { out[k] = String(e.message); }
      }
      return out;
    }""", f"{served[0]}/{name}")
    assert all(msg and msg.startswith("VaeEncoder:") for msg in errors.values()), errors


# ---- the export alone (no browser) -------------------------------------------------------------

def test_export_is_content_addressed_and_once_per_version(tmp_path):
    model = random_vae("conv", 4, seed=1)
    a, b = ex.encoder_export(model), ex.encoder_export(model)
    assert a.digest == b.digest and a.blob == b.blob
    path = ex.encoder_to_folder(model, tmp_path)
    assert path.name == f"{a.digest}.json" and (tmp_path / f"{a.digest}.bin").read_bytes() == a.blob
    with torch.no_grad():
        model.encoder.net[0].bias.add_(1.0)
    assert ex.encoder_export(model).digest != a.digest  # new weights: new files
    assert ex.decoder_export(model).spec["format"] == "vae-core-decoder"  # the decoder's are apart


@pytest.mark.parametrize("change, needle", [
    (lambda m: m.encoder.net.insert(1, torch.nn.Dropout(0.1)), "Dropout"),
    (lambda m: setattr(m.encoder, "forward", lambda x: m.encoder.net(x.flatten(1)) * 2), "does more"),
    (lambda m: m.encoder.net.append(torch.nn.Linear(4, 3)), "not 4 numbers"),
], ids=["unknown-layer", "forward-does-more", "wrong-width"])
def test_export_refuses_what_the_browser_cannot_run(change, needle):
    model = random_vae("mlp", 2, seed=2)
    change(model)
    with pytest.raises(ex.UnsupportedEncoderError, match=needle):
        ex.encoder_export(model)

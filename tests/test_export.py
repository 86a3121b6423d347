"""The decoder export for the browser, checked against an independent numpy forward pass.

The numpy pass below reads only the spec and the blob (never torch), exactly as decoder.js does,
so a wrong offset, shape, layout or op in the export shows up as a wrong image here.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading

import numpy as np
import pytest
import torch
from torch import nn

import vae_core as vc
from vae_core.store import export as ex

TOL = 1e-5  # pixel probability, numpy (float64) vs torch (float32)


# ---- an independent reader and forward pass --------------------------------------------------

def read_tensor(blob: bytes, entry: dict | None) -> np.ndarray | None:
    if entry is None:
        return None
    dtype = {"float16": "<f2", "float32": "<f4"}[entry["dtype"]]
    n = int(np.prod(entry["shape"]))
    assert entry["offset"] % 8 == 0
    return np.frombuffer(blob, dtype, n, entry["offset"]).astype(np.float64).reshape(entry["shape"])


def conv_transpose2d(x, w, b, stride, padding, output_padding):
    """x (C, H, W), w (C, D, kh, kw): scatter every tap into a padded canvas, then crop."""
    c, h, wd = x.shape
    _, d, kh, kw = w.shape
    ho = (h - 1) * stride[0] - 2 * padding[0] + kh + output_padding[0]
    wo = (wd - 1) * stride[1] - 2 * padding[1] + kw + output_padding[1]
    canvas = np.zeros((d, (h - 1) * stride[0] + kh + output_padding[0] + padding[0],
                       (wd - 1) * stride[1] + kw + output_padding[1] + padding[1]))
    for ky in range(kh):
        for kx in range(kw):
            canvas[:, ky: ky + (h - 1) * stride[0] + 1: stride[0], kx: kx + (wd - 1) * stride[1] + 1: stride[1]] += \
                np.einsum("chw,cd->dhw", x, w[:, :, ky, kx])
    out = canvas[:, padding[0]: padding[0] + ho, padding[1]: padding[1] + wo]
    return out + (b[:, None, None] if b is not None else 0)


def numpy_decode(spec: dict, blob: bytes, z: np.ndarray) -> np.ndarray:
    """The mean images (K, C, H, W) at the points z (K, d), from the spec and blob alone."""
    assert spec["format"] == "vae-core-decoder" and spec["version"] == 1 and spec["byte_order"] == "little"
    assert spec["blob_bytes"] == len(blob)
    images = []
    for point in np.asarray(z, np.float64):
        x = point
        for layer in spec["layers"]:
            op = layer["op"]
            if op == "linear":
                w, b = read_tensor(blob, layer["weight"]), read_tensor(blob, layer["bias"])
                x = w @ x + (b if b is not None else 0)
            elif op == "relu":
                x = np.maximum(x, 0)
            elif op == "tanh":
                x = np.tanh(x)
            elif op == "elu":
                x = np.where(x > 0, x, layer["alpha"] * np.expm1(np.minimum(x, 0)))
            elif op == "leaky_relu":
                x = np.where(x >= 0, x, layer["negative_slope"] * x)
            elif op == "unflatten":
                x = x.reshape(layer["shape"])
            elif op == "conv_transpose2d":
                x = conv_transpose2d(x, read_tensor(blob, layer["weight"]), read_tensor(blob, layer["bias"]),
                                     layer["stride"], layer["padding"], layer["output_padding"])
            else:
                raise AssertionError(f"unknown op {op}")
        images.append(numpy_mean(spec["output"], x).reshape(spec["image_shape"]))
    return np.stack(images)


def numpy_mean(output: dict, x: np.ndarray) -> np.ndarray:
    """The output op on float64 logits, written apart from vae_core.model.likelihoods."""
    if output == {"op": "sigmoid"}:
        return np.exp(-np.logaddexp(0, -x))  # sigmoid, no overflow
    assert output == {"op": "cbernoulli_mean", "series_below": 1.0}, output
    # E[x] = −1/expm1(−l) − 1/l; in float64 the cancellation costs ~1e-16/l², so the first two
    # terms of its series suffice below |l| = 1e-3 (error < 1e-10 there).
    small = np.abs(x) < 1e-3
    safe = np.where(small, 1.0, x)
    with np.errstate(over="ignore"):
        exact = -1.0 / np.expm1(-safe) - 1.0 / safe
    return np.where(small, 0.5 + x / 12, exact)


# ---- models ---------------------------------------------------------------------------------

class Wrapped(nn.Module):
    """A model-like module around any decoder `net`, whose forward reshapes to the image."""

    def __init__(self, net: nn.Sequential, latent_dim: int, image_shape=(1, 28, 28)):
        super().__init__()
        self.decoder = nn.Module()
        self.decoder.net = net
        self.decoder.forward = lambda z: net(z).reshape(-1, *image_shape)
        self.latent_dim = latent_dim


def torch_mean(model, z) -> np.ndarray:
    """What vae_core shows: the likelihood's mean of the logits (a bare decoder's: the sigmoid)."""
    likelihood = getattr(model, "likelihood", None)
    mean = torch.sigmoid if likelihood is None else likelihood.mean
    with torch.no_grad():
        return mean(model.decoder(torch.as_tensor(z, dtype=torch.float32))).numpy()


def vae(arch="mlp", d=2, activation="relu", hidden=(64, 48), seed=0, **fields):
    torch.manual_seed(seed)
    return vc.build_model(vc.ModelConfig(arch=arch, latent_dim=d, activation=activation, hidden=hidden,
                                         **fields)).eval()


def random_z(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32) * 1.5


def conv_net(d, act: nn.Module, *, bias=True):
    """Unusual but supported ConvTranspose2d options: strides 1-3, non-square kernels, output padding."""
    return nn.Sequential(
        nn.Linear(d, 8 * 3 * 3, bias=bias), act,
        nn.Unflatten(1, (8, 3, 3)),
        nn.ConvTranspose2d(8, 6, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), bias=bias), act,
        nn.ConvTranspose2d(6, 3, 4, stride=2, padding=1, bias=bias), act,  # (3, 12, 20)
        nn.ConvTranspose2d(3, 2, (1, 3), stride=1, padding=(0, 1), bias=bias),
    )


def check_export(model, d, image_shape=None):
    e = vc.decoder_export(model)
    json.loads(json.dumps(e.spec))  # JSON-serialisable
    z = random_z(20, d, seed=d)
    got, want = numpy_decode(e.spec, e.blob, z), torch_mean(model, z)
    if image_shape is not None:
        assert tuple(e.spec["image_shape"]) == tuple(image_shape)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    return e


# ---- equality with torch ---------------------------------------------------------------------

@pytest.mark.parametrize("d", [2, 8, 64])
@pytest.mark.parametrize("activation", ["relu", "tanh", "elu", "leaky_relu"])
def test_mlp_matches_torch(d, activation):
    model = vae("mlp", d, activation)
    e = check_export(model, d, (1, 28, 28))
    assert [layer["op"] for layer in e.spec["layers"]] == ["linear", activation, "linear", activation, "linear"]
    assert e.spec["latent_dim"] == d
    # the same points through vae_core's own decode (what the page shows today)
    z = random_z(5, d)
    np.testing.assert_allclose(numpy_decode(e.spec, e.blob, z)[:, 0], vc.decode(model, z), rtol=0, atol=TOL)


@pytest.mark.parametrize("d", [2, 8, 64])
def test_conv_matches_torch(d):
    model = vae("conv", d)
    e = check_export(model, d, (1, 28, 28))
    ops = [layer["op"] for layer in e.spec["layers"]]
    assert ops == ["linear", "relu", "unflatten", "conv_transpose2d", "relu", "conv_transpose2d", "relu",
                   "conv_transpose2d"]


@pytest.mark.parametrize("act", [nn.ReLU(), nn.Tanh(), nn.ELU(alpha=0.5), nn.LeakyReLU(0.2)], ids=repr)
@pytest.mark.parametrize("d", [2, 8])
def test_conv_options_and_activations(act, d):
    torch.manual_seed(1)
    e = check_export(Wrapped(conv_net(d, act), d, (2, 12, 20)), d, (2, 12, 20))
    acts = [layer for layer in e.spec["layers"] if layer["op"] not in ("linear", "unflatten", "conv_transpose2d")]
    if isinstance(act, nn.LeakyReLU):
        assert acts[0] == {"op": "leaky_relu", "negative_slope": pytest.approx(0.2)}
    if isinstance(act, nn.ELU):
        assert acts[0] == {"op": "elu", "alpha": 0.5}


def test_no_bias():
    torch.manual_seed(2)
    e = check_export(Wrapped(conv_net(3, nn.ReLU(), bias=False), 3, (2, 12, 20)), 3)
    assert all(layer.get("bias", None) is None for layer in e.spec["layers"])


@pytest.mark.parametrize("name", ["mnist-vae", "fashion-vae"])
def test_shipped_models(name):
    model = vc.load_bundle(vc.PRETRAINED_DIR / name, with_latents=False).model
    e = vc.decoder_export(model)
    z = random_z(10, 2)
    np.testing.assert_allclose(numpy_decode(e.spec, e.blob, z)[:, 0], vc.decode(model, z), rtol=0, atol=TOL)
    dtypes = {layer[k]["dtype"] for layer in e.spec["layers"] for k in ("weight", "bias") if k in layer}
    # the MLPs are shipped float16-rounded (half the download); the conv models are float32
    assert dtypes == ({"float16"} if name.startswith("mnist") else {"float32"})


# ---- every likelihood's mean ------------------------------------------------------------------

@pytest.mark.parametrize("likelihood", sorted(vc.LIKELIHOODS))
@pytest.mark.parametrize("arch, shape", [("mlp", (1, 28, 28)), ("mlp", (3, 16, 20)), ("conv", (1, 28, 28)),
                                         ("conv", (3, 32, 32))])
def test_every_likelihood_exports_its_mean(likelihood, arch, shape):
    """The spec's output op gives what the page shows: `vae_core.decode`, the likelihood's mean."""
    model = vae(arch, 3, likelihood=likelihood, image_shape=shape, seed=len(likelihood))
    z = random_z(6, 3, seed=1)
    with torch.no_grad():  # logits spread over a few units around 0, so both sides of the series' bound are met
        last, logits = model.decoder.net[-1], model.decoder(torch.as_tensor(z))
        offset = logits.mean((0, 2, 3)) if arch == "conv" else logits.flatten(1).mean(0)  # the bias's shape
        spread = 2 / (logits.flatten(1) - logits.flatten(1).mean(0)).std()
        last.weight.mul_(spread)
        last.bias.sub_(offset).mul_(spread)
    e = check_export(model, 3, shape)
    assert e.spec["output"] == model.likelihood.browser_mean
    got = numpy_decode(e.spec, e.blob, z)
    shown = vc.decode(model, z)  # (K, H, W) or (K, H, W, 3)
    np.testing.assert_allclose(got[:, 0] if shape[0] == 1 else got.transpose(0, 2, 3, 1), shown, rtol=0, atol=TOL)
    with torch.no_grad():
        logits = model.decoder(torch.as_tensor(z)).abs()
    assert (logits < 1).float().mean() > 0.2 and (logits > 1).float().mean() > 0.2


def test_cbernoulli_mean_near_logit_zero():
    """Logits at, near and far from 0, and at the series' bound: the export's op equals
    `likelihood.mean` (whose two closed-form terms cancel at 0)."""
    logits = np.array([0.0, 1e-30, 1e-7, 1e-4, 1e-3, 0.01, 0.3, 0.999999, 1.0, 1.000001, 2.0, 10.0, 88.0, 89.0,
                       1e3, 1e6], np.float32)
    logits = np.concatenate([logits, -logits[1:]])
    net = nn.Sequential(nn.Linear(1, len(logits), bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(logits)[:, None])
    model = Wrapped(net, 1, (1, 1, len(logits)))
    model.likelihood = vc.LIKELIHOODS["cbernoulli"]((1, 1, len(logits)))
    e = vc.decoder_export(model)
    got = numpy_decode(e.spec, e.blob, np.ones((1, 1), np.float32)).ravel()
    np.testing.assert_allclose(got, torch_mean(model, np.ones((1, 1), np.float32)).ravel(), rtol=0, atol=1e-6)
    assert got[0] == 0.5 and np.all(np.isfinite(got))


# ---- float16 exactly when exact --------------------------------------------------------------

def test_float16_exactly_when_exact():
    model = vae("mlp", 2)
    layers = model.decoder.net
    with torch.no_grad():
        layers[0].weight.copy_(layers[0].weight.half().float())  # exact in float16
        layers[0].bias.copy_(layers[0].bias.half().float())
        layers[0].bias[0] = 2.0 ** -20  # a float16 subnormal: still exact
        layers[2].weight.copy_(layers[2].weight.half().float())
        layers[2].weight[0, 0] = 70000.0  # beyond float16's range
        layers[2].bias.copy_(layers[2].bias.half().float())
        layers[2].bias[1] = 1 + 2.0 ** -12  # between two float16 values
    e = check_export(model, 2)
    spec = e.spec["layers"]
    assert (spec[0]["weight"]["dtype"], spec[0]["bias"]["dtype"]) == ("float16", "float16")
    assert (spec[2]["weight"]["dtype"], spec[2]["bias"]["dtype"]) == ("float32", "float32")
    assert spec[4]["weight"]["dtype"] == "float32"  # untouched random init is not float16-exact
    for i in (0, 2, 4):  # the blob holds the very numbers torch uses
        for k in ("weight", "bias"):
            want = getattr(layers[i], k).detach().double().numpy()
            np.testing.assert_array_equal(read_tensor(e.blob, spec[i][k]), want)


# ---- digest ---------------------------------------------------------------------------------

def test_digest_stable_and_content_addressed():
    # Two models holding the very same weight bytes: copied, not initialised again from the seed, so the
    # digest's stability is tested on equal bytes, never on two computations agreeing to the last bit.
    model, twin = vae(seed=3), vae(seed=0)
    twin.load_state_dict(model.state_dict())
    a, b = vc.decoder_export(model), vc.decoder_export(twin)
    assert a.digest == b.digest and a.blob == b.blob and a.spec == b.spec
    assert a.digest == hashlib.sha256(a.spec_json + a.blob).hexdigest()
    assert json.loads(a.spec_json) == a.spec
    changed = vae(seed=0)
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.decoder.net[-1].bias[5] += 1e-3
    assert vc.decoder_export(changed).digest != a.digest
    assert vc.decoder_export(vae(seed=4)).digest != a.digest


# ---- what cannot run in the browser ---------------------------------------------------------

@pytest.mark.parametrize("net, needle", [
    (nn.Sequential(nn.Linear(2, 784), nn.Sigmoid()), "Sigmoid"),
    (nn.Sequential(nn.Linear(2, 784), nn.BatchNorm1d(784)), "BatchNorm1d"),
    (nn.Sequential(nn.Linear(2, 4 * 28 * 28), nn.Unflatten(1, (4, 28, 28)), nn.Conv2d(4, 1, 3, padding=1)), "Conv2d"),
    (nn.Sequential(nn.Linear(2, 4 * 15 * 15), nn.Unflatten(1, (4, 15, 15)),
                   nn.ConvTranspose2d(4, 1, 3, stride=2, padding=2, dilation=2, output_padding=1)), "dilation"),
    (nn.Sequential(nn.Linear(2, 4 * 14 * 14), nn.Unflatten(1, (4, 14, 14)),
                   nn.ConvTranspose2d(4, 2, 2, stride=2, groups=2)), "groups"),
    (nn.Sequential(nn.Linear(2, 784), nn.Unflatten(1, (28, 28))), "unflatten"),
])
def test_unsupported_modules_are_named(net, needle):
    with pytest.raises(vc.UnsupportedDecoderError, match=needle) as info:
        vc.decoder_export(Wrapped(net, 2, (1, 28, 28) if needle != "groups" else (2, 28, 28)))
    assert isinstance(info.value, vc.VaeCoreError)


def test_forward_that_does_more_than_net_is_refused():
    model = Wrapped(nn.Sequential(nn.Linear(2, 784)), 2)
    net = model.decoder.net
    model.decoder.forward = lambda z: 2 * net(z).reshape(-1, 1, 28, 28)
    with pytest.raises(vc.UnsupportedDecoderError, match="more than"):
        vc.decoder_export(model)


def test_decoder_without_net_and_unknown_likelihood():
    with pytest.raises(vc.UnsupportedDecoderError, match="net"):
        vc.decoder_export(nn.Linear(2, 3))

    class Laplace(vc.Likelihood):  # a likelihood without a browser op
        name = "laplace"

    model = vae()
    model.likelihood = Laplace(model.image_shape)
    with pytest.raises(vc.UnsupportedDecoderError, match="laplace"):
        vc.decoder_export(model)
    model.likelihood.browser_mean = {"op": "median"}  # one decoder.js does not run
    with pytest.raises(vc.UnsupportedDecoderError, match="laplace"):
        vc.decoder_export(model)


# ---- files ----------------------------------------------------------------------------------

def test_export_to_folder_writes_content_addressed_files(tmp_path):
    model = vae()
    e = vc.decoder_export(model)
    path = vc.export_to_folder(model, tmp_path / "decoders")
    assert path == tmp_path / "decoders" / f"{e.digest}.json"
    assert path.read_bytes() == e.spec_json
    assert path.with_suffix(".bin").read_bytes() == e.blob
    assert sorted(p.name for p in path.parent.iterdir()) == [f"{e.digest}.bin", f"{e.digest}.json"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_export_to_folder_is_idempotent_and_repairs(tmp_path):
    model = vae()
    path = vc.export_to_folder(model, tmp_path)
    stats = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in (path, path.with_suffix(".bin"))]
    assert vc.export_to_folder(model, tmp_path) == path
    assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in (path, path.with_suffix(".bin"))] == stats
    blob = path.with_suffix(".bin")
    good = blob.read_bytes()
    blob.write_bytes(good[:100])  # damaged: rewritten whole
    vc.export_to_folder(model, tmp_path)
    assert blob.read_bytes() == good


def test_export_to_folder_is_atomic(tmp_path, monkeypatch):
    model = vae()

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(ex.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        vc.export_to_folder(model, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no partial file, no temp file left
    monkeypatch.undo()
    path = vc.export_to_folder(model, tmp_path)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".bin", ".json"]
    assert path.exists()


def test_concurrent_exports_agree(tmp_path):
    e = vc.decoder_export(vae())
    errors = []

    def write():
        try:
            for _ in range(5):
                e.save(tmp_path)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(os.listdir(tmp_path)) == [f"{e.digest}.bin", f"{e.digest}.json"]
    assert (tmp_path / f"{e.digest}.bin").read_bytes() == e.blob

"""The decoder for the browser: a JSON spec of its layers plus one little-endian weight blob.

The latent map decodes the point under the cursor in the browser with a plain-JavaScript
forward pass (explorer/latent_map/decoder.js). This module writes what that pass reads:

    spec = {
      "format": "vae-core-decoder", "version": 1,
      "latent_dim": d, "image_shape": [C, H, W],
      "layers": [ {"op": "linear", "in_features": …, "out_features": …, "weight": T, "bias": T|null},
                  {"op": "relu"} | {"op": "tanh"} | {"op": "elu", "alpha": a}
                  | {"op": "leaky_relu", "negative_slope": s},
                  {"op": "unflatten", "shape": [C, H, W]},
                  {"op": "conv_transpose2d", "in_channels", "out_channels", "kernel_size": [kh, kw],
                   "stride": [sh, sw], "padding": [ph, pw], "output_padding": [oh, ow],
                   "weight": T, "bias": T|null}, … ],     # in forward order
      "output": {"op": "sigmoid"}                        # logits -> the mean image shown, E[x | z]:
                | {"op": "cbernoulli_mean", "series_below": t},  # the likelihood's `mean` (see output_op)
      "byte_order": "little", "blob_bytes": n,
    }
    T = {"offset": bytes into the blob (a multiple of 8), "dtype": "float16"|"float32",
         "shape": torch's shape}   # Linear (out, in); ConvTranspose2d (in, out, kh, kw); row-major

The last layer's output, read in torch's row-major order, is the logits image (C, H, W).
A tensor is stored as float16 only when every value survives the round trip exactly (the
shipped models are saved float16-rounded), else float32: the browser computes with the very
numbers torch uses. `digest` is the SHA-256 of the canonical spec JSON followed by the blob,
so `<digest>.json` / `<digest>.bin` are content-addressed and can be cached forever.

The encoder, for the drawing pad (explorer/latent_map/encoder.js), is written the same way:

    spec = {
      "format": "vae-core-encoder", "version": 1,
      "latent_dim": d, "image_shape": [C, H, W],    # the input: pixels in [0, 1], torch's order
      "layers": [ … as above, plus {"op": "conv2d", <conv_transpose2d's fields but output_padding>}
                  and {"op": "flatten"} ],
      "posterior": {"mu": [0, d], "logvar": [d, 2d]}   # slices of the last layer's output;
                 | {"mu": [0, d]},                      # no logvar: a deterministic encoder (MMD-VAE)
      "byte_order": "little", "blob_bytes": n,
    }
    Conv2d's weight T has torch's shape (out, in, kh, kw). A first Linear reads the flattened image.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import VaeCoreError

FORMAT = "vae-core-decoder"
ENCODER_FORMAT = "vae-core-encoder"
VERSION = 1
ALIGN = 8  # every tensor starts at a multiple of 8 bytes: typed-array views need no copy
OUTPUT_OPS = ("sigmoid", "cbernoulli_mean")  # the output ops decoder.js runs


class UnsupportedDecoderError(VaeCoreError, TypeError):
    """A decoder the browser cannot run (a layer or option it does not know); decode on the server."""


class UnsupportedEncoderError(UnsupportedDecoderError):
    """An encoder the browser cannot run: the drawing pad cannot encode for that model."""


@dataclass(frozen=True)
class DecoderExport:
    """One network (decoder or encoder) as the browser reads it: `spec` (JSON-serialisable),
    `blob` (weights), `digest`."""

    spec: dict
    blob: bytes
    digest: str

    @property
    def spec_json(self) -> bytes:
        """The spec's canonical JSON: the bytes hashed into the digest and written to `<digest>.json`."""
        return _canonical_json(self.spec)

    def save(self, folder) -> Path:
        """Write `<digest>.bin` then `<digest>.json` into `folder` (each atomically, by rename);
        files already there with the right bytes are left alone. Returns the JSON's path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _write_if_changed(folder / f"{self.digest}.bin", self.blob)
        return _write_if_changed(folder / f"{self.digest}.json", self.spec_json)  # last: marks it complete


def output_op(model: nn.Module) -> dict:
    """The op that turns the decoder's logits into the mean image the user sees: E[x | z].

    Each likelihood names its own (`Likelihood.browser_mean`: sigmoid for the Bernoulli and the
    Gaussian, `cbernoulli_mean` for the continuous Bernoulli); decoder.js's OUTPUT_OPS runs it.
    A bare decoder without a likelihood is read as a Bernoulli one. A likelihood without a
    browser op is refused, so the page decodes on the server.
    """
    likelihood = getattr(model, "likelihood", None)
    if likelihood is None:
        return {"op": "sigmoid"}
    op = getattr(likelihood, "browser_mean", None)
    if not op or op.get("op") not in OUTPUT_OPS:
        name = getattr(likelihood, "name", type(likelihood).__name__)
        raise UnsupportedDecoderError(f"no browser output op for the {name!r} likelihood")
    return dict(op)


def decoder_export(model: nn.Module) -> DecoderExport:
    """Walk `model.decoder.net` (an nn.Sequential) into a spec and a weight blob.

    Raises UnsupportedDecoderError naming the first module it cannot export, or when the
    decoder's forward is not its `net` followed by a reshape to the image.
    """
    net = getattr(getattr(model, "decoder", None), "net", None)
    if not isinstance(net, nn.Sequential):
        raise UnsupportedDecoderError(f"{type(getattr(model, 'decoder', model)).__name__} has no "
                                      "nn.Sequential `net` to export")
    latent_dim = int(getattr(model, "latent_dim", 0) or 0)
    if latent_dim < 1:
        raise UnsupportedDecoderError("the model has no latent dimension")
    blob = _Blob()
    layers, shape = [], (latent_dim,)
    for i, module in enumerate(net):
        convert = _CONVERTERS.get(type(module))
        if convert is None:
            raise UnsupportedDecoderError(f"decoder layer {i} ({type(module).__name__}) cannot run in the browser")
        layer, shape = convert(module, shape, blob, f"layer {i} ({type(module).__name__})")
        layers.append(layer)
    image_shape = _image_shape(model, latent_dim)
    if int(np.prod(shape)) != int(np.prod(image_shape)):
        raise UnsupportedDecoderError(f"the decoder's layers end in shape {list(shape)}, which is not the "
                                      f"image {list(image_shape)}")
    _check_forward_is_net(model, net, latent_dim)
    spec = {
        "format": FORMAT,
        "version": VERSION,
        "latent_dim": latent_dim,
        "image_shape": list(image_shape),
        "layers": layers,
        "output": output_op(model),
        "byte_order": "little",
        "blob_bytes": len(blob.data),
    }
    return _finish(spec, blob)


EncoderExport = DecoderExport  # the same files, read by encoder.js


def encoder_export(model: nn.Module) -> DecoderExport:
    """Walk `model.encoder.net` (an nn.Sequential) into a spec and a weight blob for encoder.js.

    The input is the image (C, H, W) as the model reads it; an MLP encoder's forward flattens it
    first, which the browser does by reading the flat image. Raises UnsupportedEncoderError naming
    the first module it cannot export, or when the encoder's forward is not its `net`.
    """
    net = getattr(getattr(model, "encoder", None), "net", None)
    if not isinstance(net, nn.Sequential):
        raise UnsupportedEncoderError(f"{type(getattr(model, 'encoder', model)).__name__} has no "
                                      "nn.Sequential `net` to export")
    latent_dim = int(getattr(model, "latent_dim", 0) or 0)
    image_shape = tuple(int(s) for s in getattr(model, "image_shape", ()) or ())
    if latent_dim < 1 or len(image_shape) != 3:
        raise UnsupportedEncoderError("the model has no latent dimension or image shape")
    blob = _Blob(UnsupportedEncoderError)
    layers = []
    first = next(iter(net), None)
    shape = (int(np.prod(image_shape)),) if isinstance(first, nn.Linear) else image_shape
    for i, module in enumerate(net):
        convert = _ENCODER_CONVERTERS.get(type(module))
        if convert is None:
            raise UnsupportedEncoderError(f"encoder layer {i} ({type(module).__name__}) cannot run in the browser")
        try:
            layer, shape = convert(module, shape, blob, f"layer {i} ({type(module).__name__})")
        except UnsupportedEncoderError:
            raise
        except UnsupportedDecoderError as exc:
            raise UnsupportedEncoderError(str(exc)) from exc
        layers.append(layer)
    stochastic = bool(getattr(getattr(model, "config", None), "stochastic_encoder", True))
    width = 2 * latent_dim if stochastic else latent_dim
    if tuple(shape) != (width,):
        raise UnsupportedEncoderError(f"the encoder's layers end in shape {list(shape)}, not {width} numbers")
    _check_encoder_forward_is_net(model, net, image_shape, isinstance(first, nn.Linear))
    posterior = {"mu": [0, latent_dim]}
    if stochastic:
        posterior["logvar"] = [latent_dim, 2 * latent_dim]
    spec = {
        "format": ENCODER_FORMAT,
        "version": VERSION,
        "latent_dim": latent_dim,
        "image_shape": list(image_shape),
        "layers": layers,
        "posterior": posterior,
        "byte_order": "little",
        "blob_bytes": len(blob.data),
    }
    return _finish(spec, blob)


def _finish(spec: dict, blob: "_Blob") -> DecoderExport:
    data = bytes(blob.data)
    return DecoderExport(spec, data, hashlib.sha256(_canonical_json(spec) + data).hexdigest())


def export_to_folder(model: nn.Module, folder) -> Path:
    """`decoder_export(model).save(folder)`: the path of `<digest>.json` (its stem is the digest)."""
    return decoder_export(model).save(folder)


def encoder_to_folder(model: nn.Module, folder) -> Path:
    """`encoder_export(model).save(folder)`: the path of `<digest>.json`."""
    return encoder_export(model).save(folder)


# ---- layers -------------------------------------------------------------------------------------

class _Blob:
    def __init__(self, error=UnsupportedDecoderError):
        self.data = bytearray()
        self.error = error

    def add(self, t: torch.Tensor | None) -> dict | None:
        if t is None:
            return None
        t = t.detach().to("cpu", torch.float32).contiguous()  # conv weights may be channels_last
        if not torch.isfinite(t).all():
            raise self.error("a weight holds NaN or infinite values")
        exact_half = torch.equal(t.half().float(), t)
        arr = t.numpy().astype("<f2" if exact_half else "<f4")
        self.data.extend(b"\0" * (-len(self.data) % ALIGN))
        entry = {"offset": len(self.data), "dtype": "float16" if exact_half else "float32", "shape": list(t.shape)}
        self.data.extend(arr.tobytes())
        return entry


def _linear(m: nn.Linear, shape, blob, where):
    if len(shape) != 1 or shape[0] != m.in_features:
        raise UnsupportedDecoderError(f"{where}: expects {m.in_features} inputs, gets shape {list(shape)}")
    return ({"op": "linear", "in_features": m.in_features, "out_features": m.out_features,
             "weight": blob.add(m.weight), "bias": blob.add(m.bias)}, (m.out_features,))


def _activation(op: str, **params):
    def convert(m, shape, blob, where):
        return {"op": op, **{k: float(getattr(m, attr)) for k, attr in params.items()}}, shape
    return convert


def _unflatten(m: nn.Unflatten, shape, blob, where):
    target = tuple(int(s) for s in m.unflattened_size)
    if len(shape) != 1 or m.dim not in (1, -1) or len(target) != 3 or int(np.prod(target)) != shape[0]:
        raise UnsupportedDecoderError(f"{where}: only unflatten of a flat vector into (C, H, W) is supported; "
                                      f"got {list(shape)} -> {list(target)}")
    return {"op": "unflatten", "shape": list(target)}, target


def _conv_transpose2d(m: nn.ConvTranspose2d, shape, blob, where):
    if m.groups != 1 or tuple(m.dilation) != (1, 1) or m.padding_mode != "zeros" or isinstance(m.padding, str):
        raise UnsupportedDecoderError(f"{where}: only groups=1, dilation=1, zero padding are supported")
    if len(shape) != 3 or shape[0] != m.in_channels:
        raise UnsupportedDecoderError(f"{where}: expects ({m.in_channels}, H, W), gets shape {list(shape)}")
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = m.kernel_size, m.stride, m.padding, m.output_padding
    h = (shape[1] - 1) * sh - 2 * ph + kh + oh  # torch's output size for dilation 1
    w = (shape[2] - 1) * sw - 2 * pw + kw + ow
    if h < 1 or w < 1:
        raise UnsupportedDecoderError(f"{where}: output size {h}x{w}")
    return ({"op": "conv_transpose2d", "in_channels": m.in_channels, "out_channels": m.out_channels,
             "kernel_size": [kh, kw], "stride": [sh, sw], "padding": [ph, pw], "output_padding": [oh, ow],
             "weight": blob.add(m.weight), "bias": blob.add(m.bias)}, (m.out_channels, h, w))


def _conv2d(m: nn.Conv2d, shape, blob, where):
    if m.groups != 1 or tuple(m.dilation) != (1, 1) or m.padding_mode != "zeros" or isinstance(m.padding, str):
        raise UnsupportedDecoderError(f"{where}: only groups=1, dilation=1, zero padding are supported")
    if len(shape) != 3 or shape[0] != m.in_channels:
        raise UnsupportedDecoderError(f"{where}: expects ({m.in_channels}, H, W), gets shape {list(shape)}")
    (kh, kw), (sh, sw), (ph, pw) = m.kernel_size, m.stride, m.padding
    h, w = (shape[1] + 2 * ph - kh) // sh + 1, (shape[2] + 2 * pw - kw) // sw + 1  # torch's, dilation 1
    if h < 1 or w < 1:
        raise UnsupportedDecoderError(f"{where}: output size {h}x{w}")
    return ({"op": "conv2d", "in_channels": m.in_channels, "out_channels": m.out_channels,
             "kernel_size": [kh, kw], "stride": [sh, sw], "padding": [ph, pw],
             "weight": blob.add(m.weight), "bias": blob.add(m.bias)}, (m.out_channels, h, w))


def _flatten(m: nn.Flatten, shape, blob, where):
    if m.start_dim != 1 or m.end_dim != -1:
        raise UnsupportedDecoderError(f"{where}: only Flatten(1, -1) is supported")
    return {"op": "flatten"}, (int(np.prod(shape)),)


_CONVERTERS = {
    nn.Linear: _linear,
    nn.ReLU: _activation("relu"),
    nn.Tanh: _activation("tanh"),
    nn.ELU: _activation("elu", alpha="alpha"),
    nn.LeakyReLU: _activation("leaky_relu", negative_slope="negative_slope"),
    nn.Unflatten: _unflatten,
    nn.ConvTranspose2d: _conv_transpose2d,
}
# An encoder may also convolve and flatten (decoder.js could too, but no decoder here does: refused).
_ENCODER_CONVERTERS = {**_CONVERTERS, nn.Conv2d: _conv2d, nn.Flatten: _flatten}


# ---- checks and files ---------------------------------------------------------------------------

@contextmanager
def _eval_mode(model: nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@torch.inference_mode()
def _image_shape(model: nn.Module, latent_dim: int) -> tuple[int, ...]:
    device = next(model.parameters()).device
    with _eval_mode(model):
        out = model.decoder(torch.zeros(1, latent_dim, device=device))
    if out.dim() != 4:
        raise UnsupportedDecoderError(f"the decoder returns shape {list(out.shape)}, not (B, C, H, W)")
    return tuple(int(s) for s in out.shape[1:])


@torch.inference_mode()
def _check_forward_is_net(model: nn.Module, net: nn.Sequential, latent_dim: int) -> None:
    """The browser runs `net` and reshapes; refuse a forward that does anything more."""
    device = next(model.parameters()).device
    z = torch.randn(3, latent_dim, generator=torch.Generator().manual_seed(0)).to(device)
    with _eval_mode(model):
        full, bare = model.decoder(z), net(z)
    if full.numel() != bare.numel() or not torch.allclose(full.reshape(-1), bare.reshape(-1), rtol=0, atol=1e-6):
        raise UnsupportedDecoderError(f"{type(model.decoder).__name__}.forward does more than run its `net`")


@torch.inference_mode()
def _check_encoder_forward_is_net(model: nn.Module, net: nn.Sequential, image_shape, flat: bool) -> None:
    """The browser runs `net` on the image (flattened for an MLP); refuse a forward that does more."""
    device = next(model.parameters()).device
    x = torch.rand(3, *image_shape, generator=torch.Generator().manual_seed(0)).to(device)
    with _eval_mode(model):
        full, bare = model.encoder(x), net(x.flatten(1) if flat else x)
    if full.shape != bare.shape or not torch.allclose(full, bare, rtol=0, atol=1e-6):
        raise UnsupportedEncoderError(f"{type(model.encoder).__name__}.forward does more than run its `net`")


def _canonical_json(spec: dict) -> bytes:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _write_if_changed(path: Path, data: bytes) -> Path:
    try:
        if path.read_bytes() == data:
            return path
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a static file server may run as another user
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path

"""Latent geometry: where the latent space is empty, where it is stretched, and what the KL term buys.

numpy in, numpy out; the page caches the arrays. The quantities and where they come from:

- magnification factor √det(JᵀJ) of the decoded mean, J = ∂E[x|z]/∂z: the decoder's local change of
  volume; where it is large a small step in z is a large change in the image (Arvanitidis, Hansen &
  Hauberg 2018, "Latent Space Oddity");
- geodesics: paths whose decoded images change as evenly and as little as possible (the same paper);
- the aggregate posterior q(z) = (1/N) Σ q(z|xᵢ) against the prior p(z): where p puts mass that q
  leaves empty are the holes that prior samples fall into (Rosca, Lakshminarayanan & Mohamed 2018);
- ELBO surgery: E_x KL(q(z|x) ‖ p(z)) = I_q(x; z) + KL(q(z) ‖ p(z)) (Hoffman & Johnson 2016);
- active units: latent dimensions whose posterior mean varies with x (Burda, Grosse & Salakhutdinov 2016);
- the MMD² of the codes to the N(0, I) prior with the InfoVAE kernel, in closed form where it can be.

The decoded mean and log p(z) are each computed in exactly one function (`_mean_image`, `_log_prior`),
so a model that brings its own likelihood or prior changes one line here.
"""
from __future__ import annotations

import math
import threading

import numpy as np
import torch
from torch.func import jvp, vmap

from ..errors import VaeCoreError
from .explore import _as_model_input, to_display
from ..model.networks import VAE
from ..model.densities import LOG_2PI, gaussian_kl, log_normal

# Floats one vmapped Jacobian pass may hold (256 MB): ~5,500 points of the MLP decoder, ~260 of the conv one.
# Larger passes run faster: 10,000 MLP Jacobians took 1.3 s in passes of 4,096 vs 2.3 s in passes of 1,024.
JACOBIAN_ELEMENTS = 64_000_000
DECODE_BATCH = 2048
ENCODE_BATCH = 5000
DENSITY_PAIRS = 4_000_000  # (query point × posterior) pairs per pass of the log-mean-exp: 32 MB in float64
QUADRATURE_MAX_GRID = 400  # points per axis of the d = 2 ELBO-surgery grid; finer posteriors go to Monte Carlo
QUADRATURE_SIGMA_STEPS = 4  # grid points per standard deviation of the narrowest posterior
QUADRATURE_REACH = 6.0  # the grid reaches this many standard deviations past the outermost posterior means


class GeometryError(VaeCoreError, ValueError):
    """A geometry quantity asked of a model or input it does not apply to; the message says what to do."""


# ---- the two model-specific places: the decoded mean and the prior ---------------------------------------

def _mean_image(model: VAE, z: torch.Tensor) -> torch.Tensor:
    """E[x|z]: the mean image of the model's likelihood (the Bernoulli means for binarised data). (B, D) -> (B, C, H, W)."""
    return model.mean_image(model.decode(z))


def _log_prior(model: VAE, z: torch.Tensor) -> torch.Tensor:
    """log p(z) under the model's prior. (B, D) -> (B,)."""
    return model.prior.log_prob(z)


def _sample_prior(model: VAE, n: int, generator: torch.Generator) -> torch.Tensor:
    """n seeded draws from the model's prior: (n, D) on the CPU."""
    return model.prior.sample(n, generator=generator, device=torch.device("cpu")).cpu()


def _has_standard_normal_prior(model: VAE) -> bool:
    return model.prior.name == "standard"


@torch.no_grad()
def _log_prior_cpu(model: VAE, z: torch.Tensor) -> torch.Tensor:
    """`_log_prior` for points held anywhere, evaluated on the model's device: (B,) float64 on the CPU."""
    return _log_prior(model, z.to(model.device, torch.float64)).double().cpu()


# ---- small helpers ---------------------------------------------------------------------------------------

def _latent_points(model: VAE, z, *, dtype=torch.float32) -> torch.Tensor:
    """(N, D) or (D,) array -> (N, D) tensor on the model's device, with the dimension checked."""
    t = torch.as_tensor(np.asarray(z), dtype=dtype, device=model.device)
    if t.dim() == 1:
        t = t.unsqueeze(0)
    if t.dim() != 2 or t.shape[1] != model.latent_dim:
        raise GeometryError(f"latent points must have shape (N, {model.latent_dim}); got {tuple(t.shape)}")
    return t


def _posteriors(mu, logvar) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(N, D) means and log-variances as float64 tensors, shapes checked."""
    mu_t = torch.as_tensor(np.asarray(mu), dtype=torch.float64)
    if mu_t.dim() != 2 or len(mu_t) == 0:
        raise GeometryError(f"posterior means must have shape (N, D) with N ≥ 1; got {tuple(mu_t.shape)}")
    if logvar is None:
        return mu_t, None
    lv_t = torch.as_tensor(np.asarray(logvar), dtype=torch.float64)
    if lv_t.shape != mu_t.shape:
        raise GeometryError(f"logvar has shape {tuple(lv_t.shape)}; it must match mu's {tuple(mu_t.shape)}")
    return mu_t, lv_t


# ---- magnification factor --------------------------------------------------------------------------------

# torch's forward-mode AD numbers its dual levels process-wide, not per thread: two threads in jvp at
# once (two page sessions, or a rerun started while the last one still computes a layer) free each
# other's level ("a forward AD level with an invalid index"). One jvp at a time, whoever calls.
_FORWARD_AD = threading.Lock()


def _tangent_jacobian(model: VAE, z: torch.Tensor, tangents: torch.Tensor) -> torch.Tensor:
    """J·t for every point and tangent by forward mode: z (B, D), tangents (K, D) -> (B, K, P)."""
    def mean_image(zi):  # (D,) -> (P,)
        return _mean_image(model, zi.unsqueeze(0)).flatten()

    def along(zi):  # (D,) -> (K, P): one primal pass, K tangent passes, batched by vmap
        return vmap(lambda t: jvp(mean_image, (zi,), (t,))[1])(tangents)

    with _FORWARD_AD:
        return vmap(along)(z)


@torch.no_grad()
def _jacobian_batch(model: VAE, tangents: int) -> int:
    """Points per Jacobian pass: JACOBIAN_ELEMENTS over what one point holds in the decoder (every layer's
    output, for the primal and each tangent), counted on one probe point."""
    counts = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: counts.append(out.numel()))
             for m in model.modules() if not list(m.children())]
    try:
        _mean_image(model, torch.zeros(1, model.latent_dim, device=model.device))
    finally:
        for h in hooks:
            h.remove()
    per_point = (sum(counts) + 1) * (tangents + 1)
    return int(min(8192, max(16, JACOBIAN_ELEMENTS // per_point)))


@torch.no_grad()
def log_magnification(model: VAE, z, *, axes=None, batch_size: int | None = None) -> np.ndarray:
    """log √det(JᵀJ) of the decoded mean at each point: (N,) float64.

    With `axes` (2, D) the Jacobian is taken along those two directions only: the stretch of the plane
    the latent map draws (for D > 2). Computed in logs because far from the data the sigmoid saturates
    and the factor underflows; −inf where the decoder is locally flat to float precision.
    """
    model.eval()
    points = _latent_points(model, z)
    tangents = torch.eye(model.latent_dim, device=model.device) if axes is None else \
        torch.as_tensor(np.asarray(axes), dtype=torch.float32, device=model.device).reshape(-1, model.latent_dim)
    batch_size = batch_size or _jacobian_batch(model, len(tangents))
    out = []
    for i in range(0, len(points), batch_size):
        jac = _tangent_jacobian(model, points[i:i + batch_size], tangents).double()  # (B, K, P)
        gram = jac @ jac.transpose(1, 2)  # (B, K, K): JᵀJ in the chosen directions
        out.append(0.5 * torch.linalg.slogdet(gram).logabsdet)
    return torch.cat(out).cpu().numpy() if out else np.zeros(0)


def magnification(model: VAE, z, *, axes=None) -> np.ndarray:
    """The decoder's magnification factor √det(JᵀJ), J = ∂E[x|z]/∂z (Arvanitidis et al. 2018): (N,).

    How much the decoder stretches a small patch of latent space around each z: large values are where
    a small latent step changes the image a lot (class boundaries), small ones where images barely change.
    Batched forward-mode Jacobians (torch.func.jvp under vmap): D tangent passes per batch of points.
    """
    return np.exp(log_magnification(model, z, axes=axes))


# ---- aggregate posterior density -------------------------------------------------------------------------

def scott_bandwidth(codes) -> np.ndarray:
    """Scott's rule per dimension, h_k = std_k · N^(−1/(D+4)): the kernel width used for deterministic codes."""
    codes = np.asarray(codes, np.float64)
    n, d = codes.shape
    std = codes.std(0, ddof=1) if n > 1 else np.ones(d)
    return np.where(std > 0, std, 1.0) * n ** (-1.0 / (d + 4))


def _log_mixture(z: torch.Tensor, mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """log (1/N) Σᵢ N(z; muᵢ, diag varᵢ) for every query point, float64: z (M, D), mu/var (N, D) -> (M,).

    Query points that form a full axis-aligned grid in D = 2 (what `lattice` makes for a 2-D model, and
    the quadrature grid) take the separable path, `_log_mixture_grid`; any other set the direct one.
    """
    grid = _as_grid(z) if z.shape[1] == 2 else None
    if grid is None:
        return _log_mixture_direct(z, mu, var)
    xs, ys, ix, iy = grid
    return _log_mixture_grid(xs, ys, mu, var)[ix, iy]


def _log_mixture_direct(z: torch.Tensor, mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """The (query, posterior) log-densities built one latent dimension at a time from the differences
    z − muᵢ (no expanded square, so no cancellation for narrow posteriors), then a log-sum-exp over the
    posteriors; queries go in chunks of DENSITY_PAIRS / N. z (M, D) -> (M,)."""
    n, d = mu.shape
    inv = 1.0 / var  # (N, D)
    const = -0.5 * (var.log().sum(1) + d * LOG_2PI) - math.log(n)  # (N,)
    chunk = max(1, DENSITY_PAIRS // n)
    out = []
    for i in range(0, len(z), chunk):
        zc = z[i:i + chunk]  # (C, D)
        log_terms = const.expand(len(zc), n).clone()  # (C, N)
        for k in range(d):
            diff = zc[:, k:k + 1] - mu[:, k]  # (C, N)
            log_terms.addcmul_(diff * diff, inv[:, k].expand_as(diff), value=-0.5)
        out.append(torch.logsumexp(log_terms, dim=1))
    return torch.cat(out) if out else torch.zeros(0, dtype=z.dtype)


def _as_grid(z: torch.Tensor):
    """(xs, ys, ix, iy) when the 2-D points are exactly all of xs × ys (in any order, z = (xs[ix], ys[iy])),
    else None."""
    xs, ix = torch.unique(z[:, 0], return_inverse=True)
    ys, iy = torch.unique(z[:, 1], return_inverse=True)
    if len(xs) * len(ys) != len(z) or len(torch.unique(ix * len(ys) + iy)) != len(z):
        return None
    return xs, ys, ix, iy


def _log_mixture_grid(xs: torch.Tensor, ys: torch.Tensor, mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """log q on the grid xs × ys for D = 2: (A, B), exact to float64 rounding.

    A diagonal Gaussian factorises over the two axes, so Σᵢ N(x; muᵢ₀, varᵢ₀) N(y; muᵢ₁, varᵢ₁) is
    one matrix product of the per-axis factors (N·(A + B) exponentials instead of N·A·B). Each factor is
    scaled by its column's largest value first; grid points where the scaled sum still underflows (deep
    holes between narrow posteriors) are recomputed directly.
    """
    n = len(mu)
    const = -0.5 * (var.log().sum(1) + 2 * LOG_2PI) - math.log(n)  # (N,)
    log_a = const[:, None] - 0.5 * (xs[None, :] - mu[:, :1]).pow(2) / var[:, :1]  # (N, A)
    log_b = -0.5 * (ys[None, :] - mu[:, 1:]).pow(2) / var[:, 1:]  # (N, B)
    top_a, top_b = log_a.max(0).values, log_b.max(0).values  # (A,), (B,)
    total = (log_a - top_a).exp().T @ (log_b - top_b).exp()  # (A, B)
    out = top_a[:, None] + top_b[None, :] + total.log()
    lost = total < 1e-200  # products this small may have lost terms to underflow
    if lost.any():
        ia, ib = lost.nonzero(as_tuple=True)
        out[ia, ib] = _log_mixture_direct(torch.stack([xs[ia], ys[ib]], 1), mu, var)
    return out


def _component_variances(mu: torch.Tensor, logvar: torch.Tensor | None, bandwidth) -> torch.Tensor:
    """Per-component variances (N, D): the posteriors' own, or the kernel's for deterministic codes."""
    if logvar is not None:
        if bandwidth is not None:
            raise GeometryError("a bandwidth only applies to deterministic codes (logvar=None); "
                                "the posteriors' own variances are used otherwise")
        return logvar.exp()
    h = scott_bandwidth(mu.numpy()) if bandwidth is None else np.broadcast_to(
        np.asarray(bandwidth, np.float64), (mu.shape[1],))
    if not np.all(np.asarray(h) > 0):
        raise GeometryError(f"the kernel bandwidth must be positive; got {h}")
    return torch.as_tensor(np.asarray(h) ** 2, dtype=torch.float64).expand_as(mu)


def aggregate_log_density(mu, logvar, z, *, bandwidth=None) -> np.ndarray:
    """log q(z) of the aggregate posterior q(z) = (1/N) Σᵢ q(z|xᵢ) at each z: (M,) float64.

    How densely the encoded data covers each point of latent space. A log-mean-exp over the N Gaussian
    posteriors N(muᵢ, diag exp(logvarᵢ)). For a deterministic encoder (MMD-VAE, `logvar=None`) q(z|x)
    is a point mass, so q(z) is estimated by a Gaussian kernel density: the same mixture with every
    component's standard deviation `bandwidth` (a scalar or one per dimension; default Scott's rule,
    `scott_bandwidth(mu)`).
    """
    mu_t, lv_t = _posteriors(mu, logvar)
    z_t = torch.as_tensor(np.asarray(z), dtype=torch.float64).reshape(-1, mu_t.shape[1])
    return _log_mixture(z_t, mu_t, _component_variances(mu_t, lv_t, bandwidth)).numpy()


# ---- geodesics -------------------------------------------------------------------------------------------

def _decoded_steps(model: VAE, path: torch.Tensor) -> torch.Tensor:
    """f(zᵢ₊₁) − f(zᵢ) of the decoded means along a path (S, D): (S − 1, P)."""
    images = _mean_image(model, path).flatten(1)  # (S, P)
    return images[1:] - images[:-1]


def _straight_line(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device)[:, None]
    return (1 - t) * z0 + t * z1  # (steps, D)


def _refined(path: torch.Tensor, refine: int) -> torch.Tensor:
    """Each segment of a path (S, D) split into `refine` equal pieces: ((S − 1)·refine + 1, D)."""
    if refine == 1:
        return path
    t = torch.arange(refine, dtype=path.dtype, device=path.device)[None, :, None] / refine  # (1, R, 1)
    inner = path[:-1, None, :] + t * (path[1:] - path[:-1])[:, None, :]  # (S − 1, R, D)
    return torch.cat([inner.reshape(-1, path.shape[1]), path[-1:]])


BEND_OFFSETS = (0.25, -0.25, 0.5, -0.5)  # the bent starts' bulge, in units of the chord's length


def geodesic_starts(z0: torch.Tensor, z1: torch.Tensor, steps: int, *, through=None,
                    offsets=BEND_OFFSETS) -> torch.Tensor:
    """Paths to start the geodesic search from: (K, steps, D). The straight line; paths bowed away
    from it by each of `offsets` × the chord's length (a half sine, ends fixed) along a direction
    perpendicular to the chord (towards `through` when given, else the first axis not parallel to
    the chord); and, with `through` (the codes' mean, say), the path bowed through that point."""
    line = _straight_line(z0, z1, steps)
    chord = z1 - z0
    length = chord.norm()
    if length == 0:
        return line[None]
    unit = chord / length
    bow = torch.sin(math.pi * torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device))[:, None]
    middle = 0.5 * (z0 + z1)
    candidates = [] if through is None else [torch.as_tensor(np.asarray(through), dtype=z0.dtype,
                                                             device=z0.device) - middle]
    candidates += list(torch.eye(len(z0), dtype=z0.dtype, device=z0.device))
    normal = None
    for c in candidates:  # the first direction with a clear part perpendicular to the chord
        c = c - (c @ unit) * unit
        if c.norm() > 1e-3 * max(float(length), 1.0):
            normal = c / c.norm()
            break
    paths = [line]
    if normal is not None:
        paths += [line + (o * length) * bow * normal for o in offsets]
    if through is not None:
        paths.append(line + bow * (torch.as_tensor(np.asarray(through), dtype=z0.dtype, device=z0.device) - middle))
    paths = torch.stack(paths)
    paths[:, 0], paths[:, -1] = z0, z1  # exactly the ends (sin π is not exactly 0 in floats)
    return paths


def _path_energy(model: VAE, path: torch.Tensor, refine: int) -> torch.Tensor:
    """Σ‖f(zᵢ₊₁) − f(zᵢ)‖² of a path (S, D), each segment split into `refine` pieces, times `refine`."""
    return refine * _decoded_steps(model, _refined(path, refine)).pow(2).sum()


def _descend(model: VAE, path: torch.Tensor, refine: int, max_iter: int) -> torch.Tensor:
    """The path (S, D) after L-BFGS on its interior points (the ends fixed); the start itself when
    no step lowered its energy or the energy stopped being finite."""
    ends = path[[0, -1]]
    interior = path[1:-1].clone().requires_grad_(True)

    def energy() -> torch.Tensor:
        return _path_energy(model, torch.cat([ends[:1], interior, ends[1:]]), refine)

    def closure():
        value = energy()
        interior.grad, = torch.autograd.grad(value, [interior])  # the model's own .grad stays untouched
        return value

    opt = torch.optim.LBFGS([interior], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-6, tolerance_change=1e-9)
    with torch.enable_grad():
        start = energy().item()
        opt.step(closure)
        final = energy().item()
    if not math.isfinite(final) or final > start:
        return path
    return torch.cat([ends[:1], interior.detach(), ends[1:]])


def geodesic(model: VAE, z0, z1, *, steps: int = 16, refine: int = 4, max_iter: int = 100,
             through=None, offsets=BEND_OFFSETS, probe_iter: int = 25) -> np.ndarray:
    """Geodesic: the path between two codes along which the decoded image changes least and most evenly.

    A shortest path in the decoder's metric from z0 to z1: (steps, D), the ends fixed. It minimises
    the discrete curve energy Σ‖f(zᵢ₊₁) − f(zᵢ)‖² of the decoded means over the interior points (L-BFGS
    with a strong-Wolfe line search, so the energy never rises): for a fixed number of points the
    energy's minimiser is the evenly paced shortest path (Arvanitidis et al. 2018, section 3). The
    energy is taken with every segment split into `refine` pieces (times `refine`, so it equals the
    plain energy where the decoder is linear along a segment): with 16 bare points the optimiser would
    otherwise hop across a class boundary between two points, whose images are then close while the
    segment between them is not.

    The energy has local minima (a path that bends round a class region one way or the other), so the
    search runs from several starts (`geodesic_starts`: the straight line for `max_iter` iterations;
    paths bowed by `offsets` × the chord, and through `through` when given, for `probe_iter` each),
    continues the shortest bent one to `max_iter`, and keeps the shortest path found (lengths measured
    with the same refinement). The result is the best found: its length is an upper bound on the true
    geodesic's, and never above the straight line's.
    """
    if steps < 3:
        raise GeometryError(f"a geodesic needs at least 3 points (one free); got steps={steps}")
    if refine < 1:
        raise GeometryError(f"refine must be ≥ 1; got {refine}")
    model.eval()
    ends = _latent_points(model, np.stack([np.asarray(z0), np.asarray(z1)]))  # (2, D)
    starts = geodesic_starts(ends[0], ends[1], steps, through=through, offsets=offsets)  # (K, steps, D)
    line = starts[0]
    found = [line, _descend(model, line, refine, max_iter)]
    bent = [_descend(model, start, refine, probe_iter) for start in starts[1:]]
    with torch.no_grad():
        if bent:
            best = min(bent, key=lambda p: _length(model, p, refine).item())
            found.append(_descend(model, best, refine, max_iter - probe_iter))
        lengths = [_length(model, p, refine).item() for p in found]
    lengths = [x if math.isfinite(x) else math.inf for x in lengths]
    return found[int(np.argmin(lengths))].cpu().numpy()


def _length(model: VAE, path: torch.Tensor, refine: int) -> torch.Tensor:
    """The chord length Σ‖f(zᵢ₊₁) − f(zᵢ)‖ of a path (S, D) with each segment split `refine` times."""
    images = _mean_image(model, _refined(path, refine)).flatten(1).double()
    return (images[1:] - images[:-1]).norm(dim=1).sum()


@torch.no_grad()
def curve_length(model: VAE, path, *, refine: int = 1) -> float:
    """Σ‖f(zᵢ₊₁) − f(zᵢ)‖ of the decoded means along a latent path (S, D): how far the images travel.

    A sum of chords underestimates a curve's length where one step jumps across a class boundary:
    `refine` > 1 first splits every latent segment into that many equal pieces, so two paths with
    different numbers of points can be compared on the same footing.
    """
    if refine < 1:
        raise GeometryError(f"refine must be ≥ 1; got {refine}")
    model.eval()
    points = _refined(_latent_points(model, path), refine)
    total = 0.0
    for i in range(0, len(points) - 1, DECODE_BATCH):  # chunks overlap by one point so no step is lost
        total += _decoded_steps(model, points[i:i + DECODE_BATCH + 1]).double().norm(dim=1).sum().item()
    return total


# ---- the encoder: posteriors, active units, ELBO surgery --------------------------------------------------

@torch.inference_mode()
def encode_posteriors(model: VAE, images, *, batch_size: int = ENCODE_BATCH
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """(mu (N, D), logvar (N, D)) of q(z|x) for uint8 images (N, H, W) or (N, C, H, W), float32;
    logvar is None for a deterministic encoder."""
    model.eval()
    mus, logvars = [], []
    for i in range(0, len(images), batch_size):
        mu, logvar = model.encode(_as_model_input(images[i:i + batch_size], model))
        mus.append(mu.float().cpu())
        if logvar is not None:
            logvars.append(logvar.float().cpu())
    if not mus:
        raise GeometryError("no images given")
    return torch.cat(mus).numpy(), (torch.cat(logvars).numpy() if logvars else None)


def unit_activity(mu) -> np.ndarray:
    """Cov_x(E_q[z_u]) for each latent dimension u: the variance over the data of the posterior means, (D,)."""
    mu = np.asarray(mu, np.float64)
    return mu.var(0, ddof=1) if len(mu) > 1 else np.zeros(mu.shape[1])


def active_units(model: VAE, images, *, threshold: float = 0.01) -> np.ndarray:
    """Which latent dimensions the model uses: Cov_x(E_q[z_u]) > threshold, (D,) bool (Burda et al. 2016).

    A unit whose posterior mean barely moves with the input carries no information about it: the KL
    term has collapsed it onto the prior. For a deterministic encoder E_q[z] is the code itself.
    """
    return unit_activity(encode_posteriors(model, images)[0]) > threshold


def _point_mass_ledger(n: int) -> dict:
    return {"defined": False, "estimator": None, "n": n, "log_n": math.log(n),
            "expected_kl": None, "mutual_information": None, "marginal_kl": None,
            "note": "the encoder is deterministic: q(z|x) is a point mass, so KL(q(z|x) ‖ p(z)) is infinite "
                    "and the ledger's terms are not defined (I_q(x; z) is trivially log N for distinct codes). "
                    "The aggregate posterior is compared with the prior by the MMD² instead."}


def _expected_kl(model: VAE, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, log_q_zx: torch.Tensor
                 ) -> tuple[float, float]:
    """E_x KL(q(z|x) ‖ p(z)) and its error: analytic for N(0, I) (Kingma & Welling, Appendix B), else
    Monte Carlo over the draws z (S, N, D) with their log q(z|x) (S, N)."""
    if _has_standard_normal_prior(model):
        return gaussian_kl(mu, logvar).mean().item(), 0.0
    terms = (log_q_zx - _log_prior_cpu(model, z.flatten(0, 1)).view_as(log_q_zx)).flatten()
    return terms.mean().item(), (terms.std() / math.sqrt(len(terms))).item()


def _ledger_monte_carlo(model: VAE, mu: torch.Tensor, logvar: torch.Tensor, samples: int, seed: int) -> dict:
    """I and KL(q(z) ‖ p(z)) from S draws z ~ q(z|xₙ) per image.

    Each term of Î is log q(z|xₙ) − log q(z) ≤ log N (xₙ's own posterior is one of the N in q(z)), so
    Î ≤ log N holds exactly. Errors are standard errors over the N·S terms (treated as independent;
    they share q(z), which this ignores).
    """
    g = torch.Generator().manual_seed(seed)
    std = (0.5 * logvar).exp()
    z = mu + std * torch.randn((samples, *mu.shape), generator=g, dtype=torch.float64)  # (S, N, D)
    log_q_zx = log_normal(z, mu, logvar)  # (S, N)
    flat = z.flatten(0, 1)  # (S·N, D)
    log_q_z = _log_mixture(flat, mu, logvar.exp()).view_as(log_q_zx)
    log_p_z = _log_prior_cpu(model, flat).view_as(log_q_zx)
    info, marginal = (log_q_zx - log_q_z).flatten(), (log_q_z - log_p_z).flatten()
    expected, expected_err = _expected_kl(model, mu, logvar, z, log_q_zx)
    root = math.sqrt(len(info))
    return {"estimator": f"Monte Carlo, {samples} draw(s) per image, standard errors", "method": "mc",
            "samples": samples, "expected_kl": expected, "expected_kl_error": expected_err,
            "mutual_information": info.mean().item(), "mutual_information_error": (info.std() / root).item(),
            "marginal_kl": marginal.mean().item(), "marginal_kl_error": (marginal.std() / root).item()}


def _quadrature_grid(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-axis grid nodes covering every posterior to QUADRATURE_REACH σ with QUADRATURE_SIGMA_STEPS
    nodes per σ of the narrowest one; None when that needs more than QUADRATURE_MAX_GRID per axis."""
    std = (0.5 * logvar).exp()
    lo = (mu - QUADRATURE_REACH * std).min(0).values
    hi = (mu + QUADRATURE_REACH * std).max(0).values
    spacing = std.min().item() / QUADRATURE_SIGMA_STEPS
    counts = ((hi - lo) / spacing).ceil().long() + 1
    if counts.max().item() > QUADRATURE_MAX_GRID:
        return None
    return tuple(torch.linspace(lo[k].item(), hi[k].item(), int(counts[k]), dtype=torch.float64)
                 for k in range(2))


def _grid_entropy_terms(model: VAE, mu: torch.Tensor, var: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor
                        ) -> tuple[float, float, float]:
    """Riemann sums on the grid: (H[q(z)], ∫ q log p, ∫ q) with q the aggregate posterior."""
    zz = torch.cartesian_prod(xs, ys)  # (Gx·Gy, 2)
    area = (xs[1] - xs[0]).item() * (ys[1] - ys[0]).item()
    log_q = _log_mixture(zz, mu, var)
    q = log_q.exp()
    log_p = _log_prior_cpu(model, zz)
    return (-(q * log_q).sum() * area).item(), ((q * log_p).sum() * area).item(), (q.sum() * area).item()


def _ledger_quadrature(model: VAE, mu: torch.Tensor, logvar: torch.Tensor, grid) -> dict:
    """d = 2: H[q(z)] and ∫ q(z) log p(z) by a Riemann sum; the posteriors' entropies in closed form.

    I = H[q(z)] − E_x H[q(z|x)], KL(q(z) ‖ p(z)) = −H[q(z)] − ∫ q log p. The error is the change
    from a grid with every other node (a half-resolution estimate).
    """
    var = logvar.exp()
    posterior_entropy = (0.5 * (logvar + 1.0 + LOG_2PI)).sum(1).mean().item()  # E_x H[N(mu, diag var)]
    xs, ys = grid
    fine = _grid_entropy_terms(model, mu, var, xs, ys)
    coarse = _grid_entropy_terms(model, mu, var, xs[::2], ys[::2])
    info = [h - posterior_entropy for h, _, _ in (fine, coarse)]
    marginal = [-h - cross for h, cross, _ in (fine, coarse)]
    expected = gaussian_kl(mu, logvar).mean().item() if _has_standard_normal_prior(model) else \
        -posterior_entropy - fine[1]
    return {"estimator": f"quadrature on a {len(xs)}×{len(ys)} grid; error = change from the half-resolution grid",
            "method": "quadrature", "grid": [len(xs), len(ys)], "grid_mass": fine[2],
            "expected_kl": expected, "expected_kl_error": 0.0 if _has_standard_normal_prior(model) else
            abs(fine[1] - coarse[1]),
            "mutual_information": info[0], "mutual_information_error": abs(info[0] - info[1]),
            "marginal_kl": marginal[0], "marginal_kl_error": abs(marginal[0] - marginal[1])}


def elbo_surgery_from_posteriors(model: VAE, mu, logvar, *, estimator: str = "auto", samples: int = 1,
                                 seed: int = 0) -> dict:
    """The ELBO's KL ledger from posteriors already computed (e.g. the test set's in latents.npz).

    See `elbo_surgery`; `mu`, `logvar` are (N, D) and `model` supplies the prior.
    """
    if estimator not in ("auto", "mc", "quadrature"):
        raise GeometryError(f"estimator must be 'auto', 'mc' or 'quadrature'; got {estimator!r}")
    if samples < 1:
        raise GeometryError(f"samples must be ≥ 1; got {samples}")
    mu_t, lv_t = _posteriors(mu, logvar)
    n = len(mu_t)
    if lv_t is None:
        return _point_mass_ledger(n)
    grid = _quadrature_grid(mu_t, lv_t) if mu_t.shape[1] == 2 and estimator != "mc" else None
    if estimator == "quadrature" and grid is None:
        raise GeometryError("quadrature needs d = 2 and posteriors no narrower than the grid allows "
                            f"({QUADRATURE_MAX_GRID} nodes per axis); use estimator='mc'")
    with torch.no_grad():
        result = _ledger_quadrature(model, mu_t, lv_t, grid) if grid is not None else \
            _ledger_monte_carlo(model, mu_t, lv_t, samples, seed)
    return {"defined": True, "n": n, "log_n": math.log(n), **result,
            "identity_gap": result["expected_kl"] - result["mutual_information"] - result["marginal_kl"]}


def elbo_surgery(model: VAE, images, *, estimator: str = "auto", samples: int = 1, seed: int = 0) -> dict:
    """What the KL term pays for: E_x KL(q(z|x) ‖ p(z)) = I_q(x; z) + KL(q(z) ‖ p(z)), in nats.

    Hoffman & Johnson (2016), "ELBO surgery": the average KL splits into the mutual information between
    an image and its code under q (information the code carries, at most log N for N images) and the
    marginal KL of the aggregate posterior to the prior (the price of codes not filling the prior).

    Returns `expected_kl` (closed form for the N(0, I) prior), `mutual_information`, `marginal_kl`, each
    with `*_error`, and `estimator` saying how they were computed:
    - 'quadrature' (d = 2 when the grid can resolve the narrowest posterior): H[q(z)] by a Riemann sum,
      error = the change from the half-resolution grid;
    - 'mc': `samples` draws per image, standard errors; Î ≤ log N holds exactly.
    'auto' takes quadrature when it applies. For a deterministic encoder (MMD-VAE) q(z|x) is a point
    mass: the KL terms are not defined and the result says so (`defined` False, values None).
    """
    mu, logvar = encode_posteriors(model, images)
    return elbo_surgery_from_posteriors(model, mu, logvar, estimator=estimator, samples=samples, seed=seed)


# ---- MMD² to the prior -----------------------------------------------------------------------------------

def _row_kernel_sums(codes: torch.Tensor, scale: float) -> torch.Tensor:
    """Σ_{j≠i} k(cᵢ, cⱼ) for every code, k = exp(−‖x − y‖²·scale), in chunks of rows: (N,)."""
    n = len(codes)
    chunk = max(1, DENSITY_PAIRS // n)
    sums = [torch.exp(-torch.cdist(codes[i:i + chunk], codes).pow(2) * scale).sum(1) - 1.0
            for i in range(0, n, chunk)]
    return torch.cat(sums)


def mmd_to_prior(codes) -> dict:
    """MMD² between the distribution of the codes and N(0, I) with the InfoVAE kernel k = exp(−‖x − y‖²/d²).

    How far the aggregate posterior is from the prior, in the divergence the MMD-VAE trains on. The
    prior–prior and prior–code terms are Gaussian integrals, E k(p, p') = (1 + 4/d²)^(−d/2) and
    E_p k(c, p) = (1 + 2/d²)^(−d/2) exp(−‖c‖²/(d² + 2)); only the code–code term is estimated from the
    codes, by the U-statistic (unbiased: near 0, possibly slightly negative, when codes follow the prior).
    `se` is its jackknife standard error. `empirical` is the exact MMD² of the codes' empirical
    distribution (keeps the diagonal: ≥ 0, biased up by about (1 − mean k)/N).
    """
    c = torch.as_tensor(np.asarray(codes), dtype=torch.float64)
    if c.dim() != 2 or len(c) < 3:
        raise GeometryError(f"codes must have shape (N, D) with N ≥ 3; got {tuple(c.shape)}")
    n, d = c.shape
    scale = 1.0 / d ** 2
    prior_prior = (1.0 + 4.0 * scale) ** (-d / 2)
    code_prior = (1.0 + 2.0 * scale) ** (-d / 2) * torch.exp(-c.pow(2).sum(1) * scale / (1.0 + 2.0 * scale))  # (N,)
    rows = _row_kernel_sums(c, scale)  # (N,)
    total, cp_total = rows.sum(), code_prior.sum()
    unbiased = (total / (n * (n - 1)) - 2.0 * cp_total / n + prior_prior).item()
    leave_out = (total - 2.0 * rows) / ((n - 1) * (n - 2)) - 2.0 * (cp_total - code_prior) / (n - 1) + prior_prior
    se = math.sqrt((n - 1) / n * (leave_out - leave_out.mean()).pow(2).sum().item())
    empirical = ((total + n) / n ** 2 - 2.0 * cp_total / n + prior_prior).item()
    return {"mmd2": unbiased, "se": se, "empirical": empirical, "n": n,
            "kernel": "exp(-|x-y|^2/d^2)", "estimator": "closed-form prior terms, U-statistic code term, "
                                                       "jackknife standard error"}


# ---- layers of the latent map ----------------------------------------------------------------------------

def lattice(x_range, y_range, n: int, *, mean=None, axes=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An n×n lattice on the map's plane: (xs (n,), ys (n,), z (n·n, D)), xs and ys increasing.

    Row-major with y as the row: `values.reshape(n, n)[i, j]` belongs to (xs[j], ys[i]), ready for a
    heat map with y pointing up. For D = 2 the plane is the latent plane (mean, axes omitted); for D > 2
    pass the codes' PCA plane from `explore.latent_plane`: z = mean + x·axes[0] + y·axes[1].
    """
    if n < 2:
        raise GeometryError(f"a lattice needs n ≥ 2 points per side; got {n}")
    (x0, x1), (y0, y1) = x_range, y_range
    if not (x0 < x1 and y0 < y1):
        raise GeometryError(f"lattice ranges must run from low to high; got {x_range}, {y_range}")
    mean, axes = _plane(mean, axes)
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    gx, gy = np.meshgrid(xs, ys)  # (n, n), row i has y = ys[i]
    z = mean + gx.reshape(-1, 1) * axes[0] + gy.reshape(-1, 1) * axes[1]  # (n·n, D)
    return xs, ys, z.astype(np.float32)


def _plane(mean, axes) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), axes (2, D)) of the map's plane; both omitted means the 2-D latent plane itself."""
    if mean is None and axes is None:
        return np.zeros(2), np.eye(2)
    if mean is None or axes is None:
        raise GeometryError("pass both mean and axes (from explore.latent_plane) or neither (D = 2)")
    mean, axes = np.asarray(mean, np.float64), np.asarray(axes, np.float64)
    if axes.shape != (2, mean.shape[0]):
        raise GeometryError(f"axes must have shape (2, {mean.shape[0]}); got {axes.shape}")
    return mean, axes


@torch.inference_mode()
def decoded_class_layer(model: VAE, classifier, z) -> tuple[np.ndarray, np.ndarray]:
    """What each point decodes to: the class a classifier gives the decoded image, and how sure it is.

    Returns (class index (N,) int64, confidence (N,) float32 = the top class probability).
    """
    model.eval()
    points = _latent_points(model, z)
    clf_device = next(classifier.parameters()).device
    classes, confidence = [], []
    for i in range(0, len(points), DECODE_BATCH):
        images = _mean_image(model, points[i:i + DECODE_BATCH]).to(clf_device)
        probs = torch.softmax(classifier(images).float(), dim=1)
        top = probs.max(1)
        classes.append(top.indices.cpu())
        confidence.append(top.values.cpu())
    return torch.cat(classes).numpy().astype(np.int64), torch.cat(confidence).numpy()


def log_prior_density(model: VAE, z) -> np.ndarray:
    """log p(z) under the model's prior at each point: (N,) float64."""
    return _log_prior_cpu(model, _latent_points(model, z, dtype=torch.float64)).numpy()


def hole_layer(model: VAE, mu, logvar, z) -> np.ndarray:
    """Holes: log p(z) − log q(z), where the prior expects codes that the data never uses (Rosca et al. 2018).

    Positive values are prior mass with (almost) no encoded image nearby: prior samples drawn there
    decode to blends or nonsense. Above log 10 the prior density is ten times the data's. (N,) float64.
    """
    return log_prior_density(model, z) - aggregate_log_density(mu, logvar, z)


def stretch_layer(model: VAE, z, *, axes=None) -> np.ndarray:
    """Stretch: log magnification factor, where a small move in the latent space changes the image a lot.

    Bright ridges are the class boundaries where interpolations jump. (N,) float64; pass the map's PCA
    `axes` for D > 2 to measure the stretch of the drawn plane.
    """
    return log_magnification(model, z, axes=axes)


def hole_prior_samples(model: VAE, mu, logvar, n: int, *, seed: int, ratio: float = 10.0,
                       max_draws: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Prior samples that fell into holes (q(z) < p(z)/ratio), with what they decode to.

    Returns (z (k, D), images (k, H, W)) with k ≤ n: fewer when holes are so rare that `max_draws`
    prior draws did not find n (the first n found, in draw order, so a seed always gives the same set).
    """
    if n < 1 or ratio <= 0:
        raise GeometryError(f"need n ≥ 1 and ratio > 0; got n={n}, ratio={ratio}")
    g = torch.Generator().manual_seed(seed)
    found, drawn = [], 0
    batch = max(10 * n, 1000)
    while sum(len(f) for f in found) < n and drawn < max_draws:
        z = _sample_prior(model, min(batch, max_draws - drawn), g).numpy()
        drawn += len(z)
        found.append(z[hole_layer(model, mu, logvar, z) > math.log(ratio)])
    z = np.concatenate(found)[:n].astype(np.float32)
    with torch.inference_mode():
        images = to_display(_mean_image(model, _latent_points(model, z)))  # (n, H, W) or (n, H, W, 3)
    return z, images


def hole_share(model: VAE, mu, logvar, *, ratio: float = 10.0, radius: float = 2.0, samples: int = 20_000,
               seed: int = 0) -> dict:
    """The share of the N(0, I) prior's mass within `radius` σ of the origin that lies in holes
    (q(z) < p(z)/ratio), by Monte Carlo over prior draws inside that ball, with its binomial error."""
    g = torch.Generator().manual_seed(seed)
    inside = []
    while sum(len(b) for b in inside) < samples:
        z = torch.randn(4 * samples, np.asarray(mu).shape[1], generator=g, dtype=torch.float64)
        inside.append(z[z.norm(dim=1) <= radius])
    z = torch.cat(inside)[:samples].numpy()
    holes = hole_layer(model, mu, logvar, z) > math.log(ratio)
    share = float(holes.mean())
    return {"share": share, "se": math.sqrt(share * (1 - share) / samples), "ratio": ratio, "radius": radius,
            "samples": samples}


def ledger(model: VAE, mu, logvar, *, seed: int = 0) -> dict:
    """What a model folder's metrics.json carries under "geometry" (the page's sidebar reads it): the
    ELBO's KL ledger, the active units, the exact MMD² to the prior and the share of the prior's mass in
    holes, from the test set's posteriors (mu, logvar; logvar None for a deterministic encoder)."""
    mu = np.asarray(mu)
    activity = unit_activity(mu)
    out = {"n_test": len(mu),
           "elbo_surgery": elbo_surgery_from_posteriors(model, mu, logvar, samples=4, seed=seed),
           "active_units": {"threshold": 0.01, "activity": activity.tolist(), "active": (activity > 0.01).tolist(),
                            "count": int((activity > 0.01).sum())}}
    if _has_standard_normal_prior(model):  # both are defined against N(0, I)
        out["mmd_to_prior"] = mmd_to_prior(mu)
        out["holes"] = {"aggregate_posterior": hole_share(model, mu, logvar, seed=seed) if logvar is not None
                        else None,
                        "kde_of_means": {**hole_share(model, mu, None, seed=seed),
                                         "bandwidth": scott_bandwidth(mu).tolist()}}
    return out


def posterior_ellipse(mu, logvar, *, n_sigma: float, mean=None, axes=None, points: int = 64) -> np.ndarray:
    """Encoder uncertainty: where the encoder could put this image's code, as an n-σ ellipse of q(z|x).

    A closed polyline (points, 2) in the map's plane; there the 1σ ellipse holds 39 % of q(z|x)'s mass
    and the 2σ one 86 %. For D > 2 pass the map's plane (`mean`, `axes` from
    `explore.latent_plane`): the centre is projected and the covariance diag(exp(logvar)) becomes A Σ Aᵀ.
    A deterministic encoder has no ellipse: `logvar=None` raises GeometryError.
    """
    if logvar is None:
        raise GeometryError("this model's encoder is deterministic (an MMD-VAE): q(z|x) is a point mass "
                            "and has no uncertainty ellipse")
    if n_sigma <= 0 or points < 3:
        raise GeometryError(f"need n_sigma > 0 and points ≥ 3; got {n_sigma}, {points}")
    mu, logvar = np.asarray(mu, np.float64).ravel(), np.asarray(logvar, np.float64).ravel()
    if mu.shape != logvar.shape:
        raise GeometryError(f"mu and logvar must have the same shape; got {mu.shape}, {logvar.shape}")
    plane_mean, plane_axes = _plane(mean, axes)
    if plane_axes.shape[1] != len(mu):
        raise GeometryError(f"a {len(mu)}-D posterior needs the map's plane: pass mean and axes from "
                            "explore.latent_plane")
    centre = plane_axes @ (mu - plane_mean)  # (2,)
    cov = plane_axes @ np.diag(np.exp(logvar)) @ plane_axes.T  # (2, 2): A Σ Aᵀ
    t = np.linspace(0.0, 2.0 * math.pi, points)
    circle = np.stack([np.cos(t), np.sin(t)])  # (2, points): the unit circle, closed
    return (centre[:, None] + n_sigma * np.linalg.cholesky(cov) @ circle).T

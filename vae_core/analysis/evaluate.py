"""Evaluation on one likelihood scale for every objective, under the model's own prior and likelihood.

The standard VAE's proposal for importance sampling is its own q(z|x). The MMD-VAE's
encoder is deterministic, so its proposal is N(code, s²I) with a stated scale s
(picked from a small list by the best ELBO on a few images, and reported). For
d = 2 the prior is low-dimensional enough to integrate log p(x) = log ∫ p(x|z) p(z) dz
by quadrature on a dense grid, which checks the importance-weighted estimates.
Every term uses `model.prior.log_prob` / `model.prior.kl` and `model.likelihood`: nothing here
assumes N(0, I) or Bernoulli pixels. Bernoulli models are scored on one seeded binarisation of
the test set (as they were trained on binary draws), the others on the intensities.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from ..data import Inputs, Split
from ..errors import ConfigError
from ..model.densities import reparameterize
from ..model.networks import VAE
from ..objectives.iwae import weight_terms
from .explore import encode_means
from .geometry import mmd_to_prior

PROPOSAL_SCALES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
# The most one pass may hold: decoder activations and the log-probabilities scored on them. A pass
# of 50,000 decodes of a 32×32 colour conv decoder held ~11 GB before passes were sized by this.
PASS_BYTES = 256 * 2 ** 20


@torch.inference_mode()
def decode_floats(model: VAE) -> int:
    """Floats one latent point holds on its way through the decoder (every layer's output) and its
    scoring (a few image-sized tensors): what sizes a pass by memory."""
    sizes: list[int] = []
    leaves = [m for m in model.decoder.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel())) for m in leaves]
    try:
        model.decoder(torch.zeros(1, model.latent_dim, device=model.device))
    finally:
        for h in hooks:
            h.remove()
    return sum(sizes) + 4 * math.prod(model.image_shape)


def decodes_per_pass(model: VAE, max_bytes: int | None = None) -> int:
    """How many latent points one pass may decode and score within `max_bytes` (default PASS_BYTES)."""
    return max(1, (max_bytes or PASS_BYTES) // (4 * decode_floats(model)))


def _device_x(model: VAE, x: torch.Tensor) -> torch.Tensor:
    return x.to(model.device, torch.float32)


def proposal(model: VAE, x: torch.Tensor, scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, logvar) of the importance-sampling proposal for inputs x."""
    mu, logvar = model.encode(x)
    if logvar is None:
        if scale is None:
            raise ConfigError("a deterministic encoder needs a proposal scale")
        logvar = torch.full_like(mu, 2 * math.log(scale))
    return mu, logvar


@torch.inference_mode()
def neg_elbo(model: VAE, x: torch.Tensor, *, scale: float | None = None, samples: int = 1,
             batch_size: int | None = None, seed: int = 0) -> dict[str, float]:
    """Test negative ELBO in nats and its parts, `samples` draws for the reconstruction; the KL in
    closed form for N(0, I), else the Monte Carlo estimate over the same draws, with `kl_se` (the
    standard error of the mean over images: draw noise and the images' spread). The draws come from a
    CPU generator seeded with `seed`: the same numbers on any device, and the global RNG untouched."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    batch_size = batch_size or max(1, min(500, decodes_per_pass(model)))
    rec_sum = kl_sum = kl_squares = 0.0
    for i in range(0, len(x), batch_size):
        xb = _device_x(model, x[i:i + batch_size])
        mu, logvar = proposal(model, xb, scale)
        draws = []
        for _ in range(samples):
            z = reparameterize(mu, logvar, generator=g)
            draws.append(z)
            rec_sum -= model.likelihood.log_prob(model.decode(z), xb).sum().item() / samples
        kl = model.prior.kl(mu, logvar, torch.stack(draws)).double()  # (B,)
        kl_sum += kl.sum().item()
        kl_squares += kl.pow(2).sum().item()
    n = len(x)
    out = {"neg_elbo": (rec_sum + kl_sum) / n, "recon": rec_sum / n, "kl": kl_sum / n}
    if model.prior.name != "standard":  # a Monte Carlo KL: the standard error of its mean over the images
        spread = max(kl_squares / n - (kl_sum / n) ** 2, 0.0)
        out["kl_se"] = math.sqrt(spread / max(n - 1, 1))
    return out


@torch.inference_mode()
def iw_log_likelihood(model: VAE, x: torch.Tensor, *, k: int = 1000, scale: float | None = None,
                      max_bytes: int | None = None, seed: int = 0, seconds: float | None = None,
                      min_images: int = 100, clock=time.perf_counter) -> np.ndarray:
    """Importance-weighted estimate of log p(x) per image (Burda et al. 2015): (N,). The draws come
    from a CPU generator (the same on any device); passes hold at most `max_bytes`.

    `seconds`: stop after the pass that ends past this many seconds, once `min_images` are done: the
    result then covers the first n ≤ N images (n = its length)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    start = clock()
    out, done = [], 0
    per_pass = decodes_per_pass(model, max_bytes)
    per_chunk = max(1, per_pass // k)
    for i in range(0, len(x), per_chunk):
        xb = _device_x(model, x[i:i + per_chunk])
        mu, logvar = proposal(model, xb, scale)
        lse = torch.full((len(xb),), -math.inf, device=model.device, dtype=torch.float64)
        s_chunk = max(1, per_pass // len(xb))
        for s in range(0, k, s_chunk):
            m = min(s_chunk, k - s)
            z = reparameterize(mu, logvar, samples=m, generator=g)  # (m, B, D)
            log_px, log_pz_minus_qz = weight_terms(model, xb, mu, logvar, z)
            log_w = (log_px + log_pz_minus_qz).double()
            lse = torch.logaddexp(lse, torch.logsumexp(log_w, 0))
        out.append((lse - math.log(k)).cpu())
        done += len(xb)
        if seconds is not None and done >= min_images and clock() - start > seconds:
            break
    return torch.cat(out).numpy()


@torch.inference_mode()
def quadrature_limit(model: VAE, *, standard: float = 6.0, draws: int = 20_000) -> float:
    """Half-width of the square the quadrature covers: 6 for N(0, I) (mass outside ~1e-8); for a
    learned prior, 1.2× the 99.99th percentile of |z| over 20,000 prior draws (seeded), at least 6."""
    if model.config.prior == "standard":
        return standard
    g = torch.Generator().manual_seed(0)  # on the CPU: the same limit on any device
    z = model.prior.sample(draws, generator=g, device=torch.device("cpu")).abs().flatten().double()
    return max(standard, float(math.ceil(1.2 * torch.quantile(z, 0.9999).item())))


@torch.inference_mode()
def quadrature_log_likelihood(model: VAE, x: torch.Tensor, *, grid: int = 400, limit: float | None = None,
                              max_bytes: int | None = None) -> np.ndarray:
    """log p(x) = log Σ_j p(x|z_j) p(z_j) ΔA on a grid×grid lattice over [−limit, limit]²: (N,).

    Only for d = 2. log p(x|z) for all images and grid points is one matrix product
    (`model.likelihood.log_prob_pairs`); `limit` defaults to `quadrature_limit(model)`. Each pass
    decodes as many grid points as `max_bytes` allows for the decodes and the (N, points) table of
    log-probabilities (float64, with temporaries).
    """
    if model.latent_dim != 2:
        raise ConfigError("quadrature is only practical for a 2-D latent space")
    model.eval()
    limit = quadrature_limit(model) if limit is None else limit
    axis = torch.linspace(-limit, limit, grid, dtype=torch.float64)
    step = (axis[1] - axis[0]).item()
    zz = torch.cartesian_prod(axis, axis)  # (G, 2)
    xf = x.flatten(1).to(model.device, torch.float32)  # (N, C·H·W)
    chunk = max(1, min(decodes_per_pass(model, max_bytes), (max_bytes or PASS_BYTES) // (32 * len(xf))))
    lse = torch.full((len(xf),), -math.inf, dtype=torch.float64, device=model.device)
    for j in range(0, len(zz), chunk):
        z = zz[j:j + chunk].to(model.device)
        logits = model.decode(z.float()).flatten(1)  # (G_chunk, C·H·W)
        log_px = model.likelihood.log_prob_pairs(xf, logits)  # (N, G_chunk)
        log_joint = log_px.double() + model.prior.log_prob(z)[None, :]
        lse = torch.logaddexp(lse, torch.logsumexp(log_joint, 1))
    return (lse + 2 * math.log(step)).cpu().numpy()


def best_proposal_scale(model: VAE, x: torch.Tensor, scales=PROPOSAL_SCALES) -> float:
    """The scale s of N(code, s²I) with the best ELBO on `x` (MMD-VAE only)."""
    scores = {s: neg_elbo(model, x, scale=s, samples=4)["neg_elbo"] for s in scales}
    return min(scores, key=scores.get)


def knn_accuracy(train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray,
                 test_labels: np.ndarray, *, k: int = 5, chunk: int = 1000) -> float:
    """Share of test codes whose k nearest train codes vote for the right class."""
    tr = torch.as_tensor(train_codes, dtype=torch.float32)
    tr_labels = torch.as_tensor(train_labels)
    n_classes = int(max(np.max(train_labels), np.max(test_labels))) + 1
    correct = 0
    for i in range(0, len(test_codes), chunk):
        te = torch.as_tensor(test_codes[i:i + chunk], dtype=torch.float32)
        idx = torch.cdist(te, tr).topk(k, largest=False).indices  # (C, k)
        votes = torch.zeros(len(te), n_classes, dtype=torch.int64).scatter_add_(
            1, tr_labels[idx], torch.ones_like(idx))
        correct += (votes.argmax(1) == torch.as_tensor(test_labels[i:i + chunk])).sum().item()
    return correct / len(test_codes)


def aggregate_posterior(codes: np.ndarray) -> dict:
    """Mean and covariance of the codes against N(0, I), and their MMD² to the prior.

    The MMD² is `geometry.mmd_to_prior`: the prior's kernel terms in closed form, the codes' term from
    all of them, with its standard error (it replaced one draw of 2,000 codes against 2,000 prior
    samples, whose spread was as large as the value).
    """
    codes = np.asarray(codes, np.float64)
    cov = np.cov(codes, rowvar=False).reshape(codes.shape[1], codes.shape[1])
    divergence = mmd_to_prior(codes)
    return {"mean": codes.mean(0).tolist(), "cov": cov.tolist(),
            "cov_distance_to_identity": float(np.linalg.norm(cov - np.eye(codes.shape[1]))),
            "mmd_to_prior": divergence["mmd2"], "mmd_to_prior_se": divergence["se"],
            "mmd_to_prior_estimator": divergence["estimator"]}


def evaluate_model(model: VAE, train: Split, test: Split, *, inputs: Inputs | None = None,
                   n_test: int | None = None, iw_k: int = 1000, iw_n: int = 1000, quadrature_grid: int = 0,
                   knn_k: int = 5, seed: int = 0, iw_seconds: float | None = None, progress=None) -> dict:
    """The metrics a model folder carries: test −ELBO, IW NLL, quadrature NLL (d = 2), k-NN, latent stats.

    Every figure is computed from `inputs` (`data.Inputs`: the run's, `config.run_inputs`; by
    default a Bernoulli model's splits binarised once with `seed`, so numbers from different models
    compare; other likelihoods score the intensities): the bounds, the codes of the k-NN accuracy and
    the aggregate posterior alike. `iw_seconds` bounds the importance-weighted estimate's time: it
    then covers as many of the first `iw_n` images as fit (at least 100; the count is recorded).
    Memory stays bounded (`PASS_BYTES` per pass). `progress(message)` hears each stage.
    """
    def say(msg):
        if progress:
            progress(msg)

    inputs = inputs or Inputs(binarized=model.likelihood.binarized, seed=seed)
    test_x = inputs.of(test.images)  # the whole split, then the first n_test (a subset draws the same)
    test = test.subset(n_test)
    x = test_x[:len(test)]
    scale = None
    metrics: dict = {"n_test": len(test), "likelihood": model.config.likelihood, "prior": model.config.prior,
                     "inputs": inputs.to_dict()}
    if inputs.binarized:
        metrics["binarization_seed"] = inputs.seed
    if not model.config.stochastic_encoder:
        scale = best_proposal_scale(model, x[:500])
        metrics["proposal_scale"] = scale
    say("test −ELBO")
    metrics["test"] = neg_elbo(model, x, scale=scale)
    if iw_k and iw_n:
        budget = f", as many as fit in {iw_seconds:.0f} s" if iw_seconds is not None else ""
        say(f"importance-weighted log-likelihood (k={iw_k}, up to {min(iw_n, len(x))} images{budget})")
        ll = iw_log_likelihood(model, x[:iw_n], k=iw_k, scale=scale, seed=inputs.seed, seconds=iw_seconds)
        metrics["iw_nll"] = {"nll": float(-ll.mean()), "k": iw_k, "n": len(ll)}
    if quadrature_grid and model.latent_dim == 2:
        say(f"quadrature log-likelihood ({quadrature_grid}² grid)")
        limit = quadrature_limit(model)
        q = quadrature_log_likelihood(model, x, grid=quadrature_grid, limit=limit)
        metrics["quadrature_nll"] = {"nll": float(-q.mean()), "grid": quadrature_grid, "limit": limit,
                                     "n": len(q)}
        if "iw_nll" in metrics:
            n = metrics["iw_nll"]["n"]
            metrics["iw_nll"]["quadrature_nll_same_images"] = float(-q[:n].mean())
    say("codes and k-NN accuracy")
    test_codes = encode_means(model, x)
    train_codes = encode_means(model, inputs.of(train.images))
    metrics["knn_accuracy"] = {"k": knn_k, "accuracy": knn_accuracy(
        train_codes, train.labels.numpy(), test_codes, test.labels.numpy(), k=knn_k)}
    metrics["aggregate_posterior"] = aggregate_posterior(test_codes)
    return metrics

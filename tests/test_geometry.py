"""vae_core.analysis.geometry, each quantity against an independent computation.

Magnification against central finite differences of decoded images; the aggregate density against
scipy's Gaussian log-densities and a log-sum-exp, and its integral over a wide grid; geodesics against
the straight line's decoded energy and length; ELBO surgery's Monte Carlo against its quadrature and
against the closed-form KL; the closed-form MMD² against large prior samples and its standard error
against the spread over repeated code sets; active units on an encoder built to ignore a dimension;
posterior ellipses against the covariance. Tiny seeded models, a few hundred real MNIST images, and
the shipped MNIST VAE where a trained decoder matters.
"""
import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import vae_core as vc
from vae_core.analysis import geometry as geo
from vae_core.store.folders import load_bundle, save_bundle
from vae_core.analysis.claims import classifier_probs, load_classifier
from vae_core.analysis.explore import decode, encode_means, latent_plane
from vae_core.objectives import gaussian_kernel

CLASSIFIERS = vc.PRETRAINED_DIR.parent / "classifiers"


def _model(*, latent_dim=2, objective="standard", activation="relu", arch="mlp", mu_scale=1.0,
           logvar_shift=0.0, seed=0) -> vc.VAE:
    """A seeded untrained model; `mu_scale` spreads the posterior means, `logvar_shift` narrows them."""
    torch.manual_seed(seed)
    model = vc.build_model(vc.ModelConfig(objective=objective, arch=arch, latent_dim=latent_dim, hidden=(32,),
                                          activation=activation)).eval()
    last = model.encoder.net[-1]
    with torch.no_grad():
        last.weight[:latent_dim] *= mu_scale
        last.bias[:latent_dim] *= mu_scale
        if objective == "standard":
            last.bias[latent_dim:] += logvar_shift
    return model


@pytest.fixture(scope="module")
def shipped_vae():
    return load_bundle(vc.PRETRAINED_DIR / "mnist-vae")


# ---- magnification --------------------------------------------------------------------------------------

def _finite_difference_jacobian(model, z, directions, h):
    """Central differences of the decoded images along each direction: (N, K, P) float64."""
    cols = [(decode(model, z + h * t).reshape(len(z), -1).astype(np.float64)
             - decode(model, z - h * t).reshape(len(z), -1)) / (2 * h) for t in directions]
    return np.stack(cols, axis=1)


def test_magnification_matches_finite_differences():
    model = _model(activation="tanh", mu_scale=1.0)  # a smooth decoder: central differences are O(h²)
    z = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    jac = _finite_difference_jacobian(model, z, np.eye(2, dtype=np.float32), 1e-2)
    expected = np.sqrt(np.linalg.det(jac @ jac.transpose(0, 2, 1)))
    np.testing.assert_allclose(geo.magnification(model, z), expected, rtol=1e-2)
    np.testing.assert_allclose(geo.stretch_layer(model, z), np.log(expected), atol=1e-2)


def test_magnification_from_several_threads_at_once():
    """Two page sessions (or a rerun started while the last still computes a layer) ask for the stretch
    layer at once: forward-mode AD numbers its levels process-wide, and unserialised the threads freed
    each other's level ("forward AD level with an invalid index"). Each thread gets its own answer,
    equal to one computed alone (same float32 work, same thread count: within 1e-9 of float64 rounding)."""
    import threading

    model = _model(activation="tanh", mu_scale=1.0)
    z = np.random.default_rng(1).normal(size=(300, 2)).astype(np.float32)
    alone = geo.stretch_layer(model, z)
    results, failures = [None] * 6, []

    def work(i):
        try:
            results[i] = geo.stretch_layer(model, z)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    for r in results:
        np.testing.assert_allclose(r, alone, rtol=0, atol=1e-6)


def test_magnification_along_the_map_plane_of_a_3d_model():
    model = _model(latent_dim=3, activation="tanh")
    rng = np.random.default_rng(1)
    axes = np.linalg.qr(rng.normal(size=(3, 2)))[0].T.astype(np.float32)  # (2, 3) orthonormal
    z = rng.normal(size=(10, 3)).astype(np.float32)
    jac = _finite_difference_jacobian(model, z, axes, 1e-2)
    expected = np.sqrt(np.linalg.det(jac @ jac.transpose(0, 2, 1)))
    np.testing.assert_allclose(geo.magnification(model, z, axes=axes), expected, rtol=1e-2)
    full = _finite_difference_jacobian(model, z, np.eye(3, dtype=np.float32), 1e-2)
    np.testing.assert_allclose(geo.magnification(model, z), np.sqrt(np.linalg.det(full @ full.transpose(0, 2, 1))),
                               rtol=1e-2)


def test_magnification_of_the_conv_decoder_is_batched_and_exact():
    model = _model(arch="conv")  # ReLU: piecewise linear, so small central differences are exact almost surely
    z = np.random.default_rng(2).normal(size=(6, 2)).astype(np.float32)
    jac = _finite_difference_jacobian(model, z, np.eye(2, dtype=np.float32), 1e-3)
    expected = np.log(np.sqrt(np.linalg.det(jac @ jac.transpose(0, 2, 1))))
    np.testing.assert_allclose(geo.log_magnification(model, z, batch_size=4), expected, atol=2e-2)


# ---- aggregate posterior density ------------------------------------------------------------------------

def _direct_log_q(mu, std, z):
    """log (1/N) Σ N(z; muᵢ, diag stdᵢ²) with scipy's densities: (M,)."""
    logs = np.stack([multivariate_normal(m, np.diag(s ** 2)).logpdf(z) for m, s in zip(mu, std)])  # (N, M)
    return logsumexp(logs, axis=0) - math.log(len(mu))


def test_aggregate_density_is_the_log_mean_of_the_posteriors():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(50, 2)), rng.uniform(-5, 0.5, size=(50, 2))
    z = rng.normal(scale=2, size=(40, 2))
    np.testing.assert_allclose(geo.aggregate_log_density(mu, logvar, z), _direct_log_q(mu, np.exp(0.5 * logvar), z),
                               rtol=1e-10, atol=1e-10)


def test_aggregate_density_on_a_lattice_takes_the_separable_path_exactly():
    rng = np.random.default_rng(3)
    mu = np.concatenate([rng.normal(size=(40, 2)), [[2.5, -2.5], [-2.5, 2.5]]])
    logvar = np.concatenate([rng.uniform(-3, 0, size=(40, 2)), np.full((2, 2), -12.0)])  # two σ ≈ 0.0025
    _, _, z = geo.lattice((-6, 6), (-6, 6), 25)
    shuffled = rng.permutation(z)  # a grid in any order is still a grid
    for points in (z, shuffled):
        np.testing.assert_allclose(geo.aggregate_log_density(mu, logvar, points),
                                   _direct_log_q(mu, np.exp(0.5 * logvar), points), rtol=1e-10)
    narrow_mu, narrow_logvar = mu[-2:], logvar[-2:]  # only narrow posteriors: most products underflow
    np.testing.assert_allclose(geo.aggregate_log_density(narrow_mu, narrow_logvar, z),
                               _direct_log_q(narrow_mu, np.exp(0.5 * narrow_logvar), z), rtol=1e-10)


def test_kernel_density_of_deterministic_codes_uses_the_stated_bandwidth():
    rng = np.random.default_rng(1)
    codes, z = rng.normal(size=(80, 2)) * [1.0, 3.0], rng.normal(size=(30, 2))
    scott = np.std(codes, axis=0, ddof=1) * 80 ** (-1 / 6)  # Scott's rule for d = 2
    np.testing.assert_allclose(geo.scott_bandwidth(codes), scott)
    np.testing.assert_allclose(geo.aggregate_log_density(codes, None, z),
                               _direct_log_q(codes, np.tile(scott, (80, 1)), z), rtol=1e-10)
    np.testing.assert_allclose(geo.aggregate_log_density(codes, None, z, bandwidth=0.3),
                               _direct_log_q(codes, np.full((80, 2), 0.3), z), rtol=1e-10)
    with pytest.raises(geo.GeometryError, match="bandwidth"):
        geo.aggregate_log_density(codes, np.zeros_like(codes), z, bandwidth=0.3)


@pytest.mark.parametrize("deterministic", [False, True])
def test_aggregate_density_integrates_to_one(deterministic):
    rng = np.random.default_rng(2)
    mu, logvar = rng.normal(size=(100, 2)), rng.uniform(-3, 0, size=(100, 2))
    xs = np.linspace(-9, 9, 361)
    zz = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    density = np.exp(geo.aggregate_log_density(mu, None if deterministic else logvar, zz))
    assert density.sum() * (xs[1] - xs[0]) ** 2 == pytest.approx(1.0, abs=1e-3)


# ---- geodesics -------------------------------------------------------------------------------------------

def _refined_energy_and_length(model, path, refine=16):
    """Decoded energy and length of a piecewise-linear latent path, sampled `refine` times per segment."""
    t = np.arange(refine)[None, :, None] / refine
    fine = np.concatenate([(path[:-1, None] + t * (path[1:] - path[:-1])[:, None]).reshape(-1, path.shape[1]),
                           path[-1:]])
    steps = np.diff(decode(model, fine).reshape(len(fine), -1).astype(np.float64), axis=0)
    return refine * (steps ** 2).sum(), np.linalg.norm(steps, axis=1).sum()


def test_geodesic_keeps_its_ends_and_is_no_longer_than_the_straight_line(shipped_vae):
    model, mu, labels = shipped_vae.model, shipped_vae.latents["mu"], shipped_vae.latents["labels"]
    pairs = [(np.flatnonzero(labels == a)[0], np.flatnonzero(labels == b)[0]) for a, b in ((0, 1), (4, 7), (3, 8))]
    for i, j in pairs:
        path = geo.geodesic(model, mu[i], mu[j], steps=16)
        assert path.shape == (16, 2)
        np.testing.assert_array_equal(path[0], mu[i])
        np.testing.assert_array_equal(path[-1], mu[j])
        line = np.linspace(mu[i], mu[j], 16)
        geo_energy, geo_length = _refined_energy_and_length(model, path)
        line_energy, line_length = _refined_energy_and_length(model, line)
        assert geo_energy <= line_energy
        assert geo_length <= line_length
        assert geo.curve_length(model, path, refine=16) == pytest.approx(geo_length, rel=1e-4)
    assert all(p.grad is None for p in model.parameters())  # the optimiser touched only the path


def test_curve_length_is_the_sum_of_decoded_steps():
    model = _model()
    path = np.random.default_rng(3).normal(size=(7, 2)).astype(np.float32)
    steps = np.diff(decode(model, path).reshape(7, -1).astype(np.float64), axis=0)
    assert geo.curve_length(model, path) == pytest.approx(np.linalg.norm(steps, axis=1).sum(), rel=1e-5)
    with pytest.raises(geo.GeometryError):
        geo.geodesic(model, path[0], path[1], steps=2)


# ---- ELBO surgery ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spread_vae():
    """Untrained, codes spread with std ≈ 1.6 and σ ≈ 0.34–0.43: a ledger with real mutual information."""
    return _model(mu_scale=30.0, logvar_shift=-2.0)


def test_surgery_identity_and_information_bound_by_monte_carlo(spread_vae, mnist_test):
    images = mnist_test.images[:300]
    ledger = geo.elbo_surgery(spread_vae, images, estimator="mc", samples=64, seed=1)
    mu, logvar = geo.encode_posteriors(spread_vae, images)
    closed_form = vc.gaussian_kl(torch.as_tensor(mu), torch.as_tensor(logvar)).mean().item()
    assert ledger["method"] == "mc" and ledger["defined"]
    assert ledger["expected_kl"] == pytest.approx(closed_form, rel=1e-5)
    error = ledger["mutual_information_error"] + ledger["marginal_kl_error"]
    assert abs(ledger["mutual_information"] + ledger["marginal_kl"] - closed_form) < 3 * error
    assert 0.5 < ledger["mutual_information"] <= math.log(300)
    assert ledger["marginal_kl"] > 0


def test_surgery_quadrature_agrees_with_monte_carlo(spread_vae, mnist_test):
    images = mnist_test.images[:300]
    quad = geo.elbo_surgery(spread_vae, images)  # d = 2 and broad posteriors: 'auto' takes the grid
    mc = geo.elbo_surgery(spread_vae, images, estimator="mc", samples=64, seed=2)
    assert quad["method"] == "quadrature" and quad["grid_mass"] == pytest.approx(1.0, abs=1e-3)
    for key in ("mutual_information", "marginal_kl"):
        tolerance = 3 * (mc[f"{key}_error"] + quad[f"{key}_error"]) + 1e-3
        assert abs(quad[key] - mc[key]) < tolerance, key
    assert abs(quad["identity_gap"]) < 3 * (quad["mutual_information_error"] + quad["marginal_kl_error"]) + 1e-3
    assert quad["mutual_information"] <= math.log(300)


def test_surgery_on_narrow_or_high_dimensional_posteriors_falls_back_to_monte_carlo(mnist_test):
    images = mnist_test.images[:100]
    assert geo.elbo_surgery(_model(latent_dim=3, mu_scale=4.0), images)["method"] == "mc"
    narrow = _model(mu_scale=8.0, logvar_shift=-9.0)  # σ ≈ 0.01: a grid fine enough would be thousands wide
    assert geo.elbo_surgery(narrow, images)["method"] == "mc"
    with pytest.raises(geo.GeometryError, match="estimator='mc'"):
        geo.elbo_surgery(narrow, images, estimator="quadrature")


def test_surgery_of_a_deterministic_encoder_says_it_is_undefined(mnist_test):
    ledger = geo.elbo_surgery(_model(objective="mmd"), mnist_test.images[:50])
    assert ledger["defined"] is False and ledger["expected_kl"] is None and ledger["mutual_information"] is None
    assert "point mass" in ledger["note"]


# ---- MMD² to the prior -----------------------------------------------------------------------------------

def test_closed_form_mmd_matches_large_prior_samples():
    rng = np.random.default_rng(4)
    for d in (2, 5):
        codes = rng.normal(loc=0.4, scale=0.8, size=(300, d))
        got = geo.mmd_to_prior(codes)
        c = torch.as_tensor(codes, dtype=torch.float64)
        g = torch.Generator().manual_seed(d)
        prior = torch.randn(40_000, d, generator=g, dtype=torch.float64)
        prior_b = torch.randn(40_000, d, generator=g, dtype=torch.float64)
        k_cc = gaussian_kernel(c, c)
        code_code = (k_cc.sum() - k_cc.diagonal().sum()) / (300 * 299)
        code_prior = gaussian_kernel(c, prior).mean()
        prior_prior = torch.exp(-(prior - prior_b).pow(2).sum(1) / d ** 2).mean()  # 40,000 independent pairs
        sampled = (code_code - 2 * code_prior + prior_prior).item()
        assert got["mmd2"] == pytest.approx(sampled, abs=2e-3)
        assert got["mmd2"] > 0.02  # the shift is clearly detected
        assert got["empirical"] == pytest.approx(got["mmd2"] + (1 - code_code.item()) / 300, rel=1e-9)


def test_mmd_standard_error_matches_the_spread_over_code_sets():
    rng = np.random.default_rng(5)
    results = [geo.mmd_to_prior(rng.normal(loc=0.3, size=(400, 2))) for _ in range(40)]
    spread = np.std([r["mmd2"] for r in results], ddof=1)
    assert 0.6 < np.mean([r["se"] for r in results]) / spread < 1.6


# ---- active units ----------------------------------------------------------------------------------------

def test_active_units_find_the_dimension_the_encoder_ignores(mnist_test):
    model = _model(latent_dim=3, mu_scale=10.0)
    with torch.no_grad():  # the posterior mean of unit 1 no longer depends on the image
        model.encoder.net[-1].weight[1] = 0.0
    images = mnist_test.images[:200]
    variance = np.var(encode_means(model, images).astype(np.float64), axis=0, ddof=1)
    np.testing.assert_allclose(geo.unit_activity(encode_means(model, images)), variance, rtol=1e-6)
    assert variance[1] == 0.0 and variance[[0, 2]].min() > 0.01
    np.testing.assert_array_equal(geo.active_units(model, images), [True, False, True])
    np.testing.assert_array_equal(geo.active_units(model, images, threshold=10 * variance.max()), [False] * 3)


# ---- posterior ellipses and the map plane ----------------------------------------------------------------

def test_posterior_ellipse_lies_on_the_covariance_contour():
    mu, logvar = np.array([0.5, -1.0]), np.log([0.04, 0.25])
    for n_sigma in (1, 2):
        ring = geo.posterior_ellipse(mu, logvar, n_sigma=n_sigma, points=50)
        assert ring.shape == (50, 2)
        np.testing.assert_allclose(ring[0], ring[-1], atol=1e-12)  # closed
        d = ring - mu
        np.testing.assert_allclose((d ** 2 / np.exp(logvar)).sum(1), n_sigma ** 2, rtol=1e-9)
    with pytest.raises(geo.GeometryError, match="point mass"):
        geo.posterior_ellipse(mu, None, n_sigma=1)


def test_posterior_ellipse_projects_the_covariance_onto_the_pca_plane():
    rng = np.random.default_rng(6)
    codes = rng.normal(size=(500, 4)) * [3, 2, 1, 0.5]
    _, mean, axes, _ = latent_plane(codes)
    mu, logvar = rng.normal(size=4), rng.uniform(-2, 0, size=4)
    samples = mu + np.exp(0.5 * logvar) * rng.normal(size=(200_000, 4))
    projected = (samples - mean) @ axes.T  # what the map shows of q(z|x)
    centre, cov = projected.mean(0), np.cov(projected, rowvar=False)
    ring = geo.posterior_ellipse(mu, logvar, n_sigma=2, mean=mean, axes=axes)
    d = ring - centre
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d), 4.0, rtol=0.02)
    with pytest.raises(geo.GeometryError, match="plane"):
        geo.posterior_ellipse(mu, logvar, n_sigma=1)


def test_lattice_order_and_plane():
    xs, ys, z = geo.lattice((-1, 1), (0, 2), 5)
    assert z.shape == (25, 2) and np.all(np.diff(xs) > 0) and np.all(np.diff(ys) > 0)
    grid = z.reshape(5, 5, 2)
    np.testing.assert_allclose(grid[3, 1], [xs[1], ys[3]])  # values.reshape(n, n)[i, j] ↔ (xs[j], ys[i])
    mean, axes = np.array([1.0, 2.0, 3.0]), np.array([[1.0, 0, 0], [0, 0.6, 0.8]])
    _, _, z3 = geo.lattice((-1, 1), (-1, 1), 4, mean=mean, axes=axes)
    assert z3.shape == (16, 3)
    back = (z3 - mean) @ axes.T
    np.testing.assert_allclose(back.reshape(4, 4, 2)[2, 0], [-1.0, 1.0 / 3], atol=1e-6)
    with pytest.raises(geo.GeometryError):
        geo.lattice((1, -1), (0, 1), 5)


# ---- the layers the page draws ---------------------------------------------------------------------------

def test_hole_layer_and_hole_samples(spread_vae, mnist_test):
    mu, logvar = geo.encode_posteriors(spread_vae, mnist_test.images[:200])
    _, _, z = geo.lattice((-3, 3), (-3, 3), 9)
    expected = multivariate_normal(np.zeros(2), np.eye(2)).logpdf(z) - _direct_log_q(mu, np.exp(0.5 * logvar), z)
    np.testing.assert_allclose(geo.hole_layer(spread_vae, mu, logvar, z), expected, rtol=1e-6, atol=1e-6)
    points, images = geo.hole_prior_samples(spread_vae, mu, logvar, 5, seed=3)
    assert points.shape == (5, 2) and images.shape == (5, 28, 28)
    assert np.all(geo.hole_layer(spread_vae, mu, logvar, points) > math.log(10))
    np.testing.assert_allclose(images, decode(spread_vae, points), atol=1e-6)
    np.testing.assert_array_equal(geo.hole_prior_samples(spread_vae, mu, logvar, 5, seed=3)[0], points)  # same call
    share = geo.hole_share(spread_vae, mu, logvar, samples=4000)
    assert 0 < share["share"] < 1 and share["se"] < 0.01


def test_decoded_class_layer_is_the_classifier_on_the_decoded_images(shipped_vae):
    clf = load_classifier(CLASSIFIERS / "mnist.pt")
    _, _, z = geo.lattice((-2, 2), (-2, 2), 6)
    classes, confidence = geo.decoded_class_layer(shipped_vae.model, clf, z)
    probs = classifier_probs(clf, decode(shipped_vae.model, z))
    # The classifier run again here, on decodes in other batch shapes: the class is the argmax wherever
    # the top two probabilities differ by more than float32 recomputation could move them.
    top2 = np.sort(probs, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-5
    assert clear.mean() > 0.9 and np.array_equal(classes[clear], probs.argmax(1)[clear])
    np.testing.assert_allclose(confidence, probs.max(1), atol=1e-5)
    assert len(np.unique(classes)) >= 4  # a trained 2-D MNIST VAE shows several digits on [−2, 2]²


# ---- latents.npz with logvar -----------------------------------------------------------------------------

def test_latents_carry_logvar_when_given(tmp_path):
    model = _model()
    mu, logvar = np.zeros((4, 2), np.float32), np.full((4, 2), -1.0, np.float32)
    cfg = vc.TrainConfig(dataset="mnist", epochs=1)
    with_logvar = save_bundle(tmp_path / "a", model, cfg, latents={"mu": mu, "labels": np.arange(4), "logvar": logvar})
    np.testing.assert_array_equal(load_bundle(with_logvar).latents["logvar"], logvar)
    without = save_bundle(tmp_path / "b", model, cfg, latents={"mu": mu, "labels": np.arange(4)})
    assert "logvar" not in load_bundle(without).latents
    np.savez(with_logvar / "latents.npz", mu=mu, labels=np.arange(4), logvar=np.zeros((3, 2), np.float32))
    with pytest.raises(vc.CheckpointError, match="logvar"):
        load_bundle(with_logvar)


@pytest.mark.parametrize("name", ["mnist-vae", "mnist-mmd", "fashion-vae", "fashion-mmd"])
def test_shipped_latents_and_geometry_metrics(name, data_dir):
    """The shipped codes are those of the recorded inputs (the test set binarised once, seed 0, as the
    models were trained on binary draws), and every figure about them is measured on those codes."""
    bundle = load_bundle(vc.PRETRAINED_DIR / name)
    assert bundle.latents_follow_inputs and bundle.inputs == vc.Inputs(binarized=True, seed=0)
    stochastic = bundle.model_config.stochastic_encoder
    assert ("logvar" in bundle.latents) == stochastic
    test = vc.load_split(bundle.dataset, "test", data_dir=data_dir)
    mu, logvar = geo.encode_posteriors(bundle.model, bundle.inputs.of(test.images))
    # Recomputed here with float32 on whatever CPU this is: another SIMD path or thread split moves the
    # last bits (2.3e-6 seen on another machine), never more than ~1e-5 for codes of size ~1.
    np.testing.assert_allclose(mu, bundle.latents["mu"], rtol=1e-4, atol=1e-4)
    if stochastic:
        np.testing.assert_allclose(logvar, bundle.latents["logvar"], rtol=1e-4, atol=1e-4)
    geometry = bundle.metrics["geometry"]
    assert geometry["elbo_surgery"]["defined"] == stochastic
    assert geometry["mmd_to_prior"]["mmd2"] == pytest.approx(geo.mmd_to_prior(bundle.latents["mu"])["mmd2"])
    evaluation = bundle.metrics["evaluation"]
    assert evaluation["inputs"] == {"binarized": True, "seed": 0}
    assert evaluation["aggregate_posterior"]["mmd_to_prior"] == pytest.approx(geometry["mmd_to_prior"]["mmd2"])
    if stochastic:
        # One convention: the ledger's E[KL] is the test −ELBO's KL term of the same codes (both in
        # closed form for N(0, I): equal up to float32 sums over 10,000 images).
        assert geometry["elbo_surgery"]["expected_kl"] == pytest.approx(evaluation["test"]["kl"], rel=1e-4)


@pytest.mark.parametrize("prior", ["standard", "mog"])
def test_the_ledgers_expected_kl_is_the_elbos_kl_term(prior, mnist_small, mnist_test, tmp_path):
    """A model saved with its evaluation: E[KL] of the geometry ledger and the KL term of the test −ELBO
    are one quantity on one set of codes. N(0, I): both in closed form, equal to float error. A learned
    mixture prior: both Monte Carlo (4 draws per image against 1), within 4 combined standard errors."""
    cfg = vc.ModelConfig(hidden=(64,), latent_dim=2, prior=prior, prior_components=5)
    run = vc.fit(cfg, vc.TrainConfig(epochs=2, batch_size=64, eval_subset=100, lr=3e-3), train_split=mnist_small,
                 test_split=mnist_test)
    path = vc.finish_run(run, tmp_path / prior, test_split=mnist_test.subset(2000), train_split=mnist_small,
                         evaluate={"iw_k": 10, "iw_n": 10})
    metrics = load_bundle(path).metrics
    kl_term, ledger = metrics["evaluation"]["test"], metrics["geometry"]["elbo_surgery"]
    if prior == "standard":
        assert ledger["expected_kl"] == pytest.approx(kl_term["kl"], rel=1e-5)
    else:
        error = math.hypot(ledger["expected_kl_error"], kl_term["kl_se"])
        assert abs(ledger["expected_kl"] - kl_term["kl"]) < 4 * error
        assert error < 0.05 * kl_term["kl"]  # an informative comparison, not a wide one

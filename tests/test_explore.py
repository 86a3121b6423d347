"""Latent-space tools: shapes, value ranges, grid axes, paths."""
import numpy as np
import pytest
import torch

from vae_core import (
    ModelConfig,
    build_model,
    decode,
    encode_means,
    interpolate,
    interpolation_path,
    manifold_grid,
    latent_plane,
    plane_points,
    png_bytes,
    prior_samples,
    reconstruct,
    tile,
)
from vae_core.analysis.explore import grid_axis, grid_points


@pytest.fixture(scope="module")
def model2():
    torch.manual_seed(0)
    return build_model(ModelConfig(hidden=(32,), latent_dim=2)).eval()


@pytest.fixture(scope="module")
def model5():
    torch.manual_seed(0)
    return build_model(ModelConfig(hidden=(32,), latent_dim=5)).eval()


def test_encode_means_shape_and_batches_agree(model2, mnist_test):
    images = mnist_test.images[:300]
    codes = encode_means(model2, images)
    assert codes.shape == (300, 2) and codes.dtype == np.float32
    np.testing.assert_allclose(encode_means(model2, images, batch_size=7), codes, atol=1e-5)
    # numpy arrays without the channel axis work too
    np.testing.assert_allclose(encode_means(model2, images.squeeze(1).numpy()), codes, atol=1e-6)
    assert encode_means(model2, images[:0]).shape == (0, 2)


def test_decode_shape_and_range(model2):
    out = decode(model2, np.random.default_rng(0).normal(size=(6, 2)) * 5)
    assert out.shape == (6, 28, 28) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert decode(model2, np.zeros(2)).shape == (1, 28, 28)
    with pytest.raises(ValueError, match="coordinates"):
        decode(model2, np.zeros((1, 3)))


def test_manifold_grid_quantile_axis(model2):
    n = 7
    image, xs, ys = manifold_grid(model2, n)
    assert image.shape == (28 * n, 28 * n)
    expected = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, n, dtype=torch.float64))
    np.testing.assert_allclose(xs, expected.numpy(), atol=1e-9)
    np.testing.assert_allclose(ys, xs)
    assert xs[0] == pytest.approx(-1.6448536, abs=1e-6) and xs[-1] == pytest.approx(1.6448536, abs=1e-6)
    # Tile (row r, col c) is the decode of (xs[c], ys[n-1-r]): y grows upwards.
    top_left = decode(model2, np.array([[xs[0], ys[-1]]]))[0]
    bottom_right = decode(model2, np.array([[xs[-1], ys[0]]]))[0]
    np.testing.assert_allclose(image[:28, :28], top_left, atol=1e-5)
    np.testing.assert_allclose(image[-28:, -28:], bottom_right, atol=1e-5)


def test_grid_range_spacing_spans_the_codes():
    codes = np.array([[-3.0, 1.0], [2.0, 5.0], [0.0, 2.0]])
    xs = grid_axis(6, spacing="range", codes=codes, dim=0)
    ys = grid_axis(6, spacing="range", codes=codes, dim=1)
    assert xs[0] == -3.0 and xs[-1] == 2.0 and ys[0] == 1.0 and ys[-1] == 5.0
    np.testing.assert_allclose(np.diff(xs), 1.0)
    with pytest.raises(ValueError):
        grid_axis(6, spacing="range")
    with pytest.raises(ValueError):
        grid_axis(6, spacing="polar")
    with pytest.raises(ValueError):
        grid_axis(0)


def test_grid_points_slice_through_a_center():
    pts = grid_points(np.array([0.0, 1.0]), np.array([2.0, 3.0]), latent_dim=4, dims=(1, 3),
                      center=np.array([9.0, 9.0, 9.0, 9.0]))
    assert pts.shape == (4, 4)
    assert (pts[:, [0, 2]] == 9.0).all()
    np.testing.assert_array_equal(pts[:, 1], [0, 1, 0, 1])
    np.testing.assert_array_equal(pts[:, 3], [3, 3, 2, 2])


def test_manifold_grid_for_higher_dimensions(model5):
    image, _, _ = manifold_grid(model5, 4, center=np.ones(5), dims=(2, 4))
    assert image.shape == (112, 112)


def test_interpolation_endpoints_and_linear_midpoint():
    z0, z1 = np.array([1.0, -2.0, 0.5]), np.array([3.0, 4.0, -0.5])
    path = interpolation_path(z0, z1, 5)
    assert path.shape == (5, 3)
    np.testing.assert_allclose(path[0], z0, atol=1e-6)
    np.testing.assert_allclose(path[-1], z1, atol=1e-6)
    np.testing.assert_allclose(path[2], (z0 + z1) / 2, atol=1e-6)
    np.testing.assert_allclose(np.diff(path, axis=0), np.tile((z1 - z0) / 4, (4, 1)), atol=1e-6)
    with pytest.raises(ValueError):
        interpolation_path(z0, z1, 1)
    with pytest.raises(ValueError):
        interpolation_path(z0, z1, 3, method="cubic")


def test_slerp_preserves_the_norm():
    rng = np.random.default_rng(0)
    z0 = rng.normal(size=8)
    z1 = rng.normal(size=8)
    z1 *= np.linalg.norm(z0) / np.linalg.norm(z1)
    path = interpolation_path(z0, z1, 9, method="slerp")
    np.testing.assert_allclose(path[0], z0, atol=1e-5)
    np.testing.assert_allclose(path[-1], z1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(z0), rtol=1e-5)
    # nearly parallel endpoints fall back to the linear path
    np.testing.assert_allclose(interpolation_path(z0, z0, 3, method="slerp"), np.tile(z0, (3, 1)), atol=1e-6)


def test_interpolate_between_two_images(model2, mnist_test):
    codes, images = interpolate(model2, mnist_test.images[0], mnist_test.images[1], steps=6)
    assert codes.shape == (6, 2) and images.shape == (6, 28, 28)
    ends = encode_means(model2, mnist_test.images[:2])
    np.testing.assert_allclose(codes[[0, -1]], ends, atol=1e-5)


def test_prior_samples_are_seeded(model2):
    a = prior_samples(model2, 5, seed=3)
    assert a.shape == (5, 28, 28)
    # The same draws decoded again: a float32 re-run of the decoder (another SIMD path or thread split on
    # another CPU) may move a pixel's probability by ~1e-7; another seed moves them by ~0.1.
    np.testing.assert_allclose(prior_samples(model2, 5, seed=3), a, rtol=0, atol=1e-5)
    assert np.abs(prior_samples(model2, 5, seed=4) - a).max() > 1e-2


def test_reconstruct_shape(model2, mnist_test):
    out = reconstruct(model2, mnist_test.images[:4])
    assert out.shape == (4, 28, 28) and 0 <= out.min() and out.max() <= 1


def test_latent_plane_is_pca_with_variance_explained():
    rng = np.random.default_rng(0)
    # Variance mostly along two known directions of a 5-D space.
    basis = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    scales = np.array([5.0, 2.0, 0.1, 0.1, 0.1])
    codes = rng.normal(size=(2000, 5)) * scales @ basis.T + 3.0
    proj, mean, axes, explained = latent_plane(codes)
    assert proj.shape == (2000, 2) and mean.shape == (5,) and axes.shape == (2, 5)
    np.testing.assert_allclose(mean, codes.mean(0))
    np.testing.assert_allclose(axes @ axes.T, np.eye(2), atol=1e-9)
    assert abs(abs(axes[0] @ basis[:, 0]) - 1) < 1e-3 and abs(abs(axes[1] @ basis[:, 1]) - 1) < 1e-3
    assert proj[:, 0].var() > proj[:, 1].var()
    # The share of variance along each axis: the projected variance over the total.
    total = ((codes - codes.mean(0)) ** 2).sum()
    np.testing.assert_allclose(explained, [(proj[:, i].astype(np.float64) ** 2).sum() / total for i in range(2)],
                               rtol=1e-5)
    np.testing.assert_allclose(explained, scales[:2] ** 2 / (scales ** 2).sum(), rtol=0.1)
    # d = 2: the codes themselves
    two = rng.normal(size=(10, 2))
    plane = latent_plane(two)
    np.testing.assert_allclose(plane.xy, two, atol=1e-6)
    np.testing.assert_array_equal(plane.explained, [1.0, 1.0])


def test_plane_points_walk_the_plane_through_the_mean():
    mean = np.array([1.0, -2.0, 0.5])
    axes = np.array([[0.0, 1.0, 0.0], [0.6, 0.0, 0.8]])
    pts = plane_points(np.array([-1.0, 2.0]), np.array([0.0, 3.0]), mean=mean, axes=axes)
    # Row-major with y decreasing down the rows, like grid_points.
    expected = [mean + x * axes[0] + y * axes[1] for y in (3.0, 0.0) for x in (-1.0, 2.0)]
    np.testing.assert_allclose(pts, expected, atol=1e-6)
    # With the identity plane it is the plain 2-D grid.
    np.testing.assert_allclose(plane_points(np.array([0.0, 1.0]), np.array([2.0, 3.0]), mean=np.zeros(2),
                                            axes=np.eye(2)), grid_points(np.array([0.0, 1.0]), np.array([2.0, 3.0])))


def test_tile_layout():
    images = np.stack([np.full((28, 28), i, np.float32) for i in range(5)])
    canvas = tile(images, 3)
    assert canvas.shape == (56, 84)
    assert canvas[0, 0] == 0 and canvas[0, 28] == 1 and canvas[0, 56] == 2
    assert canvas[28, 0] == 3 and canvas[28, 28] == 4
    assert canvas[28, 56] == 0  # empty slot stays blank
    padded = tile(images, 3, pad=2)
    assert padded.shape == (58, 88)
    assert padded[0, 30] == 1 and padded[0, 28] == 1.0  # padding filled with ones


def test_png_bytes(model2):
    data = png_bytes(manifold_grid(model2, 3)[0])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"


def test_traversal_moves_one_dimension_per_row_and_the_order_follows_the_kl():
    """The β-VAE traversal: row r decodes the centre moved along dims[r] only, from −3σ to +3σ; the
    rows come in the order of each dimension's KL (checked against a sum written out here)."""
    import torch

    from vae_core import ModelConfig, build_model
    from vae_core.analysis.explore import decode, dimension_order, traversal

    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden=(16,), latent_dim=4)).eval()
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(500, 4)) * np.array([0.1, 2.0, 0.0, 1.0])
    logvar = np.log(np.array([1.0, 0.05, 1.0, 0.2]))[None].repeat(500, 0)
    order, score = dimension_order(mu, logvar)
    by_hand = [np.mean([0.5 * (m ** 2 + np.exp(lv) - 1 - lv) for m, lv in zip(mu[:, d], logvar[:, d])])
               for d in range(4)]
    np.testing.assert_allclose(score, by_hand, rtol=1e-10)
    assert order.tolist() == [1, 3, 0, 2]  # dimension 2 carries nothing
    assert dimension_order(mu)[0].tolist() == [1, 3, 0, 2]  # by the codes' variance without posteriors
    center, scale = np.array([0.5, -0.2, 0.0, 1.0], np.float32), mu.std(0)
    rows = traversal(model, center, dims=order[:2], scale=scale, steps=5)
    assert rows.shape == (2, 5, 28, 28)
    moved = center.copy()
    moved[3] += 3 * scale[3]
    np.testing.assert_allclose(rows[1, -1], decode(model, moved[None])[0], atol=1e-6)
    np.testing.assert_allclose(rows[0, 2], decode(model, center[None])[0], atol=1e-6)  # the middle: the centre

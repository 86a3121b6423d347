"""Shapes of every variant, and the reparameterisation's statistics."""
import ast
from pathlib import Path

import pytest
import torch

from vae_core import ConfigError, ModelConfig, VAE, build_model
from vae_core.model.densities import reparameterize


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("objective", ["standard", "mmd"])
@pytest.mark.parametrize("latent_dim", [2, 8])
def test_output_shapes(arch, objective, latent_dim):
    torch.manual_seed(0)
    cfg = ModelConfig(objective=objective, arch=arch, latent_dim=latent_dim, hidden=(64, 32))
    model = build_model(cfg)
    x = torch.rand(5, 1, 28, 28)
    if arch == "conv":
        x = x.contiguous(memory_format=torch.channels_last)
    mu, logvar = model.encode(x)
    assert mu.shape == (5, latent_dim)
    if objective == "standard":
        assert logvar.shape == (5, latent_dim)
    else:
        assert logvar is None
    out = model(x)
    assert out.logits.shape == (5, 1, 28, 28)
    assert out.z.shape == (5, latent_dim)
    assert out.mu.shape == (5, latent_dim)
    assert (out.logvar is None) == (objective == "mmd")
    if objective == "mmd":
        assert torch.equal(out.z, out.mu)  # deterministic code
    assert model.decode(torch.zeros(3, latent_dim)).shape == (3, 1, 28, 28)
    assert torch.isfinite(out.logits).all()


def test_mlp_layers_follow_the_config():
    model = VAE(ModelConfig(hidden=(512, 512, 512), latent_dim=2))
    linears = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 512), (512, 512), (512, 512), (512, 4)]
    linears = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2, 512), (512, 512), (512, 512), (512, 784)]


def test_reparameterize_statistics():
    torch.manual_seed(0)
    mu = torch.tensor([1.0, -2.0, 0.0]).expand(200_000, 3)
    logvar = torch.tensor([0.0, -2.0, 1.0]).expand(200_000, 3)
    z = reparameterize(mu, logvar)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0, 0.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), torch.exp(torch.tensor([0.0, -2.0, 1.0])), atol=0.03, rtol=0.02)


def test_reparameterize_is_differentiable():
    mu = torch.zeros(4, 2, requires_grad=True)
    logvar = torch.zeros(4, 2, requires_grad=True)
    reparameterize(mu, logvar).sum().backward()
    assert torch.equal(mu.grad, torch.ones(4, 2))
    assert logvar.grad is not None


@pytest.mark.parametrize("bad", [dict(latent_dim=0), dict(arch="rnn"), dict(hidden=()), dict(objective="gan"),
                                 dict(image_shape=(1, 8, 8)), dict(image_shape=(2, 28, 28)), dict(image_shape=(1, 28)),
                                 dict(image_shape=(1, 28, 128)), dict(activation="swish"), dict(likelihood="poisson"),
                                 dict(prior="flow"), dict(prior="vamp", objective="mmd"), dict(prior_components=0)])
def test_bad_model_config_is_refused(bad):
    with pytest.raises(ConfigError):
        ModelConfig(**bad)


def test_format_1_config_reads_as_28x28_greyscale_bernoulli_with_the_standard_prior():
    old = {"objective": "standard", "arch": "mlp", "latent_dim": 2, "hidden": [512, 512, 512], "activation": "relu",
           "image_size": 28}
    cfg = ModelConfig.from_dict(old)
    assert cfg.image_shape == (1, 28, 28)
    assert (cfg.likelihood, cfg.prior) == ("bernoulli", "standard")


@pytest.mark.parametrize("shape", [(1, 16, 16), (3, 32, 32), (1, 30, 30), (3, 64, 48), (3, 17, 23)])
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_every_image_shape_round_trips_through_both_architectures(arch, shape):
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=arch, image_shape=shape, hidden=(32,), latent_dim=3))
    x = torch.rand(2, *shape)
    if arch == "conv":
        x = x.contiguous(memory_format=torch.channels_last)
    out = model(x)
    assert out.logits.shape == (2, *shape) and out.mu.shape == (2, 3)
    assert model.decode(torch.zeros(4, 3)).shape == (4, *shape)


def test_the_conv_model_keeps_the_blog_layout_at_28x28():
    model = VAE(ModelConfig(arch="conv", latent_dim=2))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["encoder.net.5.weight"] == (4, 64 * 7 * 7)
    assert shapes["decoder.net.0.weight"] == (7 * 7 * 32, 2)
    assert shapes["decoder.net.7.weight"] == (32, 1, 3, 3)
    assert not any(k.startswith(("prior.", "likelihood.")) for k in shapes)  # N(0, I) and Bernoulli: no weights


def test_config_round_trips_through_a_dict():
    cfg = ModelConfig(objective="mmd", arch="conv", latent_dim=8)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        ModelConfig.from_dict({**cfg.to_dict(), "extra": 1})


def test_reparameterize_draws_samples_from_a_generator():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    many = reparameterize(mu, logvar, samples=5, generator=torch.Generator().manual_seed(0))
    again = reparameterize(mu, logvar, samples=5, generator=torch.Generator().manual_seed(0))
    assert many.shape == (5, 4, 3)
    torch.testing.assert_close(many, again)  # the same generator state, the same call: equal draws
    # It is the one sampler: no module writes the reparameterisation again.
    root = Path(__file__).resolve().parent.parent / "vae_core"
    inlined = [p.name for p in root.rglob("*.py") if p.name != "densities.py" and "exp(0.5 * logvar) *" in p.read_text()]
    assert inlined == []


def test_no_mnist_literals_outside_the_mnist_records():
    """Shapes and class counts come from the dataset records (data/mnist.py, data/fashion.py): 28 and
    784 appear nowhere else in vae_core."""
    found = []
    root = Path(__file__).resolve().parent.parent / "vae_core"
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).as_posix() in ("data/mnist.py", "data/fashion.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and type(node.value) is int and node.value in (28, 784):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []

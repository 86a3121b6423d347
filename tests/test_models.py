"""Shapes of every variant, and the reparameterisation's statistics."""
import pytest
import torch

from vae_core import ConfigError, ModelConfig, VAE, build_model


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
    z = VAE.reparameterize(mu, logvar)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0, 0.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), torch.exp(torch.tensor([0.0, -2.0, 1.0])), atol=0.03, rtol=0.02)


def test_reparameterize_is_differentiable():
    mu = torch.zeros(4, 2, requires_grad=True)
    logvar = torch.zeros(4, 2, requires_grad=True)
    VAE.reparameterize(mu, logvar).sum().backward()
    assert torch.equal(mu.grad, torch.ones(4, 2))
    assert logvar.grad is not None


@pytest.mark.parametrize("bad", [dict(latent_dim=0), dict(arch="rnn"), dict(hidden=()), dict(objective="gan"),
                                 dict(image_size=32), dict(activation="swish")])
def test_bad_model_config_is_refused(bad):
    with pytest.raises(ConfigError):
        ModelConfig(**bad)


def test_config_round_trips_through_a_dict():
    cfg = ModelConfig(objective="mmd", arch="conv", latent_dim=8)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        ModelConfig.from_dict({**cfg.to_dict(), "extra": 1})


def test_reparameterize_is_the_one_sampler():
    from pathlib import Path

    from vae_core.densities import reparameterize

    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    torch.manual_seed(1)
    a = VAE.reparameterize(mu, logvar)
    torch.manual_seed(1)
    torch.testing.assert_close(a, reparameterize(mu, logvar))
    many = reparameterize(mu, logvar, samples=5, generator=torch.Generator().manual_seed(0))
    assert many.shape == (5, 4, 3)
    torch.testing.assert_close(many, reparameterize(mu, logvar, samples=5, generator=torch.Generator().manual_seed(0)))
    root = Path(__file__).resolve().parent.parent / "vae_core"
    inlined = [p.name for p in root.rglob("*.py") if p.name != "densities.py" and "exp(0.5 * logvar) *" in p.read_text()]
    assert inlined == []

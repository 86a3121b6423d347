"""One place starts a run (`vae_core.training.loop.setup_run`): the CLI, the page's jobs and `fit` set a run
up the same way, so the same settings train the same weights whoever starts them, and whatever
cannot run is refused there, before a step or a thread."""
import pytest
import torch

from vae_core import ConfigError, DatasetError, ModelConfig, TrainConfig, fit
from vae_core.training.jobs import JobRegistry
from vae_core.training.loop import setup_run, train

TINY = ModelConfig(hidden=(32,), latent_dim=2)
FAST = TrainConfig(epochs=1, batch_size=64, train_subset=256, eval_subset=50, lr=3e-3, seed=7)


def _close(a: dict, b: dict) -> None:
    # The same seeded run twice in one process: equal up to the float32 rounding of another thread
    # split (the CPU's thread governor may change torch's thread count between steps).
    for k, v in a.items():
        torch.testing.assert_close(v, b[k], rtol=1e-4, atol=1e-5)


def test_a_page_job_trains_the_weights_fit_trains(mnist_small, data_dir, tmp_path):
    """The job used to seed, build the model, and have fit seed again (its draws then differed from a
    CLI run's); both now go through setup_run."""
    by_fit = fit(TINY, FAST, data_dir=data_dir).model.state_dict()
    registry = JobRegistry()
    job = registry.start(TINY, FAST, "same", data_dir=data_dir, models_root=tmp_path)
    assert job.join(120) and job.view().state == "completed"
    from vae_core import load_bundle

    _close(by_fit, load_bundle(tmp_path / "same").model.state_dict())
    other = fit(TINY, FAST.replace(seed=8), data_dir=data_dir).model.state_dict()
    assert any((other[k] - v).abs().max() > 1e-3 for k, v in by_fit.items())  # a real difference shows


def test_setup_refuses_what_cannot_run_before_any_step(mnist_small, mnist_test, data_dir, tmp_path):
    with pytest.raises(ConfigError, match="batch_size 512 is larger than the 256 training images"):
        setup_run(TINY, FAST.replace(batch_size=512), data_dir=data_dir)
    with pytest.raises(ConfigError, match="takes 3×32×32 images but MNIST"):
        setup_run(TINY.replace(image_shape=(3, 32, 32)), FAST, data_dir=data_dir)
    with pytest.raises(DatasetError, match="MNIST"):  # never downloads when asked not to
        setup_run(TINY, FAST, data_dir=tmp_path / "empty", download=False)
    assert not (tmp_path / "empty").exists()


def test_setup_builds_once_and_train_runs_from_it(mnist_small, mnist_test):
    run = setup_run(TINY, FAST, train_split=mnist_small, test_split=mnist_test)
    assert run.model.config == TINY and run.device.type == "cpu" and len(run.train_split) == 512
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    result = train(run)
    assert result.ok and result.model is run.model and result.steps == 4  # 256 of the 512 images, batches of 64
    assert any(not torch.equal(v, result.model.state_dict()[k]) for k, v in before.items())

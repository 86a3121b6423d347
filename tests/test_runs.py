"""finish_run, the one place a training run ends: metrics -> test codes -> atomic save, with the
shipped models' evaluation on request and a cancelled run's last weights kept on request."""
import numpy as np
import pytest
import torch

from vae_core import CANCELLED, CheckpointError, Inputs, ModelConfig, TrainConfig, encode_means, finish_run, fit, \
    load_bundle
from vae_core.training.runs import SHIPPED_EVALUATION

TINY = ModelConfig(hidden=(32,), latent_dim=2)
FAST = TrainConfig(epochs=1, batch_size=64, eval_subset=100, lr=3e-3)
# The stored codes against the test set encoded again: a float32 re-run of the encoder, whose sums another
# CPU's SIMD path or thread split orders differently (~1e-7 here, codes up to ~5): 1e-5 allowed.
CODES_TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def result(mnist_small, mnist_test):
    return fit(TINY, FAST, train_split=mnist_small, test_split=mnist_test)


def test_finish_run_writes_metrics_codes_and_the_dataset(result, mnist_test, tmp_path):
    messages = []
    path = finish_run(result, tmp_path / "m", test_split=mnist_test, progress=messages.append)
    bundle = load_bundle(path)
    assert bundle.metrics["status"] == "completed" and bundle.metrics["steps"] == 8
    assert bundle.metrics["final_test"]["split"] == "test" and bundle.metrics["history"] == result.history
    assert "evaluation" not in bundle.metrics
    # The codes come from the inputs the model was trained to see, recorded in config.json: a Bernoulli
    # model's test set binarised once with seed 0 (the −ELBO's inputs), not the grey intensities.
    assert bundle.inputs == Inputs(binarized=True, seed=0) and bundle.latents_follow_inputs
    x = Inputs(binarized=True, seed=0).of(mnist_test.images)
    np.testing.assert_allclose(bundle.latents["mu"], encode_means(result.model, x), **CODES_TOL)
    grey = encode_means(result.model, mnist_test.images)
    assert np.abs(bundle.latents["mu"] - grey).max() > 1e-3  # the grey intensities give other codes
    np.testing.assert_array_equal(bundle.latents["labels"], mnist_test.labels.numpy())
    assert bundle.data["title"] == "MNIST" and bundle.fingerprint == result.dataset.fingerprint
    assert messages == ["encoding the test set", "saving"]


def test_finish_run_refuses_an_existing_folder_before_any_work(result, tmp_path):
    (tmp_path / "taken").mkdir()
    messages = []
    with pytest.raises(CheckpointError, match="already exists"):
        finish_run(result, tmp_path / "taken", progress=messages.append)
    assert messages == [] and list((tmp_path / "taken").iterdir()) == []


def test_finish_run_runs_the_shipped_evaluation_on_request(result, mnist_small, mnist_test, tmp_path):
    assert SHIPPED_EVALUATION == {"n_test": None, "iw_k": 1000, "iw_n": 1000, "knn_k": 5, "quadrature_grid": 0}
    messages = []
    # The shipped settings, made small here (a dict overrides them): the same code path, in seconds.
    path = finish_run(result, tmp_path / "e", test_split=mnist_test.subset(300), train_split=mnist_small,
                      evaluate={"iw_k": 50, "iw_n": 300}, progress=messages.append)
    evaluation = load_bundle(path).metrics["evaluation"]
    assert evaluation["n_test"] == 300 and evaluation["iw_nll"] == pytest.approx(
        {"nll": evaluation["iw_nll"]["nll"], "k": 50, "n": 300})
    assert evaluation["knn_accuracy"]["k"] == 5 and "aggregate_posterior" in evaluation
    # On the same 300 images the importance-weighted bound is the tighter one (up to its Monte Carlo error).
    assert evaluation["iw_nll"]["nll"] < evaluation["test"]["neg_elbo"] + 2
    assert messages[0] == "evaluating: test −ELBO" and any("k=50" in m for m in messages)
    assert messages[-3:] == ["encoding the test set",
                             "measuring the latent geometry (the KL ledger, active units, MMD² to the prior)", "saving"]
    bundle = load_bundle(path)
    ledger = bundle.metrics["geometry"]["elbo_surgery"]  # what the sidebar shows for this model
    assert ledger["defined"] and ledger["mutual_information"] <= ledger["log_n"]
    assert bundle.latents["logvar"].shape == bundle.latents["mu"].shape  # the holes layer needs no data


def test_a_cancelled_run_is_saved_only_on_request_and_marked(mnist_small, mnist_test, tmp_path):
    seen = []
    cancelled = fit(TINY, FAST.replace(epochs=3), train_split=mnist_small, test_split=mnist_test,
                    callback=seen.append, should_stop=lambda: len(seen) >= 2, report_seconds=0.0)
    assert cancelled.status == CANCELLED
    assert finish_run(cancelled, tmp_path / "dropped", test_split=mnist_test) is None
    assert not (tmp_path / "dropped").exists()
    path = finish_run(cancelled, tmp_path / "kept", test_split=mnist_test, keep_cancelled=True)
    bundle = load_bundle(path)
    assert bundle.metrics["status"] == "cancelled" and "cancelled at step 2" in bundle.metrics["message"]
    for k, v in cancelled.model.state_dict().items():
        assert torch.equal(bundle.model.state_dict()[k], v)


def test_half_rounds_before_measuring(mnist_small, mnist_test, tmp_path):
    run = fit(TINY, FAST.replace(max_iters=3), train_split=mnist_small, test_split=mnist_test)
    path = finish_run(run, tmp_path / "h", test_split=mnist_test, half=True)
    bundle = load_bundle(path)
    for k, v in bundle.model.state_dict().items():
        assert torch.equal(v, v.half().float()) and torch.equal(v, run.model.state_dict()[k])  # stored bytes
    np.testing.assert_allclose(bundle.latents["mu"], encode_means(bundle.model, bundle.inputs.of(mnist_test.images)),
                               **CODES_TOL)

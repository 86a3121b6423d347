"""The training loop on a few hundred real MNIST images: losses fall, guards hold."""
import math

import pytest
import torch

from helpers import patch_objective  # noqa: E402

import vae_core
from vae_core import CANCELLED, COMPLETED, DIVERGED, ConfigError, ModelConfig, TrainConfig, build_model
from vae_core import fit as train
from vae_core.objectives import LossParts

train_module = vae_core.training.loop  # the module: the loop is `fit`

TINY = ModelConfig(hidden=(64,), latent_dim=2)
FAST = TrainConfig(epochs=3, batch_size=64, eval_subset=200, lr=3e-3, schedule="constant")


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("objective", ["standard", "mmd"])
def test_loss_falls_on_real_mnist(mnist_small, mnist_test, objective):
    cfg = FAST.replace(mmd_prior_samples=100) if objective == "mmd" else FAST
    result = train(ModelConfig(objective=objective, hidden=(64,), latent_dim=2), cfg,
                   train_split=mnist_small, test_split=mnist_test, report_seconds=0.0)
    assert result.status == COMPLETED and result.ok
    assert result.steps == 3 * 8 and result.epochs == pytest.approx(3.0)
    train_rows = [r for r in result.history if r["split"] == "train"]
    test_rows = [r for r in result.history if r["split"] == "test"]
    assert len(test_rows) == 3  # one per epoch
    assert [r["epoch"] for r in test_rows] == pytest.approx([1.0, 2.0, 3.0])
    first, last = train_rows[0]["total"], train_rows[-1]["total"]
    # A fresh decoder starts at the training images' mean (vae_core.model.networks.VAE.init_output_bias): ~200 nats
    # per image of reconstruction, not the 784·log 2 ≈ 543 of a random one; a few epochs take off more.
    assert 150 < train_rows[0]["recon"] < 250
    assert last < first - 5
    assert test_rows[-1]["total"] < test_rows[0]["total"]
    key = "kl" if objective == "standard" else "mmd"
    assert key in test_rows[-1] and "recon" in test_rows[-1]
    assert not result.model.training


def _nan_after(k, monkeypatch):
    """Make the objective return NaN from its (k+1)-th call on."""
    calls = {"n": 0}

    def patched(real, model, x, step):
        parts = real(model, x, step)
        calls["n"] += 1
        if calls["n"] > k:
            nan = parts.total * float("nan")
            return LossParts(nan, **parts.parts)
        return parts

    patch_objective(monkeypatch, patched)


def test_nan_guard_keeps_the_last_good_weights(mnist_small, mnist_test, monkeypatch):
    _nan_after(5, monkeypatch)  # steps 0..4 fine; the loss at step 5 is NaN
    torch.manual_seed(0)
    model = build_model(TINY)
    states = {}

    def on_progress(p):
        states[p.step] = _params(model)

    result = train(TINY, FAST, train_split=mnist_small, test_split=mnist_test, callback=on_progress,
                   report_seconds=0.0, model=model)
    assert result.status == DIVERGED and not result.ok
    assert result.steps == 5
    assert "diverged at step 5" in result.message and "from step 4" in result.message
    final = _params(result.model)
    assert all(torch.isfinite(v).all() for v in final.values())
    for k, v in states[4].items():  # the weights the last finite loss was computed with
        assert torch.equal(final[k], v)


def test_nan_guard_with_a_huge_learning_rate(mnist_small, mnist_test):
    cfg = FAST.replace(lr=10.0, optimizer="sgd")
    result = train(TINY, cfg, train_split=mnist_small, test_split=mnist_test, report_seconds=0.0)
    assert result.status == DIVERGED
    assert "smaller learning rate" in result.message
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    # The kept weights give a finite loss again.
    x = torch.bernoulli(mnist_small.images[:64].float() / 255)
    with torch.no_grad():
        parts = train_module.make_objective("standard", cfg)(result.model, x)
    assert math.isfinite(parts.total.item())


def test_cancel_via_should_stop(mnist_small, mnist_test):
    seen = []
    result = train(TINY, FAST, train_split=mnist_small, test_split=mnist_test,
                   callback=lambda p: seen.append(p), should_stop=lambda: len(seen) >= 3, report_seconds=0.0)
    assert result.status == CANCELLED
    assert "cancelled" in result.message
    assert result.steps == 3
    assert seen[-1].step == 3  # the final report says where it stopped


def test_progress_callback(mnist_small, mnist_test):
    seen = []
    result = train(TINY, FAST.replace(epochs=2), train_split=mnist_small, test_split=mnist_test,
                   callback=seen.append, report_seconds=0.0)
    steps = [p.step for p in seen]
    assert steps == sorted(steps) and steps[-1] == result.steps == 16
    assert all(0 < p.fraction <= 1 for p in seen) and seen[-1].fraction == 1.0
    assert all(p.total_steps == 16 for p in seen)
    assert [p.epoch for p in seen if p.test is not None] == pytest.approx([1.0, 2.0])
    assert seen[-1].eta == 0.0
    assert all(p.elapsed >= 0 for p in seen)


def test_max_iters_respected(mnist_small, mnist_test):
    seen = []
    result = train(TINY, FAST.replace(max_iters=5), train_split=mnist_small, test_split=mnist_test,
                   callback=seen.append)
    assert result.status == COMPLETED
    assert result.steps == 5
    assert seen[-1].total_steps == 5 and seen[-1].fraction == 1.0
    assert any(r["split"] == "test" for r in result.history)  # the run ends with a test score


def test_batch_larger_than_the_dataset_is_a_config_error(mnist_small, mnist_test):
    with pytest.raises(ConfigError, match="batch_size"):
        train(TINY, FAST.replace(batch_size=1024), train_split=mnist_small, test_split=mnist_test)
    with pytest.raises(ConfigError, match="batch_size"):
        train(TINY, FAST.replace(batch_size=300, train_subset=256), train_split=mnist_small, test_split=mnist_test)


@pytest.mark.parametrize("bad", [dict(lr=0), dict(lr=-1.0), dict(lr=float("nan")), dict(batch_size=0),
                                 dict(epochs=0), dict(optimizer="rmsprop"), dict(max_iters=0), dict(beta=-1.0),
                                 dict(train_subset=0), dict(dataset="cifar"), dict(seed=-1), dict(estimator="iw"),
                                 dict(anneal_schedule="cosine"), dict(anneal_warmup=0), dict(anneal_ratio=1.5),
                                 dict(anneal_cycles=0), dict(test_fraction=1.0), dict(image_size=8),
                                 dict(binarize="yes")])
def test_bad_train_config_is_refused(bad):
    with pytest.raises(ConfigError):
        TrainConfig(**bad)


def test_seeded_runs_are_reproducible(mnist_small, mnist_test):
    cfg = FAST.replace(max_iters=6, seed=7)
    a = train(TINY, cfg, train_split=mnist_small, test_split=mnist_test)
    b = train(TINY, cfg, train_split=mnist_small, test_split=mnist_test)
    c = train(TINY, cfg.replace(seed=8), train_split=mnist_small, test_split=mnist_test)
    # Two trainings recompute everything: on another CPU (SIMD path) or under the thread governor (which may
    # change torch's thread count between steps) float32 sums differ in the last bits; after 6 Adam steps
    # that is ~1e-6 in the weights (measured with the weights perturbed by 3e-7), while another seed moves
    # them by ~1 (measured 1.3).
    for k, v in a.model.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[k], v, rtol=1e-4, atol=1e-5)
    assert max(float((v - c.model.state_dict()[k]).abs().max()) for k, v in a.model.state_dict().items()) > 0.1
    tests = lambda r: [(row["step"], row["total"]) for row in r.history if row["split"] == "test"]  # noqa: E731
    assert [s for s, _ in tests(a)] == [s for s, _ in tests(b)]
    # The test loss (~450 nats) of nearly equal weights: float32 sums, ~1e-4 nats apart at most.
    assert [t for _, t in tests(b)] == pytest.approx([t for _, t in tests(a)], rel=1e-5)
    assert [t for _, t in tests(c)] != pytest.approx([t for _, t in tests(a)], rel=1e-5)


def test_snapshots_write_png_files(mnist_small, mnist_test, tmp_path):
    result = train(TINY, FAST.replace(epochs=2, snapshot_every=1), train_split=mnist_small, test_split=mnist_test,
                   snapshot_dir=tmp_path / "snaps")
    assert result.ok
    names = sorted(p.name for p in (tmp_path / "snaps").iterdir())
    assert names == [f"epoch{e:03d}-{kind}.png" for e in (1, 2) for kind in ("grid", "samples", "scatter")]
    for p in (tmp_path / "snaps").iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_continue_training_a_given_model(mnist_small, mnist_test):
    torch.manual_seed(0)
    model = build_model(TINY)
    result = train(TINY, FAST.replace(max_iters=3), train_split=mnist_small, test_split=mnist_test, model=model)
    assert result.model is model and result.steps == 3


def test_the_training_package_holds_the_loop_and_fit_is_its_entry():
    import types

    assert isinstance(vae_core.training.loop, types.ModuleType) and vae_core.fit is train_module.fit


@pytest.mark.parametrize("model_cfg, train_cfg, message", [
    (ModelConfig(hidden=(8,)), TrainConfig(estimator="iwae"), "objective 'iwae'"),
    (ModelConfig(hidden=(8,), likelihood="cbernoulli"), TrainConfig(binarize=True), "bernoulli likelihood only"),
    (ModelConfig(hidden=(8,), image_shape=(3, 32, 32)), TrainConfig(), "for_dataset"),
])
def test_configs_that_do_not_go_together_are_refused_before_a_step(mnist_small, mnist_test, model_cfg, train_cfg,
                                                                    message):
    with pytest.raises(ConfigError, match=message):
        train(model_cfg, train_cfg.replace(max_iters=1), train_split=mnist_small, test_split=mnist_test)


@pytest.mark.parametrize("model_cfg", [ModelConfig(hidden=(32,), likelihood="cbernoulli"),
                                       ModelConfig(hidden=(32,), likelihood="gaussian"),
                                       ModelConfig(hidden=(32,), prior="vamp", prior_components=16),
                                       ModelConfig(hidden=(32,), prior="mog", prior_components=5),
                                       ModelConfig(hidden=(32,), objective="iwae"),
                                       ModelConfig(hidden=(32,), objective="mmd", prior="mog", prior_components=5)],
                         ids=["cbernoulli", "gaussian", "vamp", "mog", "iwae", "mmd-mog"])
def test_every_likelihood_prior_and_objective_trains(mnist_small, mnist_test, model_cfg):
    result = train(model_cfg, FAST.replace(epochs=2, samples=2 if model_cfg.objective == "iwae" else 1),
                   train_split=mnist_small, test_split=mnist_test, report_seconds=0.0)
    assert result.ok
    tests = [r["total"] for r in result.history if r["split"] == "test"]
    assert len(tests) == 2 and tests[1] < tests[0]
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_the_vamp_prior_starts_from_training_images_once(mnist_small, mnist_test):
    cfg = ModelConfig(hidden=(16,), prior="vamp", prior_components=8)
    torch.manual_seed(0)
    model = build_model(cfg)  # built by the caller, as the page's jobs do
    assert model.prior.initialized.item() == 0
    result = train(cfg, FAST.replace(max_iters=1), train_split=mnist_small, test_split=mnist_test, model=model)
    pseudo = torch.sigmoid(result.model.prior.pseudo_inputs.detach()).clone()  # (8, 1, 28, 28)
    # 0.05 + 0.9·x, moved by one Adam step at most lr = 3e-3 in logit space: digits, not noise.
    assert pseudo.min() > 0.04 and pseudo.max() < 0.96
    assert ((pseudo > 0.9).float().mean() > 0.05) and ((pseudo < 0.1).float().mean() > 0.5)
    assert result.model.prior.initialized.item() == 1
    # Continued training (another seed would pick other images) keeps the learned pseudo-inputs.
    again = train(cfg, FAST.replace(max_iters=1, seed=9), train_split=mnist_small, test_split=mnist_test,
                  model=result.model)
    moved = torch.sigmoid(again.model.prior.pseudo_inputs.detach()) - pseudo
    assert moved.abs().max() < 0.01


def test_a_ready_captured_step_stands_in_for_the_ordinary_one(mnist_small, mnist_test):
    """TrainStep's CUDA-graph branch, without a GPU (tests/test_cuda.py replays a real graph): until the
    graph is ready each step is the ordinary one and counts as a warm-up step; then a replay's loss row
    goes to the guard and the ordinary loss is not computed; an ordinary step after the capture (a short
    last batch) zeroes the gradients in place, where the captured graph reads them. Every step first sets
    the schedule's learning rate."""
    from vae_core.training.loop import DivergenceGuard, TrainStep, _lr_at, setup_run

    cfg = FAST.replace(schedule="cosine")
    run = setup_run(TINY, cfg, train_split=mnist_small, test_split=mnist_test)
    objective = train_module.make_objective("standard", cfg)
    computed = []

    def loss_of(x, step):
        computed.append(step)
        return objective.loss(run.model, x, step)

    class Replay:  # what TrainStep uses of a GraphedStep
        names, graph, failed, eager_steps, full = ["total", "recon", "kl"], None, None, 0, 64

        def ready(self, x):
            if self.eager_steps == 2:
                self.graph = "captured"
            return self.graph is not None and len(x) == self.full

        def __call__(self, x):
            return torch.tensor([1.0, 2.0, 3.0])

    opt = torch.optim.Adam(run.model.parameters(), lr=cfg.lr)
    guard = DivergenceGuard(run.model, run.world)
    step = TrainStep(loss_of, opt, guard, run, total_steps=8, graphs=False)
    step.graphed = Replay()
    x = torch.bernoulli(mnist_small.images[:64].float() / 255)
    for s in range(4):
        step(x, None, s)
        assert opt.param_groups[0]["lr"] == pytest.approx(_lr_at(cfg, s, 8))
    assert computed == [0, 1] and step.graphed.eager_steps == 2 and step.captured
    assert guard.pending_count() == 4 and all(torch.equal(r, torch.tensor([1.0, 2.0, 3.0])) for r in guard.rows[2:])
    grads = [p.grad for p in run.model.parameters()]
    step(x[:10], None, 4)  # a short batch: the ordinary step, its gradients where the graph reads them
    assert computed == [0, 1, 4] and step.graphed.eager_steps == 3
    assert all(p.grad is g for p, g in zip(run.model.parameters(), grads))
    assert step.capture_note() == ""
    step.graphed.failed = "RuntimeError: no capture here"
    assert "could not be captured as a CUDA graph: RuntimeError: no capture here" in step.capture_note()

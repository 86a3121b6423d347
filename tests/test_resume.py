"""Resumable runs in one process, on a few hundred real MNIST images.

A run stopped anywhere (mid-epoch included) and continued from its resume checkpoint ends with the
weights and the history of the run that never stopped; a resume under other settings is refused
naming them; a damaged checkpoint is a clear error; the CLI and the page's job registry continue a
run. (torchrun restarts after a killed rank: tests/test_distributed.py.)
"""
import time
from pathlib import Path

import pytest
import torch

from vae_core import COMPLETED, CheckpointError, ConfigError, ModelConfig, TrainConfig, fit, load_bundle
from vae_core.training import jobs
from vae_core.cli import main
from vae_core.training.resume import read_resume, resumable_runs, resume_file

ROOT = Path(__file__).resolve().parent.parent
TINY = ModelConfig(hidden=(32,), latent_dim=2)
RUN = TrainConfig(epochs=2, batch_size=64, train_subset=512, eval_subset=100, lr=3e-3)  # 8 steps an epoch


def stopped_at(n: int, model_cfg, train_cfg, splits, checkpoint):
    """The run, cancelled after its n-th step: it writes its resume checkpoint as it stops."""
    seen = []
    result = fit(model_cfg, train_cfg, **splits, callback=seen.append, report_seconds=0.0,
                 should_stop=lambda: bool(seen) and seen[-1].step >= n, checkpoint=checkpoint)
    assert result.status == "cancelled" and result.steps == n
    return result


@pytest.fixture
def splits(mnist_small, mnist_test):
    return dict(train_split=mnist_small, test_split=mnist_test)


@pytest.mark.parametrize("objective", ["standard", "mmd"])
def test_a_run_stopped_mid_epoch_resumes_to_the_weights_of_one_that_never_stopped(objective, splits, tmp_path):
    model_cfg = TINY.replace(objective=objective)
    whole = fit(model_cfg, RUN, **splits)
    checkpoint = resume_file(tmp_path / "run")
    stopped = stopped_at(11, model_cfg, RUN, splits, checkpoint)  # step 3 of the second epoch

    state = read_resume(checkpoint)
    assert (state.step, state.total_steps, state.steps_per_epoch) == (11, 16, 8)
    assert state.tag == "run" and "step 11 of 16" in state.describe()
    resumed = fit(model_cfg, RUN, **splits, resume=state, checkpoint=checkpoint)
    assert resumed.status == COMPLETED and resumed.steps == 16 and resumed.resumed_at == [11]
    # Two runs that each computed every step: float32 sums in another order (another CPU's SIMD path, or
    # the thread governor changing torch's thread count between steps) leave ~1e-6 in the weights after
    # 16 Adam steps (measured with the weights perturbed by 3e-7); another seed moves them by ~1.
    for k, v in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[k], v, rtol=1e-4, atol=1e-5)
    test_rows = lambda r: [row for row in r.history if row["split"] == "test"]  # noqa: E731
    assert [row["step"] for row in test_rows(resumed)] == [row["step"] for row in test_rows(whole)] == [8, 16]
    # Test losses of ~500 nats from nearly equal weights: ~1e-4 nats apart at most.
    assert [row["total"] for row in test_rows(resumed)] == pytest.approx([row["total"] for row in test_rows(whole)],
                                                                          rel=1e-5)
    assert test_rows(resumed)[0] == test_rows(stopped)[0]  # the first epoch's row came back with the checkpoint


def test_a_resume_under_other_settings_is_refused_naming_each(splits, tmp_path):
    checkpoint = resume_file(tmp_path / "run")
    stopped_at(5, TINY, RUN, splits, checkpoint)
    state = read_resume(checkpoint)
    with pytest.raises(ConfigError) as err:
        fit(TINY.replace(latent_dim=3), RUN.replace(lr=1e-3), **splits, resume=state)
    assert "latent_dim: 2 in the run, 3 now" in str(err.value) and "lr: 0.003 in the run, 0.001 now" in str(err.value)
    # Where and how often may change: the device and the checkpoint interval.
    assert fit(TINY, RUN.replace(checkpoint_every=3), **splits, resume=state).status == COMPLETED


def test_a_missing_or_damaged_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no resume checkpoint for 'gone'"):
        read_resume(tmp_path / "gone")
    bad = resume_file(tmp_path / "bad")
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot be read as a resume checkpoint") as err:
        read_resume(bad)
    assert str(bad) in str(err.value)
    assert resumable_runs(tmp_path) == []  # an unreadable file is not offered to continue


def test_the_cli_continues_a_run_and_refuses_what_would_lose_it(splits, isolated_models_dir, capsys):
    stopped_at(6, TINY, RUN, splits, resume_file(isolated_models_dir / "cli-run"))
    capsys.readouterr()
    # A new run under that tag would throw the unfinished one away: refused, saying how to go on.
    assert main(["train", "--tag", "cli-run", "--epochs", "1", "--quiet"]) == 2
    assert "has an unfinished run (step 6 of 16" in capsys.readouterr().err
    # Settings typed with --resume must be the run's.
    assert main(["train", "--resume", "cli-run", "--latent-dim", "4", "--quiet"]) == 2
    assert "latent_dim: 2 in the run, 4 now" in capsys.readouterr().err

    assert main(["train", "--resume", "cli-run", "--quiet"]) == 0
    assert "resuming from step 6 of 16" in capsys.readouterr().err
    bundle = load_bundle(isolated_models_dir / "cli-run")
    assert bundle.metrics["status"] == "completed" and bundle.metrics["steps"] == 16
    assert bundle.metrics["resumed_at_steps"] == [6]
    assert not resume_file(isolated_models_dir / "cli-run").exists()  # removed once the model was saved
    assert main(["train", "--resume", "cli-run", "--quiet"]) == 2  # nothing left to resume
    assert "no resume checkpoint" in capsys.readouterr().err


def test_the_page_s_registry_continues_a_run_cancelled_with_its_weights_kept(isolated_models_dir):
    registry = jobs.JobRegistry()
    cfg = RUN.replace(epochs=40, dataset="mnist")  # long enough to cancel inside
    job = registry.start(TINY, cfg, "page-run", owner="u1")
    while job.view().step < 3:
        assert job.view().running, job.view().message
        job.join(0.05)
    job.cancel(keep=True)
    assert job.join(60)
    stopped = job.view()
    assert stopped.state == jobs.CANCELLED and load_bundle(isolated_models_dir / "page-run").metrics["status"] == "cancelled"

    [state] = resumable_runs(isolated_models_dir)
    assert state.tag == "page-run" and state.step == stopped.step
    with pytest.raises(ConfigError, match="epochs: 40 in the run, 1 now"):
        registry.start(TINY, cfg.replace(epochs=1), "page-run", owner="u1", resume=state)
    done = registry.start(TINY, cfg, "page-run", owner="u1", resume=state)
    done.join(300)
    v = done.view()
    assert v.state == jobs.COMPLETED, v.message
    # The time shown counts the run's seconds before it stopped, as the result message does.
    assert v.elapsed == pytest.approx(state.seconds + done.finished - done.started)
    bundle = load_bundle(isolated_models_dir / "page-run")  # the cancelled model was replaced by the whole run
    assert bundle.metrics["status"] == "completed" and bundle.metrics["steps"] == 40 * 8
    assert resumable_runs(isolated_models_dir) == []


def test_the_train_tab_offers_an_unfinished_run_and_continues_it(splits, isolated_models_dir):
    from streamlit.testing.v1 import AppTest

    from helpers import open_tab

    stopped_at(5, TINY, RUN.replace(dataset="mnist"), splits, resume_file(isolated_models_dir / "page-continue"))
    at = AppTest.from_file(str(ROOT / "explorer_app.py"), default_timeout=60)
    at.run()
    open_tab(at, "Train")
    [choice] = [s for s in at.selectbox if s.key == "t_resume"]
    assert choice.value == "page-continue" and "step 5 of 16" in choice.format_func(choice.value)
    at.button(key="t_continue").click().run()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not at.success:
        time.sleep(0.3)
        at.run()
    assert not at.exception, at.exception
    assert any("saved as 'page-continue'" in s.value for s in at.success), [s.value for s in at.success]
    bundle = load_bundle(isolated_models_dir / "page-continue")
    assert bundle.metrics["steps"] == 16 and bundle.metrics["resumed_at_steps"] == [5]
    assert not any(s.key == "t_resume" for s in at.selectbox)  # nothing is left to continue


def test_the_checkpoint_keeps_its_layout_and_the_epoch_s_order_state(splits, tmp_path):
    """Format 1's keys, in order, the ones a resume reads among them; the order generator's state is
    the one from before the epoch's permutation (in the first epoch: as seeded), so that a resumed run
    draws the epoch's permutation again."""
    checkpoint = resume_file(tmp_path / "run")
    stopped_at(3, TINY, RUN, splits, checkpoint)
    raw = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert list(raw) == ["format", "library_version", "saved_at", "model_config", "train_config", "data", "step",
                         "total_steps", "steps_per_epoch", "seconds", "world", "resumed_at", "model", "optimizer",
                         "good", "good_step", "pending", "history", "formation", "rng"]
    assert list(raw["rng"]) == ["cpu", "cuda", "data", "data_device", "order"]
    assert (raw["format"], raw["step"], raw["total_steps"], raw["steps_per_epoch"]) == (1, 3, 16, 8)
    assert raw["rng"]["data_device"] == "cpu" and raw["rng"]["cuda"] is None
    assert torch.equal(raw["rng"]["order"], torch.Generator().manual_seed(RUN.seed).get_state())

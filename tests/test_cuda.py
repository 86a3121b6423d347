"""The GPU path (marked `cuda`; skipped where no GPU is present): training with the whole training
set on the device, bf16 autocast, evaluation, geometry and the page's decodes on CUDA agree with the
CPU. bench/gpu_check.sh runs these with the timings on a lent GPU machine."""
import numpy as np
import pytest
import torch

import vae_core as vc
from vae_core.analysis import geometry

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")]

TINY = vc.ModelConfig(hidden=(64,), latent_dim=2)
RUN = vc.TrainConfig(epochs=2, batch_size=64, train_subset=512, eval_subset=100, lr=3e-3, device="cuda")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_training_on_cuda_keeps_the_data_on_the_device_and_the_loss_falls(arch, precision, mnist_small, mnist_test):
    cfg = TINY.replace(arch=arch)
    result = vc.fit(cfg, RUN.replace(precision=precision), train_split=mnist_small, test_split=mnist_test)
    assert result.ok, result.message
    assert next(result.model.parameters()).device.type == "cuda"
    train_rows = [r["total"] for r in result.history if r["split"] == "train"]
    assert train_rows[-1] < train_rows[0]
    assert all(np.isfinite(r["total"]) for r in result.history)


def test_cuda_and_cpu_agree_on_the_same_weights(mnist_small, mnist_test):
    result = vc.fit(TINY, RUN, train_split=mnist_small, test_split=mnist_test)
    gpu = result.model.eval()
    cpu = vc.build_model(TINY, torch.device("cpu"))
    cpu.load_state_dict({k: v.cpu() for k, v in gpu.state_dict().items()})
    cpu.eval()
    images = mnist_test.images[:256]
    np.testing.assert_allclose(vc.encode_means(gpu, images), vc.encode_means(cpu, images), atol=1e-4)
    z = np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32)
    np.testing.assert_allclose(vc.decode(gpu, z), vc.decode(cpu, z), atol=1e-4)  # the page's grid and sliders
    np.testing.assert_allclose(geometry.log_magnification(gpu, z[:100]), geometry.log_magnification(cpu, z[:100]),
                               atol=1e-3)
    path_gpu = geometry.geodesic(gpu, z[0], z[1], steps=8)
    path_cpu = geometry.geodesic(cpu, z[0], z[1], steps=8)
    assert abs(geometry.curve_length(gpu, path_gpu) - geometry.curve_length(cpu, path_cpu)) < 1e-2 * \
        geometry.curve_length(cpu, path_cpu)
    small = mnist_test.subset(200)
    on_gpu = vc.evaluate_model(gpu, mnist_small, small, iw_k=50, iw_n=50)
    on_cpu = vc.evaluate_model(cpu, mnist_small, small, iw_k=50, iw_n=50)
    assert on_gpu["test"]["neg_elbo"] == pytest.approx(on_cpu["test"]["neg_elbo"], rel=1e-3)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_captured_step_trains_as_the_ordinary_one_does(precision, mnist_small, mnist_test):
    """On CUDA the full batches replay one captured graph (loss, backward, Adam): the same objective and
    the same kind of noise, so the test loss after 3 epochs matches the ordinary steps' within a few
    nats (other draws of the same distributions), and the loss falls."""
    run = RUN.replace(epochs=3, precision=precision, cuda_graphs=True)
    graphed = vc.fit(TINY, run, train_split=mnist_small, test_split=mnist_test)
    ordinary = vc.fit(TINY, run.replace(cuda_graphs=False), train_split=mnist_small, test_split=mnist_test)
    assert graphed.ok and ordinary.ok and "could not be captured" not in graphed.message, graphed.message
    assert graphed.cuda_graph and not ordinary.cuda_graph
    tests = [[r["total"] for r in res.history if r["split"] == "test"] for res in (graphed, ordinary)]
    assert tests[0][-1] < tests[0][0] and abs(tests[0][-1] - tests[1][-1]) < 5.0, tests
    # An objective whose loss follows the step (KL annealing) is never captured.
    annealed = vc.fit(TINY.replace(objective="annealed"), run.replace(epochs=1), train_split=mnist_small,
                      test_split=mnist_test)
    assert annealed.ok and not annealed.cuda_graph


def test_a_graphed_run_stopped_mid_epoch_resumes_and_captures_again(mnist_small, mnist_test, tmp_path):
    """A run trained with --cuda-graphs, stopped mid-epoch with its resume checkpoint, continues: the
    resumed part captures its step again and ends near the loss of a run that never stopped (replays draw
    their noise from the device generator's offsets, so within a few nats, not to the bit)."""
    from vae_core.training.resume import read_resume, resume_file

    run = RUN.replace(epochs=3, cuda_graphs=True)  # 8 steps an epoch
    splits = dict(train_split=mnist_small, test_split=mnist_test)
    whole = vc.fit(TINY, run, **splits)
    checkpoint = resume_file(tmp_path / "run")
    seen = []
    stopped = vc.fit(TINY, run, **splits, callback=seen.append, report_seconds=0.0, checkpoint=checkpoint,
                     should_stop=lambda: bool(seen) and seen[-1].step >= 11)
    assert stopped.status == "cancelled" and stopped.cuda_graph, stopped.message
    state = read_resume(checkpoint)
    assert state.step == stopped.steps
    resumed = vc.fit(TINY, run, **splits, resume=state, checkpoint=checkpoint)
    assert resumed.ok and resumed.cuda_graph and resumed.resumed_at == [stopped.steps], resumed.message
    assert resumed.steps == whole.steps == 24
    final = [[r["total"] for r in res.history if r["split"] == "test"][-1] for res in (whole, resumed)]
    assert abs(final[0] - final[1]) < 5.0, final


def test_a_page_training_job_trains_on_the_gpu(isolated_models_dir, data_dir):
    """The page's Train button (a background job, vae_core.training.jobs) on a machine with a GPU: the
    default device is the GPU, the job completes and saves a model that loads."""
    from vae_core.training import jobs

    job = jobs.JobRegistry().start(TINY, RUN.replace(device="auto", dataset="mnist"), "page-gpu",
                                   data_dir=data_dir, download=False)
    assert job.join(120)
    v = job.view()
    assert v.state == jobs.COMPLETED, v.message
    assert next(job._model.parameters()).device.type == "cuda"
    bundle = vc.load_bundle(isolated_models_dir / "page-gpu")
    assert bundle.metrics["status"] == "completed" and bundle.latents is not None

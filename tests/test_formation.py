"""How the latent space formed: every run keeps the codes of a fixed subset of test images before the
first step and at every epoch's end (formation.npz), through a resume too; a watcher's live codes
stay within their time budget."""
import numpy as np
import pytest
import torch

import vae_core as vc
from vae_core.analysis.formation import FORMATION_FILE, Formation, read_formation
from vae_core.training.resume import read_resume, resume_file

TINY = vc.ModelConfig(hidden=(32,), latent_dim=2)
RUN = vc.TrainConfig(epochs=3, batch_size=64, train_subset=256, eval_subset=50, lr=3e-3, formation_images=300)
# float16 keeps ~3 significant digits: codes of size ~3 are stored to within ~2e-3.
F16 = dict(rtol=2e-3, atol=2e-3)


def test_a_run_keeps_the_codes_before_training_and_at_each_epoch(mnist_small, mnist_test, tmp_path):
    result = vc.fit(TINY, RUN, train_split=mnist_small, test_split=mnist_test)
    path = vc.finish_run(result, tmp_path / "m", test_split=mnist_test)
    f = read_formation(path)
    assert f["codes"].shape == (4, 300, 2) and f["codes"].dtype == np.float16
    assert f["epochs"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert len(set(f["index"].tolist())) == 300 and np.array_equal(f["labels"], mnist_test.labels.numpy()[f["index"]])
    x = vc.Inputs(binarized=True).of(mnist_test.images)[torch.as_tensor(f["index"])]
    # The last frame is the trained model's codes of those images (encoded again here, float32 re-run).
    np.testing.assert_allclose(f["codes"][-1], vc.encode_means(result.model, x), **F16)
    # The first is the untrained model's: the same seed builds it again.
    torch.manual_seed(RUN.seed)
    np.testing.assert_allclose(f["codes"][0], vc.encode_means(vc.build_model(TINY), x), **F16)
    assert np.abs(f["codes"][-1].astype(np.float32) - f["codes"][0]).max() > 0.1  # the space moved
    stored = vc.load_bundle(path).latents["mu"][f["index"]]  # the same codes latents.npz holds
    np.testing.assert_allclose(f["codes"][-1], stored, **F16)


def test_a_resumed_run_keeps_the_frames_it_had(mnist_small, mnist_test, tmp_path):
    checkpoint = resume_file(tmp_path / "r")
    seen = []
    stopped = vc.fit(TINY, RUN, train_split=mnist_small, test_split=mnist_test, checkpoint=checkpoint,
                     callback=seen.append, should_stop=lambda: any(p.test is not None for p in seen[1:]),
                     report_seconds=0.0)
    assert stopped.status == vc.CANCELLED
    state = read_resume(checkpoint)
    resumed = vc.fit(TINY, RUN, train_split=mnist_small, test_split=mnist_test, resume=state)
    whole = vc.fit(TINY, RUN, train_split=mnist_small, test_split=mnist_test)
    a, b = resumed.formation.arrays(), whole.formation.arrays()
    assert a["epochs"].tolist() == b["epochs"].tolist() == [0.0, 1.0, 2.0, 3.0]
    np.testing.assert_allclose(a["codes"].astype(np.float32), b["codes"].astype(np.float32), **F16)


def test_none_kept_when_asked_for_none(mnist_small, mnist_test, tmp_path):
    result = vc.fit(TINY, RUN.replace(formation_images=0, epochs=1), train_split=mnist_small, test_split=mnist_test)
    path = vc.finish_run(result, tmp_path / "none", test_split=mnist_test)
    assert not (path / FORMATION_FILE).exists() and read_formation(path) is None


def test_live_codes_stay_within_their_share_of_the_time(mnist_test):
    f = Formation(mnist_test, vc.Inputs(binarized=True), n=2000)
    model = vc.build_model(TINY)
    assert f.live(model).shape == (2000, 2)
    # At once again: that encode took most of the time since the watcher started, far above 3 %.
    assert f.live(model) is None
    assert f.frames == []  # live codes are shown, not kept


def test_a_damaged_formation_file_is_named(tmp_path):
    (tmp_path / FORMATION_FILE).write_bytes(b"not an npz")
    with pytest.raises(vc.CheckpointError, match=FORMATION_FILE):
        read_formation(tmp_path)
    np.savez(tmp_path / FORMATION_FILE, codes=np.zeros((2, 5, 2)), epochs=np.zeros(3), index=np.arange(5),
             labels=np.zeros(5))
    with pytest.raises(vc.CheckpointError, match="shapes do not agree"):
        read_formation(tmp_path)

"""The IDX reader on the real files, and its errors on crafted bad ones (written into tmp_path)."""
import dataclasses
import gzip
import hashlib
import io
import os
import subprocess
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from vae_core import DatasetError, load_split, resolve_data_dir
from vae_core import data as data_mod
from vae_core.data import idx as idx_mod
from vae_core.data import IMAGES_MAGIC, LABELS_MAGIC, binarize, ensure_files, fixed_binarization, read_idx, to_float

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_test_split(mnist_test):
    assert mnist_test.images.shape == (10000, 1, 28, 28)
    assert mnist_test.images.dtype == torch.uint8
    assert mnist_test.labels.shape == (10000,)
    assert mnist_test.labels.dtype == torch.int64
    assert torch.bincount(mnist_test.labels, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert mnist_test.classes == tuple("0123456789")
    assert int(mnist_test.images.max()) == 255 and int(mnist_test.images.min()) == 0


def test_mnist_train_split(mnist_small, data_dir):
    full = load_split("mnist", "train", data_dir=data_dir)
    assert full.images.shape == (60000, 1, 28, 28)
    assert len(mnist_small) == 512
    assert torch.equal(mnist_small.images, full.images[:512])
    assert load_split("mnist", "train", data_dir=data_dir) is full  # cached per process


def test_fashion_mnist_loads(data_dir):
    if not (data_dir / "FashionMNIST" / "raw").is_dir():
        pytest.skip("Fashion-MNIST files not present")
    test = load_split("fashion", "test", data_dir=data_dir, download=False)
    assert test.images.shape == (10000, 1, 28, 28)
    assert torch.bincount(test.labels, minlength=10).tolist() == [1000] * 10
    assert test.classes[0] == "T-shirt/top" and test.classes[9] == "Ankle boot"


def test_data_dir_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_dir(tmp_path / "option") == tmp_path / "option"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("VAE_DATA_DIR")
    assert resolve_data_dir() == tmp_path / "cache" / "vae_explorer" / "data"


def test_unknown_split_and_dataset(data_dir):
    with pytest.raises(DatasetError, match="split"):
        load_split("mnist", "valid", data_dir=data_dir)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_split("cifar", "test", data_dir=data_dir)


# --- crafted bad files -------------------------------------------------------------------------

def _idx_bytes(magic: int, dims: list[int], payload_len: int | None = None) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    n = int(np.prod(dims)) if payload_len is None else payload_len
    return header + bytes(n % 256 for n in range(n))


def _write_gz(path: Path, raw: bytes) -> Path:
    path.write_bytes(gzip.compress(raw))
    return path


def _raw_folder(tmp_path, n_images=3, n_labels=3):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        _write_gz(raw / f"{prefix}-images-idx3-ubyte.gz", _idx_bytes(IMAGES_MAGIC, [n_images, 28, 28]))
        labels = (np.arange(n_labels) % 10).astype(np.uint8).tobytes()
        _write_gz(raw / f"{prefix}-labels-idx1-ubyte.gz",
                  LABELS_MAGIC.to_bytes(4, "big") + n_labels.to_bytes(4, "big") + labels)
    return raw


def test_crafted_good_files_load(tmp_path):
    _raw_folder(tmp_path)
    split = load_split("mnist", "test", data_dir=tmp_path, download=False)
    assert split.images.shape == (3, 1, 28, 28)
    assert split.labels.tolist() == [0, 1, 2]


def test_truncated_gzip(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    full = gzip.compress(_idx_bytes(IMAGES_MAGIC, [2, 28, 28]))
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz") as err:
        read_idx(path, IMAGES_MAGIC)
    assert "gzip" in str(err.value)


def test_not_gzip(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DatasetError, match="not a readable gzip file") as err:
        read_idx(path, IMAGES_MAGIC)
    assert str(path) in str(err.value)


def test_wrong_magic_number(tmp_path):
    path = _write_gz(tmp_path / "t10k-images-idx3-ubyte.gz", _idx_bytes(LABELS_MAGIC, [2, 28, 28]))
    with pytest.raises(DatasetError, match="magic number") as err:
        read_idx(path, IMAGES_MAGIC)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("payload", [2 * 784 - 1, 2 * 784 + 5])
def test_header_count_disagrees_with_length(tmp_path, payload):
    path = _write_gz(tmp_path / "t10k-images-idx3-ubyte.gz", _idx_bytes(IMAGES_MAGIC, [2, 28, 28], payload))
    with pytest.raises(DatasetError, match="header says") as err:
        read_idx(path, IMAGES_MAGIC)
    assert str(path) in str(err.value)


def test_too_short(tmp_path):
    path = _write_gz(tmp_path / "t10k-labels-idx1-ubyte.gz", b"\x00\x00")
    with pytest.raises(DatasetError, match="too short"):
        read_idx(path, LABELS_MAGIC)


def test_labels_of_another_length(tmp_path):
    _raw_folder(tmp_path, n_images=3, n_labels=4)
    with pytest.raises(DatasetError, match="3 images .*but 4 labels") as err:
        load_split("mnist", "test", data_dir=tmp_path, download=False)
    assert "t10k-labels-idx1-ubyte.gz" in str(err.value)


def test_missing_files_without_download(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_split("mnist", "test", data_dir=tmp_path, download=False)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in msg
    assert str(tmp_path / "MNIST" / "raw") in msg  # says where to put them
    assert "VAE_DATA_DIR" in msg
    assert not (tmp_path / "MNIST").exists()  # nothing created


class _FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


def test_download_with_bad_md5_leaves_no_file(tmp_path, monkeypatch):
    calls = []

    def fake_urlopen(url, timeout=None):
        calls.append(url)
        return _FakeResponse(b"definitely not MNIST" * 100)

    monkeypatch.setattr(idx_mod.urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(DatasetError, match="MD5") as err:
        ensure_files("mnist", tmp_path, progress=False)
    assert "train-images-idx3-ubyte.gz" in str(err.value)
    assert len(calls) == len(data_mod.DATASETS["mnist"].mirrors)  # every mirror tried
    assert list(tmp_path.iterdir()) == []  # no partial or renamed file, and no empty MNIST/raw folders


def test_download_network_error_is_a_dataset_error(tmp_path, monkeypatch):
    def fake_urlopen(url, timeout=None):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(idx_mod.urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(DatasetError, match="could not download"):
        ensure_files("fashion", tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # nothing left behind: no empty FashionMNIST/raw


def test_a_failed_download_keeps_the_files_that_arrived_whole(tmp_path, monkeypatch):
    """The first file arrives and matches its MD5, the second cannot be fetched: the first stays (and
    so its folder); a data folder that did not exist before is not created for nothing."""
    info = data_mod.DATASETS["mnist"]
    first = next(iter(info.md5))
    payload = b"a file that arrived whole"
    monkeypatch.setitem(data_mod.DATASETS, "mnist", dataclasses.replace(
        info, md5={**info.md5, first: hashlib.md5(payload).hexdigest()}))

    def fake_urlopen(url, timeout=None):
        if url.endswith(first):
            return _FakeResponse(payload)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(idx_mod.urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(DatasetError, match="could not download"):
        ensure_files("mnist", tmp_path / "new-data", progress=False)
    assert [p.name for p in (tmp_path / "new-data" / "MNIST" / "raw").iterdir()] == [first]


def test_download_with_matching_md5_is_kept_and_loads(tmp_path, monkeypatch):
    """Files whose MD5 matches are renamed into place and read like the real ones."""
    n = 4
    payloads = {}
    for prefix in ("train", "t10k"):
        payloads[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(_idx_bytes(IMAGES_MAGIC, [n, 28, 28]))
        payloads[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(
            LABELS_MAGIC.to_bytes(4, "big") + n.to_bytes(4, "big") + bytes(range(n)))
    info = data_mod.DATASETS["mnist"]
    monkeypatch.setitem(data_mod.DATASETS, "mnist", dataclasses.replace(
        info, md5={name: hashlib.md5(p).hexdigest() for name, p in payloads.items()}))
    monkeypatch.setattr(idx_mod.urllib.request, "urlopen",
                        lambda url, timeout=None: _FakeResponse(payloads[url.rsplit("/", 1)[1]]))
    raw = ensure_files("mnist", tmp_path, progress=False)
    assert sorted(p.name for p in raw.iterdir()) == sorted(payloads)
    split = load_split("mnist", "train", data_dir=tmp_path, download=False)
    assert split.images.shape == (n, 1, 28, 28) and split.labels.tolist() == [0, 1, 2, 3]


def test_binarize_values_and_mean(mnist_test):
    x = to_float(mnist_test.images[:2000])
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    g = torch.Generator().manual_seed(0)
    b = binarize(x, g)
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert b.mean().item() == pytest.approx(x.mean().item(), abs=0.002)
    # A pixel with intensity 0 is never on, one with 255 always.
    assert (b[x == 0] == 0).all() and (b[x == 1] == 1).all()
    fixed = fixed_binarization(mnist_test.images[:100], seed=3)
    assert torch.equal(fixed, fixed_binarization(mnist_test.images[:100], seed=3))
    assert not torch.equal(fixed, fixed_binarization(mnist_test.images[:100], seed=4))


def test_no_dataset_files_in_the_repository():
    """Nothing that could be committed is a dataset file (a git-ignored copy, such as the GPU
    check's .gpu_data/, may lie in the checkout: it never travels with a commit)."""
    root = Path(__file__).resolve().parent.parent
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, text=True)
    if listed.returncode == 0:
        candidates = [root / line for line in listed.stdout.splitlines()]
    else:  # not a git checkout (an unpacked release): every file counts
        candidates = [p for p in root.rglob("*") if ".git" not in p.parts]
    found = [p for p in candidates if "-ubyte" in p.name]
    assert found == []
    assert os.environ.get("VAE_DATA_DIR")


def test_the_idx_reader_takes_shape_and_classes_from_the_record(tmp_path, monkeypatch):
    """A record of 16×16 images in 3 classes: the reader checks against it, not against MNIST's 28×28 and 10."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, labels in (("train", bytes([0, 1, 2])), ("t10k", bytes([0, 1, 3]))):
        _write_gz(raw / f"{prefix}-images-idx3-ubyte.gz", _idx_bytes(IMAGES_MAGIC, [3, 16, 16]))
        _write_gz(raw / f"{prefix}-labels-idx1-ubyte.gz", LABELS_MAGIC.to_bytes(4, "big") + (3).to_bytes(4, "big") + labels)
    small = dataclasses.replace(data_mod.DATASETS["mnist"], name="tiny", shape=(1, 16, 16), classes=("a", "b", "c"))
    monkeypatch.setitem(data_mod.DATASETS, "tiny", small)
    split = load_split("tiny", "train", data_dir=tmp_path, download=False)
    assert split.images.shape == (3, 1, 16, 16) and split.classes == ("a", "b", "c") and split.shape == (1, 16, 16)
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz: test labels hold 3, beyond the 3 classes"):
        load_split("tiny", "test", data_dir=tmp_path, download=False)
    with pytest.raises(DatasetError, match=r"expected \(N, 28, 28\)"):
        load_split("mnist", "train", data_dir=tmp_path, download=False)  # MNIST's record wants 28×28

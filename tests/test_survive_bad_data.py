"""Bad dataset files and no network, the way users meet them: on a whole data directory and on the page.

Each damage must give one DatasetError (one st.error on the page) that names the file, leave every
file as it was (nothing deleted, nothing rewritten), and show no traceback.

Already proved in tests/test_data.py and not repeated here: `read_idx` on a truncated gzip, a file
that is not gzip, a wrong magic number, a header count that disagrees with the length, a file too
short for a header, labels of another length, missing files without download, a download whose MD5
does not match (nothing left), a network error, a matching download kept; and in
tests/test_app.py::test_missing_dataset_gives_one_clear_message, a data directory with no files and
no reachable mirror on the page.

Here: the same damages (and a few more: an empty file, the labels file put in place of the images,
label values beyond the classes) on a copy of the real MNIST test split, through `load_split` and
through the page; and downloads from a real HTTP server on 127.0.0.1 that cuts the file short,
sends the wrong bytes, answers 404, or breaks the HTTP reply itself, then one that serves the real
files, which are verified by MD5 and load.
"""
from __future__ import annotations

import dataclasses
import gzip
import http.server
import os
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from helpers import assert_no_traceback, mapped_sides  # noqa: E402

import vae_core as vc
from vae_core import DatasetError, load_split
from vae_core import data as data_mod
from vae_core.data import idx as idx_mod
from vae_core.data import ensure_files

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "explorer_app.py")
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


# --- helpers ---------------------------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes (links followed), to prove nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def data_copy(tmp_path: Path, data_dir: Path, damaged: dict[str, bytes]) -> Path:
    """A data directory holding real MNIST (links to the shared copy) with some files replaced."""
    root = tmp_path / "data"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES:
        if name in damaged:
            (raw / name).write_bytes(damaged[name])
        else:
            os.symlink(data_dir / "MNIST" / "raw" / name, raw / name)
    return root


def real(data_dir: Path, name: str) -> bytes:
    return (data_dir / "MNIST" / "raw" / name).read_bytes()


def idx_labels(labels: np.ndarray, count: int | None = None) -> bytes:
    n = len(labels) if count is None else count
    return gzip.compress((2049).to_bytes(4, "big") + n.to_bytes(4, "big") + labels.astype(np.uint8).tobytes())


def real_labels(data_dir: Path) -> np.ndarray:
    raw = gzip.decompress(real(data_dir, LABELS))
    return np.frombuffer(raw, np.uint8, offset=8)


# Each damage: the replaced file(s), and what the message must say besides the file's path.
DAMAGES = {
    "truncated gzip": (lambda d: {IMAGES: real(d, IMAGES)[: len(real(d, IMAGES)) // 2]}, IMAGES, "gzip"),
    "empty file": (lambda d: {IMAGES: b""}, IMAGES, "too short"),
    "not gzip (an HTML error page)": (lambda d: {LABELS: b"<html><body>404 Not Found</body></html>"}, LABELS,
                                      "not a readable gzip file"),
    "labels file in place of the images": (lambda d: {IMAGES: real(d, LABELS)}, IMAGES, "wrong magic number"),
    "header count above the file length": (lambda d: {LABELS: idx_labels(real_labels(d), 10_001)}, LABELS,
                                           "header says"),
    "header count below the file length": (lambda d: {LABELS: idx_labels(real_labels(d), 9_000)}, LABELS,
                                           "header says"),
    "labels of another length": (lambda d: {LABELS: idx_labels(real_labels(d)[:9_999])}, LABELS,
                                 "10000 images"),
    "label beyond the classes": (lambda d: {LABELS: idx_labels(np.where(np.arange(10_000) == 7, 200,
                                                                        real_labels(d)))}, LABELS, "beyond the 10"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_file_is_named_and_left_alone(damage, tmp_path, data_dir):
    make, culprit, words = DAMAGES[damage]
    root = data_copy(tmp_path, data_dir, make(data_dir))
    before = snapshot(root)
    with pytest.raises(DatasetError) as err:
        load_split("mnist", "test", data_dir=root, download=False)
    msg = str(err.value)
    assert culprit in msg and words in msg, msg
    assert str(root / "MNIST" / "raw") in msg  # the full path: the user can find the file
    with pytest.raises(DatasetError):  # also with downloads allowed: a present file is never re-fetched
        load_split("mnist", "test", data_dir=root, download=True, progress=False)
    assert snapshot(root) == before  # nothing deleted, nothing rewritten
    assert len(load_split("mnist", "test", data_dir=data_dir)) == 10_000  # the good copy still loads


def run_page(monkeypatch, root: Path) -> AppTest:
    monkeypatch.setenv("VAE_DATA_DIR", str(root))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    return at


@pytest.mark.parametrize("damage", ["truncated gzip", "labels file in place of the images", "labels of another length"])
def test_damaged_file_on_the_page(damage, tmp_path, data_dir, monkeypatch):
    make, culprit, words = DAMAGES[damage]
    root = data_copy(tmp_path, data_dir, make(data_dir))
    before = snapshot(root)
    at = run_page(monkeypatch, root)
    assert_no_traceback(at)
    shown = [w.value for w in at.warning if "could not be read" in w.value]
    assert len(shown) == 1 and culprit in shown[0] and words in shown[0], [w.value for w in at.warning]
    assert mapped_sides(at) == ["A", "B"]  # the maps still drawn, from the models' stored codes
    assert snapshot(root) == before


def test_one_missing_file_and_no_network_on_the_page(tmp_path, data_dir, monkeypatch):
    """Three files present, the fourth gone, every mirror unreachable: the message names the
    missing file and where it goes; the three present files are untouched; no partial download."""
    info = vc.DATASETS["mnist"]
    monkeypatch.setitem(vc.DATASETS, "mnist", dataclasses.replace(info, mirrors=("http://127.0.0.1:9/",)))
    root = data_copy(tmp_path, data_dir, {})
    (root / "MNIST" / "raw" / IMAGES).unlink()
    before = snapshot(root)
    at = run_page(monkeypatch, root)
    assert_no_traceback(at)
    shown = [w.value for w in at.warning if "not on this machine" in w.value]
    assert len(shown) == 1, [w.value for w in at.warning]
    assert f"`{IMAGES}`" in shown[0] and str(root / "MNIST" / "raw") in shown[0]
    assert not any(name in shown[0] for name in set(FILES) - {IMAGES})  # only the missing file is named
    at.button(key="data_download").click().run()  # the page downloads only when asked
    assert_no_traceback(at)
    failed = [e.value for e in at.error if e.value.startswith("The download failed")]
    assert len(failed) == 1 and f"could not download MNIST file {IMAGES}" in failed[0]
    assert snapshot(root) == before
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(set(FILES) - {IMAGES})


# --- downloads from a real HTTP server on the loopback ----------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "good"  # set per server
    source: Path

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        if self.mode == "404" or name not in FILES:
            self.send_error(404)
            return
        body = (self.source / name).read_bytes()
        if self.mode == "garbage-status":
            self.wfile.write(b"HELLO THERE\r\n\r\n")
            return
        if self.mode == "wrong-bytes":
            body = bytes(reversed(body))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.mode == "cut-short":
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture
def mirror(data_dir):
    """Start loopback HTTP servers serving the real MNIST files in a chosen way; yields a factory."""
    servers = []

    def start(mode: str) -> str:
        handler = type(f"H_{mode}", (_Handler,), {"mode": mode, "source": data_dir / "MNIST" / "raw"})
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/mnist/"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def use_mirrors(monkeypatch, *urls: str) -> None:
    info = data_mod.DATASETS["mnist"]
    monkeypatch.setitem(data_mod.DATASETS, "mnist", dataclasses.replace(info, mirrors=urls))


@pytest.mark.parametrize("mode, words", [
    ("cut-short", "the connection ended after"),
    ("wrong-bytes", "does not match the expected"),
    ("404", "404"),
    ("garbage-status", "could not download"),
])
def test_failed_download_leaves_nothing_behind(mode, words, tmp_path, mirror, monkeypatch):
    use_mirrors(monkeypatch, mirror(mode))
    with pytest.raises(DatasetError) as err:
        ensure_files("mnist", tmp_path, progress=False)
    msg = str(err.value)
    assert words in msg and "train-images-idx3-ubyte.gz" in msg, msg
    assert "VAE_DATA_DIR" in msg  # says how to provide the files by hand
    assert list(tmp_path.iterdir()) == []  # no partial file, no .part file, no empty MNIST/raw folders


def test_download_verified_by_md5_falls_through_to_a_good_mirror(tmp_path, mirror, monkeypatch, data_dir):
    """The first mirror sends damaged bytes, the second the real ones: the real ones are kept (their
    MD5 is the published one), nothing of the first is left, and the split loads."""
    use_mirrors(monkeypatch, mirror("wrong-bytes"), mirror("good"))
    raw = ensure_files("mnist", tmp_path, progress=False)
    assert sorted(p.name for p in raw.iterdir()) == sorted(FILES)
    for name in FILES:
        assert idx_mod._md5(raw / name) == data_mod.DATASETS["mnist"].md5[name]
    split = load_split("mnist", "test", data_dir=tmp_path, download=False)
    assert len(split) == 10_000
    assert np.array_equal(split.labels.numpy(), load_split("mnist", "test", data_dir=data_dir).labels.numpy())
    shutil.rmtree(tmp_path / "MNIST")

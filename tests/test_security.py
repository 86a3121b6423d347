"""Security: nothing read from disk or from the page is ever unpickled or evaluated, and Streamlit
keeps its XSRF and CORS protection.

- Every .py file of the project is parsed (AST, so words in strings and comments do not count)
  and must hold no eval/exec, no pickle/marshal/shelve/dill/joblib load, no yaml.load, no
  torch.load without weights_only=True, no numpy load with allow_pickle=True, no
  unsafe_allow_html=True and no subprocess with shell=True. A planted snippet proves the
  scanner finds each of them.
- A weights.pt carrying a pickle payload that would create a marker file (checked: an unsafe
  load in a separate process does create it) is refused by load_bundle with a CheckpointError
  and the marker never appears; the same for latents.npz and a legacy (non-zip) torch file.
- .streamlit/config.toml (if any) never disables XSRF or CORS protection, and the effective
  configuration Streamlit reads from the project folder has both on.
"""
from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from vae_core import CheckpointError, ModelConfig, TrainConfig, build_model, load_bundle, save_bundle

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", "venv", ".venv", "__pycache__", ".pytest_cache", "node_modules", ".benchmarks"}

UNSAFE_CALLS = {  # dotted name as written -> why
    "eval": "eval", "exec": "exec",
    "pickle.load": "unpickling", "pickle.loads": "unpickling", "pickle.Unpickler": "unpickling",
    "cPickle.load": "unpickling", "cPickle.loads": "unpickling", "dill.load": "unpickling",
    "dill.loads": "unpickling", "marshal.load": "marshal", "marshal.loads": "marshal",
    "shelve.open": "unpickling", "joblib.load": "unpickling", "pd.read_pickle": "unpickling",
    "pandas.read_pickle": "unpickling", "torch.jit.load": "TorchScript code", "yaml.unsafe_load": "unsafe YAML",
}
UNSAFE_IMPORTS = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("marshal", "loads"),
                  ("marshal", "load"), ("dill", "load"), ("dill", "loads"), ("torch", "load"),
                  ("builtins", "eval"), ("builtins", "exec")}


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def keyword_is(call: ast.Call, name: str, value) -> bool | None:
    """True/False when the keyword is a constant equal/unequal to value; None when absent or computed."""
    for kw in call.keywords:
        if kw.arg == name:
            return isinstance(kw.value, ast.Constant) and kw.value.value is value
    return None


def findings(source: str, filename: str = "<snippet>") -> list[str]:
    """What in this source could run code from data: one line per finding, 'file:line: what'."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (node.module.split(".")[0], alias.name) in UNSAFE_IMPORTS:
                    found.append(f"{where}: from {node.module} import {alias.name}")
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        if name in UNSAFE_CALLS:
            found.append(f"{where}: {name}() ({UNSAFE_CALLS[name]})")
        elif name == "yaml.load" and "Loader" not in {k.arg for k in node.keywords}:
            found.append(f"{where}: yaml.load without a safe Loader")
        elif name == "torch.load" and keyword_is(node, "weights_only", True) is not True:
            found.append(f"{where}: torch.load without weights_only=True")
        elif name in ("np.load", "numpy.load") and keyword_is(node, "allow_pickle", True):
            found.append(f"{where}: {name}(allow_pickle=True)")
        elif keyword_is(node, "unsafe_allow_html", True):
            found.append(f"{where}: unsafe_allow_html=True")
        elif name.startswith("subprocess.") and keyword_is(node, "shell", True):
            found.append(f"{where}: {name}(shell=True)")
        elif name in ("os.system", "os.popen"):
            found.append(f"{where}: {name}()")
    return found


def project_files() -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        files += [Path(dirpath) / f for f in filenames if f.endswith(".py")]
    return sorted(files)


def test_the_scanner_finds_each_unsafe_pattern():
    planted = """
import pickle, marshal, torch, numpy as np, subprocess, yaml, os
from pickle import loads
eval("1 + 1")
exec("x = 1")
pickle.load(open("f", "rb"))
marshal.loads(b"")
torch.load("w.pt")
torch.load("w.pt", weights_only=False)
torch.load("w.pt", map_location="cpu", weights_only=flag)
np.load("a.npz", allow_pickle=True)
subprocess.run("ls", shell=True)
yaml.load(text)
os.system("ls")
st.markdown(name, unsafe_allow_html=True)
"""
    got = findings(planted)
    assert len(got) == 13, got
    safe = """
import torch, numpy as np
model.eval()
torch.load("w.pt", map_location="cpu", weights_only=True)
np.load("a.npz", allow_pickle=False)
np.load("a.npz")
text = "pickle.load(x) eval(y)"  # words in strings and comments are not calls
"""
    assert findings(safe) == []


def test_no_unsafe_loading_or_evaluation_in_the_project():
    files = project_files()
    assert ROOT / "vae_core" / "store" / "folders.py" in files and ROOT / "explorer_app.py" in files
    found = [f for path in files for f in findings(path.read_text(), str(path.relative_to(ROOT)))]
    assert found == [], "\n".join(found)


# --- pickle payloads ---------------------------------------------------------------------------

class Payload:
    """Unpickling this calls open(marker, 'w'): a file appears if the load runs code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def bundle(tmp_path) -> Path:
    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden=(16,))).eval()
    return save_bundle(tmp_path / "model", model, TrainConfig(epochs=1), metrics={},
                       latents={"mu": np.zeros((4, 2), np.float32), "labels": np.zeros(4, np.int64)})


def unsafe_load_in_child(kind: str, file: Path) -> subprocess.CompletedProcess:
    """The control: what an unsafe loader would do with the file, in a throw-away process."""
    code = {"torch": "import sys, torch; torch.load(sys.argv[1], weights_only=False)",
            "numpy": "import sys, numpy; dict(numpy.load(sys.argv[1], allow_pickle=True))"}[kind]
    return subprocess.run([sys.executable, "-c", code, str(file)], capture_output=True, timeout=120)


def test_pickle_payload_in_weights_is_refused_and_never_runs(bundle, tmp_path):
    marker = tmp_path / "PWNED-weights"
    state = torch.load(bundle / "weights.pt", weights_only=True)
    state["__payload__"] = Payload(marker)
    torch.save(state, bundle / "weights.pt")
    assert not marker.exists()

    unsafe_load_in_child("torch", bundle / "weights.pt")  # the payload is real:
    assert marker.exists(), "the payload should create the marker when unpickled unsafely"
    marker.unlink()

    before = (bundle / "weights.pt").read_bytes()
    with pytest.raises(CheckpointError, match="weights.pt: cannot be loaded safely") as err:
        load_bundle(bundle)
    assert "\n" not in str(err.value)
    assert not marker.exists()
    assert (bundle / "weights.pt").read_bytes() == before  # refused, left for the user to inspect


def test_pickle_payload_in_a_legacy_torch_file_is_refused(bundle, tmp_path):
    marker = tmp_path / "PWNED-legacy"
    state = torch.load(bundle / "weights.pt", weights_only=True)
    buf = io.BytesIO()
    torch.save({**state, "x": Payload(marker)}, buf, _use_new_zipfile_serialization=False)
    (bundle / "weights.pt").write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="weights.pt"):
        load_bundle(bundle)
    assert not marker.exists()


def test_pickle_payload_in_latents_is_refused_and_never_runs(bundle, tmp_path):
    marker = tmp_path / "PWNED-latents"
    mu = np.empty(4, dtype=object)
    mu[:] = [Payload(marker)] * 4
    np.savez(bundle / "latents.npz", mu=mu, labels=np.zeros(4, np.int64))

    unsafe_load_in_child("numpy", bundle / "latents.npz")
    assert marker.exists(), "the payload should create the marker when unpickled unsafely"
    marker.unlink()

    with pytest.raises(CheckpointError, match="latents.npz: cannot be read"):
        load_bundle(bundle)
    assert not marker.exists()
    assert load_bundle(bundle, with_latents=False).latents is None  # the weights themselves are fine


# --- Streamlit's own protections --------------------------------------------------------------

def test_streamlit_config_keeps_xsrf_and_cors_protection():
    configs = [p for p in ROOT.rglob("config.toml") if p.parent.name == ".streamlit"
               and not SKIP_DIRS & set(p.relative_to(ROOT).parts)]
    for path in configs:
        server = tomllib.loads(path.read_text()).get("server", {})
        assert server.get("enableXsrfProtection", True) is True, path
        assert server.get("enableCORS", True) is True, path
    shown = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, env={k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")})
    effective = {line.split(" = ")[0]: line.split(" = ", 1)[1] for line in shown.stdout.splitlines()
                 if " = " in line and not line.startswith("#")}
    assert effective.get("enableXsrfProtection") == "true", shown.stdout[-2000:]
    assert effective.get("enableCORS") == "true"

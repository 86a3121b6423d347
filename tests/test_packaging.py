"""An installable package: pyproject.toml with the runtime dependencies only, the console scripts
`vae-core` and `vae-explorer` working from any folder, and no module that edits sys.path."""
import ast
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_runtime_dependencies_are_the_runtime_ones():
    names = {d.split(">")[0].split("<")[0].split("=")[0].strip() for d in PROJECT["dependencies"]}
    assert names == {"torch", "numpy", "pillow", "tqdm", "streamlit", "plotly"}
    test_extras = " ".join(PROJECT["optional-dependencies"]["test"])
    assert "scikit-learn" in test_extras and "pytest" in test_extras  # tests only
    assert PROJECT["scripts"] == {"vae-core": "vae_core.cli:main", "vae-explorer": "explorer.launch:main"}


def test_no_module_edits_sys_path():
    offenders = []
    for path in ROOT.rglob("*.py"):
        if any(part.startswith(".") or part in ("venv", "node_modules") for part in path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in ("insert", "append") and \
                    ast.unparse(node.value) == "sys.path":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def _script(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is not installed: pip install -e '.[test]' in {ROOT}"
    return found


def test_vae_core_runs_from_any_folder(tmp_path):
    out = subprocess.run([_script("vae-core"), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "decode" in out.stdout and "sample" in out.stdout
    listed = subprocess.run([_script("vae-core"), "list"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "VAE_MODELS_DIR": str(tmp_path / "models")})
    assert listed.returncode == 0 and "mnist-vae" in listed.stdout  # the shipped models, found from elsewhere


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_vae_explorer_serves_the_page_with_its_settings_from_any_folder(tmp_path):
    """Started in another folder, the page still gets .streamlit/config.toml's settings: a file under
    static/ is served (server.enableStaticServing), which streamlit's default would refuse."""
    # The checkout the installed launcher serves (this one after `pip install -e .`; in a clone run without
    # installing it, the installed one): the probe goes under its static/.
    where = subprocess.run([sys.executable, "-c", "import explorer, pathlib; "
                            "print(pathlib.Path(explorer.__file__).resolve().parent.parent)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    probe = Path(where) / "static" / "cache" / f"launch-probe-{os.getpid()}.txt"
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_text("served")
    port = _free_port()
    server = subprocess.Popen([_script("vae-explorer"), "--server.port", str(port), "--server.headless", "true",
                               "--server.address", "127.0.0.1"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:  # the server's health endpoint answers once it is up (an event, polled)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                pass
            assert server.poll() is None, "vae-explorer exited"
            assert time.monotonic() < deadline, "no answer from vae-explorer"
            time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/app/static/cache/{probe.name}", timeout=10) as r:
            assert r.read() == b"served"
    finally:
        server.terminate()
        server.wait(30)
        probe.unlink()


def test_the_launcher_passes_page_options_after_the_separator(tmp_path, monkeypatch):
    from explorer.launch import command, config_flags

    monkeypatch.chdir(tmp_path)
    cmd = command(["--data-dir", "data", "--server.port", "8600"])
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(ROOT / "explorer_app.py")]
    assert "--server.enableStaticServing=true" in cmd and "--server.enableXsrfProtection=true" in cmd
    assert cmd[-3:] == ["--", "--data-dir", str(tmp_path / "data")]  # made absolute where it was typed
    assert config_flags(tmp_path / "none.toml") == []


# vae_core's floors, as its __init__ names them: each module imports (at module level) only modules of its own
# floor or below, and nothing imports back into a circle.
FLOORS = [("_version", "errors", "lazy", "registry", "shards"), ("data",), ("model", "objectives"), ("config",),
          ("analysis",), ("store",), ("training",), ("cli", "__main__"), ("",)]


def _module_imports(path: Path, name: str, is_package: bool) -> set[str]:
    """The vae_core modules `name` imports when it is imported (statements at its top level)."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "vae_core"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.split(".")[0] != "vae_core":
                continue
            for alias in node.names:  # `from . import x` names a module when there is one
                sub = f"{target}.{alias.name}"
                as_path = ROOT.joinpath(*sub.split("."))
                found.add(sub if as_path.with_suffix(".py").exists() or (as_path / "__init__.py").exists() else target)
    return found


def _vae_core_graph() -> dict[str, set[str]]:
    graph = {}
    for path in (ROOT / "vae_core").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        graph[name] = _module_imports(path, name, is_package) - {name}
    return graph


def test_vae_core_has_no_import_circle_and_keeps_its_floors():
    graph = _vae_core_graph()
    assert len(graph) > 30 and graph["vae_core.store.folders"] >= {"vae_core.config", "vae_core.errors"}  # read
    circles, state = [], {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                circles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == [], "import circles: " + "; ".join(" -> ".join(c) for c in circles)

    def floor(module: str) -> int:
        top = module.split(".")[1] if "." in module else ""
        return next(i for i, names in enumerate(FLOORS) if top in names)

    upward = [f"{a} -> {b}" for a, imported in graph.items() for b in imported if floor(b) > floor(a)]
    assert upward == [], "imports from a higher floor: " + ", ".join(sorted(upward))

"""`vae-explorer [--data-dir DIR] [streamlit options]`: the page, from any folder.

`streamlit run explorer_app.py` reads .streamlit/config.toml from the folder it is started in; this
launcher passes that file's settings as command-line options instead, so the page runs with them
(static serving, XSRF protection, the viewer toolbar, …) wherever it is started. Options of its own
(`--data-dir`) go to the page; anything else goes to streamlit (`--server.port 8502`).
"""
from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "explorer_app.py"
CONFIG = ROOT / ".streamlit" / "config.toml"
PAGE_OPTIONS = ("--data-dir",)


def config_flags(path: Path = CONFIG) -> list[str]:
    """The settings of a streamlit config.toml as command-line options (`--section.key=value`)."""
    if not path.exists():
        return []
    flags = []
    for section, values in tomllib.loads(path.read_text()).items():
        for key, value in values.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            flags.append(f"--{section}.{key}={text}")
    return flags


def command(argv: list[str]) -> list[str]:
    """The streamlit command line for `vae-explorer ARGV`: the page's own options after `--`, paths
    made absolute (the page runs from wherever this was started)."""
    page, server = [], []
    args = iter(argv)
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in PAGE_OPTIONS:
            value = arg.split("=", 1)[1] if "=" in arg else next(args, "")
            page += [name, str(Path(value).expanduser().resolve())]
        else:
            server.append(arg)
    return [sys.executable, "-m", "streamlit", "run", str(APP), *config_flags(), *server,
            *(["--", *page] if page else [])]


def main(argv: list[str] | None = None) -> int:
    if not APP.exists():
        print(f"error: {APP} is missing: install the project from its folder (pip install -e .)", file=sys.stderr)
        return 2
    cmd = command(sys.argv[1:] if argv is None else argv)
    os.execv(cmd[0], cmd)  # streamlit takes over this process (Ctrl-C stops it as usual)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())

"""Files the browser fetches once: decoder weights, test codes, image atlases, grid pictures.

Streamlit serves `static/` beside explorer_app.py at `app/static/` (server.enableStaticServing
in .streamlit/config.toml), with ETag and Last-Modified, so the browser asks again only with
a conditional request. Every file is named by the SHA-256 of its bytes: a new model version is
a new name, an old name never changes content, and nothing is sent on a rerun. The folder is
a cache (git-ignored): deleting it loses nothing.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
CACHE_DIR = STATIC_DIR / "cache"
URL_PREFIX = "app/static/cache/"  # relative to the page's base URL


def publish(data: bytes, suffix: str) -> str:
    """Write `data` under its content hash (once; atomically) and return its URL relative to the page.

    Raises OSError when the folder is not writable (the caller falls back to the server)."""
    name = hashlib.sha256(data).hexdigest()[:32] + suffix
    target = CACHE_DIR / name
    if not target.exists():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=CACHE_DIR)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)  # readers see the whole file or none
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return URL_PREFIX + name

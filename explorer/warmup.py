"""torch, imported in the background once a fresh server's first view is drawn in the browser.

That first view is files read (explorer.firstview, vae_core.lazy); the first click that computes (a
pin, another tab, a layer not kept, a drawing to encode) needs torch, and importing it takes longer
than the view did (bench/bench_app.py). So once the browser has drawn the map (it says so: the map's
"drawn" event), a background thread imports torch and the modules that compute with it; a run that
needs them meanwhile waits for that import, not for a second one. Not sooner: the import holds the
interpreter for most of a second, and the server still had the map's files to send
(bench/bench_map.py --fresh: a first visit drawn in 2.97 s with the import started at the end of the
first run, 2.31 s without it).
"""
from __future__ import annotations

import importlib
import logging
import threading

from vae_core import lazy

# torch._dynamo too: every torch.optim optimiser imports it as it is built (1.4 s, bench_peer.py --profile),
# which a person's first training would otherwise wait for.
COMPUTING = ("torch", "vae_core.analysis.explore", "vae_core.analysis.geometry", "vae_core.training.jobs",
             "vae_core.store.export", "torch._dynamo")
_lock = threading.Lock()
_thread: threading.Thread | None = None
_done: set[str] = set()  # what the background thread has imported so far


def _import_all() -> None:
    try:
        for name in COMPUTING:
            importlib.import_module(name)
            _done.add(name)
    except Exception:  # a broken install shows itself, with its message, where the page needs torch
        logging.getLogger(__name__).exception("importing torch in the background failed")


def start() -> None:
    """Import torch in the background unless it is imported already (or being imported)."""
    global _thread
    with _lock:
        if lazy.imported("torch") or _thread is not None:
            return
        _thread = threading.Thread(target=_import_all, name="import-torch", daemon=True)
        _thread.start()


def torch_ready() -> bool:
    """Whether torch is imported, not still being imported in the background: a run can use it without
    waiting (the thread may still be importing the modules after it)."""
    return lazy.imported("torch") and (_thread is None or "torch" in _done)

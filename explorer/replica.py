"""Several replicas behind nginx (deploy/): a page that moves to another replica is told so.

Streamlit keeps a session in the one process that accepted the browser's WebSocket. When that
replica dies, nginx sends the reconnecting page to a live one, which starts a new session: the
widgets come back (the browser resends them), but picked points and a running training are gone.
"""
from __future__ import annotations

import os

import streamlit as st

from . import state


@st.fragment(run_every=600)
def rerun_after_reconnect() -> None:
    """Draws nothing. Streamlit's browser side asks a server it reconnects to for a full rerun only
    when the page has a run_every fragment (or its last run was a fragment's), so without one a page
    moved to another replica would wait, unanswered, until a full-page widget was touched."""


def moved_replica_notice() -> None:
    """Say so when this session began on another replica than the one serving it now.

    nginx pins a browser by the cookie `vae_replica`; the session's first run sees the cookie the
    page arrived with, and each replica knows its own name ($VAE_REPLICA, set by run_replicas.py)."""
    here = os.environ.get("VAE_REPLICA")
    if not here:
        return
    if state.get("arrived_replica") is None:
        state.set("arrived_replica", st.context.cookies.get("vae_replica") or here)
    if state.get("arrived_replica") != here:
        st.warning("The server this page was on stopped, and another one took over. Your settings were kept; "
                   "the points you picked and any training you had running were lost (nothing of it was saved).")

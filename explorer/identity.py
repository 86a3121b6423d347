"""Who is this browser: a cookie, so a reload or a second tab finds its own training again.

A reload is a new Streamlit session: `st.session_state` and the session id are gone. The
browser keeps a cookie, which Streamlit reads when the page connects (`st.context.cookies`).
On the first visit the page makes a random token and a tiny component stores it in the cookie.
Without cookies (or in AppTest) the token lives in the session, as before.
"""
from __future__ import annotations

import re

import streamlit as st

from . import state

COOKIE = "vae_explorer_owner"
_TOKEN = re.compile(r"[0-9a-f]{32}")

_JS = """
export default function ({ data }) {
  const entry = `${data.name}=${data.token}`;
  if (!document.cookie.split("; ").includes(entry)) {
    // A year; Strict: the cookie names this browser to this page and nothing else.
    document.cookie = `${entry}; path=/; max-age=31536000; SameSite=Strict`;
  }
}
"""
_store_cookie = st.components.v2.component("vae_explorer_owner_cookie", js=_JS)


def browser_owner() -> str:
    """The token naming this browser: from its cookie, else a new one that is stored in it."""
    token = st.context.cookies.get(COOKIE) if st.context.cookies else None
    if token and _TOKEN.fullmatch(token):
        return token
    with st.sidebar:
        _store_cookie(data={"name": COOKIE, "token": state.get("owner")}, key="owner_cookie", height=0)
    return state.get("owner")

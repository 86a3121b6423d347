"""The view's link: the URL names the dataset, how many models and each side's model, so a link or a
reload gives the same page, and the browser's Back and Forward walk the views seen.

The page writes the URL when the view changes, and Streamlit makes each write a new history entry
(the open tab is Streamlit's own parameter). A URL the page did not write last is news: the first
run's, or an older one that Back or Forward brought back. `arrived()` reads it, the sidebar adopts
what it asks for before its widgets are drawn, and the page writes back only what it shows, so the
entries of the history are never rewritten. What a link asks for and cannot be had is said above
the tabs until the view changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from . import state
from .settings import SIDES
from .text import plain

DATASET, COUNT, TAB = "dataset", "n", "tab"  # the tab is Streamlit's own parameter (st.tabs bind=)
KEYS = (DATASET, COUNT, *(s.lower() for s in SIDES))


@dataclass
class Arrived:
    """A URL that is news to the page: what it asks for (text), and what of it cannot be had."""

    asked: dict[str, str]
    problems: list[str] = field(default_factory=list)


def shown(value: str, limit: int = 60) -> str:
    """A value from the URL as a message quotes it: short, and as written."""
    text = value if len(value) <= limit else value[:limit] + "…"
    return f"“{plain(text)}”"


def asked() -> dict[str, str]:
    """The page's own parameters in the URL now."""
    return {k: st.query_params[k] for k in KEYS if k in st.query_params}


def arrived() -> Arrived | None:
    """The URL's view when it is news to this session (first run, Back, Forward), else None."""
    now = asked()
    return None if now == state.get("link_written") else Arrived(now)


def write(dataset: str, slots, news: Arrived | None) -> None:
    """Make the URL name the view on screen (one write, so one history entry) and remember it; keep a
    link's problems on screen until the view changes. Call after state.sync()."""
    wanted = {DATASET: dataset, COUNT: str(len(slots)), **{s.side.lower(): s.entry.name for s in slots if s.entry}}
    now = asked()
    if now != wanted:
        gone = {k: [] for k in now if k not in wanted}  # an empty list drops the key in the same write
        st.query_params.update({**wanted, **gone})
    state.set("link_written", wanted)
    notice = state.get("link_notice")
    if news is not None and news.problems:
        state.set("link_notice", {"link": wanted, "problems": news.problems})
    elif notice is not None and notice["link"] != wanted:
        state.set("link_notice", None)


def adopt_tab(news: Arrived | None, titles: list[str]) -> None:
    """Back and Forward bring their entry's tab too (Streamlit reads a bound widget's parameter only
    when the session starts). Call before the tabs are drawn."""
    if news is not None:
        wanted = st.query_params.get(TAB)
        st.session_state[TAB] = wanted if wanted in titles else titles[0]


def notice_ui() -> None:
    notice = state.get("link_notice")
    if notice:
        st.info("**This link asks for what is not here.** " + " ".join(notice["problems"]))

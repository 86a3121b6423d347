"""VAE Explorer: a standard VAE and an MMD-VAE side by side on MNIST or Fashion-MNIST.

Run with `streamlit run explorer_app.py` (add `-- --data-dir DIR` to name the data folder).
This file is the page's table of contents; its parts live in the `explorer` package:
state.py declares every piece of session state, cache.py calls vae_core, views/ draw the tabs.
"""
from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="VAE Explorer", page_icon="🧭", layout="wide")

from explorer import cache, data, identity, link, replica, settings, sidebar, state  # noqa: E402
from explorer.page import Page  # noqa: E402
from explorer.views import interpolation, latent, samples, train  # noqa: E402

VIEWS = (latent, interpolation, samples, train)  # one tab each, in this order


def main() -> None:
    st.sidebar.title("VAE Explorer")
    listing = sidebar.model_listing()
    news = link.arrived()  # a link, a reload, Back or Forward: the view the URL names
    dataset = sidebar.dataset_ui(listing, news)
    data_dir = settings.data_dir()
    record = data.dataset_record(dataset, data_dir)
    test, data_error = data.load_test_set(dataset, data_dir)
    slots = sidebar.models_ui(dataset, record, listing, news)
    page = Page(dataset, data_dir, slots, test, data_error, record=record,
                listed=frozenset(str(e.path.resolve()) for e in listing))
    for s in slots:
        if s.ok:
            s.codes = cache.latent_codes(s.path, s.stamp, test, page.test_key)
    state.sync(page.context())  # before any widget bound to page state is drawn
    page.owner = identity.browser_owner()
    sidebar.figures_ui(slots, dataset)
    link.write(dataset, slots, news)

    st.title(f"VAE Explorer · {page.info.title}")
    replica.moved_replica_notice()
    link.notice_ui()
    replica.rerun_after_reconnect()
    if data_error:
        data.draw_missing(dataset, data_dir, data_error)
    # Only the open tab runs and is sent (a tab switch is a rerun); the URL remembers the tab.
    link.adopt_tab(news, [v.TITLE for v in VIEWS])
    tabs = st.tabs([v.TITLE for v in VIEWS], key=link.TAB, on_change="rerun", bind="query-params")
    for tab, view in zip(tabs, VIEWS):
        if tab.open:
            with tab:
                view.draw(page)


main()

"""Dashboard input widgets, kept across pages and in the URL, and the per-run bookkeeping behind them
(which widgets this run drew, which values code set).  Pages reach them through `ui`."""

from __future__ import annotations

import streamlit as st

# ---- state: every setting in the URL, kept across pages ------------------------------------------
#
# Every input widget is made by the wrappers below with Streamlit's own binding (1.67):
# `bind="query-params"` writes its value into the URL while it differs from the widget's default
# (so a link or a reload restores the page) and `persist_state="session"` keeps it when the user
# leaves the page and comes back.  A value the dashboard itself sets through `st.session_state`
# (a range following its nominal value, a saved scenario reloaded) is created that run without a
# default, as Streamlit asks, so no "default value but also set via the Session State API" warning.

KEEP = {"bind": "query-params", "persist_state": "session"}
_SET_NOW = "_ui_set_now"  # widget keys set through the Session State API before this run's widgets
_SET_NEXT = "_ui_set_next"  # ... set in a callback, for the run that follows it
RUN_KEYS = "_ui_run_keys"  # the widget keys this run drew, in order (a saved scenario's snapshot)
RANGED_FROM = "_ui_ranged_from"  # low/high widget key -> the value derived from its nominal last run
SAVED_KEY = "saved_scenarios"  # session: page -> name -> saved scenario


def page(title: str, intro: str) -> None:
    """Page config, title and a one-paragraph explanation of what the page answers; resets the
    per-run widget bookkeeping of the wrappers below."""
    st.set_page_config(page_title=f"glamsim · {title}", layout="wide")
    ss = st.session_state
    ss[_SET_NOW] = ss.get(_SET_NEXT, set())
    ss[_SET_NEXT] = set()
    ss[RUN_KEYS] = []
    st.title(title)
    st.markdown(intro)


def set_state(key: str, value, *, in_callback: bool = False) -> None:
    """Set a widget's value from code (the widget, drawn later, then takes no default)."""
    st.session_state[key] = value
    st.session_state.setdefault(_SET_NEXT if in_callback else _SET_NOW, set()).add(key)


def drawn(key: str) -> bool:
    """Record the widget; True when code set its value for this run (draw it without a default)."""
    st.session_state.setdefault(RUN_KEYS, []).append(key)
    return key in st.session_state.get(_SET_NOW, ())


def number(label: str, key: str, value=None, **kw):
    """st.number_input, kept across pages and in the URL."""
    return st.number_input(label, value=None if drawn(key) else value, key=key, **KEEP, **kw)


def select(label: str, options: list, key: str, default=None, **kw):
    """st.selectbox starting at `default` (the first option when it is missing), kept and in the URL."""
    index = options.index(default) if default in options else 0
    return st.selectbox(label, options, index=0 if drawn(key) else index, key=key, **KEEP, **kw)


def check(label: str, key: str, value: bool = False, **kw) -> bool:
    return st.checkbox(label, value=False if drawn(key) else value, key=key, **KEEP, **kw)


def slider(label: str, low, high, value, step, key: str, **kw):
    return st.slider(label, low, high, None if drawn(key) else value, step, key=key, **KEEP, **kw)


def radio(label: str, options: list, key: str, default=None, **kw):
    index = options.index(default) if default in options else 0
    return st.radio(label, options, index=0 if drawn(key) else index, key=key, **KEEP, **kw)


def multiselect(label: str, options: list, key: str, default=None, **kw) -> list:
    return st.multiselect(label, options, default=None if drawn(key) else default, key=key, **KEEP, **kw)

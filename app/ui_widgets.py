"""Dashboard input widgets, kept across pages and in the URL, and the per-run bookkeeping behind them
(which widgets this run drew, which values code set).  Pages reach them through `ui`."""

from __future__ import annotations

import streamlit as st

from glamsim.config import ConfigError, parse_float, parse_int
from glamsim.formatting import safe_line

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
    st.html(CHART_CSS)
    st.title(title)
    st.markdown(intro)


# A chart wider than its column (a multi-panel chart at 800 px) scrolls inside the column instead of
# being cut at its edge (tests/test_app_browser.py checks every chart at 800 and 1,280 px).
CHART_CSS = '<style>[data-testid="stVegaLiteChart"] { max-width: 100%; overflow-x: auto; }</style>'


def set_state(key: str, value, *, in_callback: bool = False) -> None:
    """Set a widget's value from code (the widget, drawn later, then takes no default)."""
    st.session_state[key] = value
    st.session_state.setdefault(_SET_NEXT if in_callback else _SET_NOW, set()).add(key)


def drawn(key: str) -> bool:
    """Record the widget; True when code set its value for this run (draw it without a default)."""
    st.session_state.setdefault(RUN_KEYS, []).append(key)
    return key in st.session_state.get(_SET_NOW, ())


def url_number(key: str, integer: bool, low=None, high=None) -> None:
    """Drop this widget's value from the URL when the strict parser refuses it (`?t_chips=1e400`,
    `?t_chips=²`, out of the widget's range), with one error line; Streamlit would raise on it."""
    text = st.query_params.get(key)
    if text is None:
        return
    try:
        v = parse_int(text, key) if integer else parse_float(text, key)
        for bad, why in ((low is not None and v < low, f">= {low}"), (high is not None and v > high, f"<= {high}")):
            if bad:
                raise ConfigError(f"{key}={text!r}: must be {why}")
    except ConfigError as err:
        del st.query_params[key]
        _forget_url_value(key)
        st.error(safe_line(f"URL value ignored: {' '.join(str(err).split())}"), icon="⚠️")


def _forget_url_value(key: str) -> None:
    """Streamlit seeds a bound widget from the URL as the page was loaded, not from st.query_params
    (1.67: `QueryParams._initial_query_params`), and raises on what it cannot convert (an
    OverflowError for 1e400 in an integer field): forget that copy too."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is not None:
        with ctx.session_state.query_params() as qp:
            getattr(qp, "_initial_query_params", {}).pop(key, None)


def number(label: str, key: str, value=None, **kw):
    """st.number_input, kept across pages and in the URL."""
    integer = all(isinstance(x, int) for x in (value, kw.get("step"), kw.get("min_value")) if x is not None)
    url_number(
        key, integer and any(x is not None for x in (value, kw.get("step"))), kw.get("min_value"), kw.get("max_value")
    )
    return st.number_input(label, value=None if drawn(key) else value, key=key, **KEEP, **kw)


def url_choice(key: str, options: list, default) -> None:
    """One warning line when the link names a choice this widget does not have (a misspelt chip, a
    model uploaded in another session): it is ignored and the page says what it shows instead."""
    text = st.query_params.get(key)
    if text is None or any(str(o) == text for o in options):
        return
    shown = default if default in options else (options[0] if options else None)
    st.warning(
        safe_line(f"Link value ignored: {key}={text!r} is none of the {len(options)} choices here; showing {shown!r}."),
        icon="⚠️",
    )


def _keyed(widget, label: str, options: list, key: str, default, **kw):
    """A choice widget whose link holds the option itself, never its label: Streamlit's binding
    writes the `format_func` label into the URL (1.67), and a label can carry data (a datacenter's
    carbon intensity), so these keep their own query parameter."""
    url_choice(key, options, default)
    index = options.index(default) if default in options else 0
    text = st.query_params.get(key)
    from_url = next((i for i, o in enumerate(options) if str(o) == text), None) if text is not None else None
    if from_url is not None and key not in st.session_state:
        set_state(key, options[from_url])  # a link opens the page: its value, not the default
    code_set = drawn(key)
    value = widget(label, options, index=0 if code_set else index, key=key, persist_state="session", **kw)
    if value is None:
        value = options[index]
    if value == options[index]:
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != str(value):
        st.query_params[key] = str(value)
    return value


def select(label: str, options: list, key: str, default=None, **kw):
    """st.selectbox starting at `default` (the first option when it is missing), kept and in the URL
    (the option's own text: a key, never a label)."""
    if kw.get("format_func") is not None:
        return _keyed(st.selectbox, label, options, key, default, **kw)
    url_choice(key, options, default)
    index = options.index(default) if default in options else 0
    return st.selectbox(label, options, index=0 if drawn(key) else index, key=key, **KEEP, **kw)


def check(label: str, key: str, value: bool = False, **kw) -> bool:
    return st.checkbox(label, value=False if drawn(key) else value, key=key, **KEEP, **kw)


def slider(label: str, low, high, value, step, key: str, **kw):
    if not isinstance(value, (tuple, list)):
        url_number(key, all(isinstance(x, int) for x in (low, high, step)), low, high)
    return st.slider(label, low, high, None if drawn(key) else value, step, key=key, **KEEP, **kw)


def radio(label: str, options: list, key: str, default=None, **kw):
    if kw.get("format_func") is not None:
        return _keyed(st.radio, label, options, key, default, **kw)
    url_choice(key, options, default)
    index = options.index(default) if default in options else 0
    return st.radio(label, options, index=0 if drawn(key) else index, key=key, **KEEP, **kw)


def multiselect(label: str, options: list, key: str, default=None, **kw) -> list:
    unknown = [t for t in st.query_params.get_all(key) if not any(str(o) == t for o in options)]
    if unknown:
        st.warning(safe_line(f"Link value ignored: {key}={', '.join(map(repr, unknown))}: not among the choices here."))
    return st.multiselect(label, options, default=None if drawn(key) else default, key=key, **KEEP, **kw)

"""Saved scenarios: a page's settings under a name, kept for this session, loaded back or downloaded.
Pages reach them through `ui`."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st
from ui_results import DOWNLOAD, plain_table
from ui_widgets import RANGED_FROM, RUN_KEYS, SAVED_KEY, set_state

from glamsim.formatting import jsonable

SUMMARY_FIELDS = ("chip", "chips", "tokens", "batch", "mfu", "datacenter")  # shown in the list of saved scenarios


def _save(page_key: str, widgets: dict, scenarios: dict) -> None:
    store = st.session_state.setdefault(SAVED_KEY, {}).setdefault(page_key, {})
    name = (st.session_state.get(f"{page_key}_save_name") or "").strip() or f"scenario {len(store) + 1}"
    store[name] = {"settings": widgets, "scenarios": scenarios}
    st.session_state[f"{page_key}_saved_pick"] = name


def _load(page_key: str) -> None:
    store = st.session_state.get(SAVED_KEY, {}).get(page_key, {})
    saved = store.get(st.session_state.get(f"{page_key}_saved_pick"))
    if saved is None:
        return
    for key, value in saved["settings"].items():
        if st.session_state.get(key) != value:
            set_state(key, value, in_callback=True)
    st.session_state[RANGED_FROM] = {}  # the loaded low/high are the user's own, not derived


def saved_scenarios(page_key: str, scenarios: dict[str, dict]) -> None:
    """Save this page's settings under a name (kept for this session), list them, load one back, and
    download them all as JSON (each with its settings and its scenarios).  Call it after every input
    widget of the page: the snapshot is what they show now."""
    store = st.session_state.setdefault(SAVED_KEY, {}).setdefault(page_key, {})
    widgets = {k: st.session_state.get(k) for k in dict.fromkeys(st.session_state.get(RUN_KEYS, []))}
    with st.expander(f"Saved scenarios ({len(store)})", expanded=bool(store)):
        row = st.container(horizontal=True, vertical_alignment="bottom")
        row.text_input("Name", key=f"{page_key}_save_name", placeholder=f"scenario {len(store) + 1}", width=220)
        row.button(
            "Save this scenario", key=f"{page_key}_save", on_click=_save, args=(page_key, jsonable(widgets), scenarios)
        )
        if not store:
            st.caption(
                "Saved scenarios stay for this browser session; the page's link (its URL) keeps the settings shown now."
            )
            return
        plain_table(
            pd.DataFrame(
                [
                    {
                        "name": n,
                        "compared": ", ".join(v["scenarios"]),
                        "first scenario": ", ".join(f"{k}={s[k]}" for k in SUMMARY_FIELDS if k in s),
                    }
                    for n, v in store.items()
                    for s in [next(iter(v["scenarios"].values()), {})]
                ]
            ),
            "name",
        )
        row = st.container(horizontal=True, vertical_alignment="bottom")
        row.selectbox("Saved scenario", list(store), key=f"{page_key}_saved_pick", width=220)
        row.button("Load", key=f"{page_key}_load", on_click=_load, args=(page_key,))
        row.download_button(
            "Saved (JSON)",
            json.dumps(jsonable(store), indent=2),
            f"{page_key}-scenarios.json",
            "application/json",
            key=f"{page_key}_saved_json",
            icon=DOWNLOAD,
            help="every saved scenario: its settings and its glamsim scenarios",
        )

"""Dashboard results as read: values formatted by the output registry, result tables, metric cards,
downloads that carry their scenario, the statement for a paper and the ledger.  Pages reach them
through `ui`."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import streamlit as st

from glamsim.formatting import fmt, jsonable

MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$])")  # escaped in text that st.error, st.success and st.table render


def label(column: str) -> str:
    """A column's label with its unit, from the output registry (the same on every face)."""
    from glamsim.outputs import label as registry_label

    return registry_label(column)


def value_text(key: str, value) -> str:
    """A value as the output registry formats its key (174.6B parameters, 2,048 chips)."""
    from glamsim.outputs import format_value

    return format_value(key, value)


def results_table(rows: dict[str, dict], names: dict[str, str], ranges: dict[str, dict] | None = None) -> pd.DataFrame:
    """Quantities as rows (`names`: key -> readable name with unit), one column per scenario (exact
    values), low/high columns where ranged, and the machine-readable key last."""
    out = pd.DataFrame({"quantity": list(names.values())})
    for name, values in rows.items():
        out[name] = [values.get(q) for q in names]
        for end, i in (("low", 0), ("high", 1)):
            r = (ranges or {}).get(name) or {}
            if r:
                out[f"{name} {end}"] = [r[q][i] if q in r else None for q in names]
    out["key"] = list(names)
    return out


def _known(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _ranged_cell(key: str, value, low, high) -> str:
    text = value_text(key, value)
    return f"{text} ({value_text(key, low)} – {value_text(key, high)})" if _known(low) and _known(high) else text


def shown_results(df: pd.DataFrame) -> pd.DataFrame:
    """A results table as read: each value formatted by its row's key (174.6B, 2,048), one column per
    scenario, a range written beside its nominal value ("456.3 (380.1 – 570.2)")."""
    out = pd.DataFrame({"quantity": df["quantity"]})
    for col in df.columns:
        if col in ("quantity", "key") or (col.endswith((" low", " high")) and col.rsplit(" ", 1)[0] in df.columns):
            continue
        lo, hi = df.get(f"{col} low"), df.get(f"{col} high")
        out[col] = [
            _ranged_cell(k, v, None if lo is None else lo.iloc[i], None if hi is None else hi.iloc[i])
            for i, (k, v) in enumerate(zip(df["key"], df[col]))
        ]
    return out


def formatted(df: pd.DataFrame) -> pd.DataFrame:
    """A table with every number as text, formatted by its column's key (tokens 600B, chips 2,048)."""
    return pd.DataFrame({c: [v if isinstance(v, str) else value_text(str(c), v) for v in df[c]] for c in df.columns})


def show_table(df: pd.DataFrame, key: str, *, wrap: bool = False) -> None:
    """A table read whole: numbers formatted (a results table with a `key` column by row, any other by
    column), every row visible.  A ranged results table and, with `wrap`, a table of long text
    (sources, notes) get columns narrow enough to fit a narrow page, their text wrapping in taller rows
    instead of being cut."""
    shown = shown_results(df) if "key" in df else formatted(df)  # the key column is for the CSV download
    ranged = "key" in df and any(str(c).endswith(" low") for c in df.columns)
    row, kw = _fitted(shown, RESULTS_PX if ranged else FIT_PX) if (wrap or ranged) and len(shown) else (35, {})
    st.dataframe(shown, hide_index=True, width="stretch", height=row * len(df) + 38, key=key, **kw)


FIT_PX, RESULTS_PX = 560, 470  # px: the narrowest page width and results column (1,280 px wide) aimed at
PX_PER_CHAR, SHORT_CHARS, MAX_LINES = 7, 22, 6  # table text; a column that never wraps; a wrapped row's lines


def _fitted(shown: pd.DataFrame, fit_px: int) -> tuple[int, dict]:
    """(row height, st.dataframe keywords): short columns as wide as their text, long ones sharing what
    is left of `fit_px` (wider pages stretch them), rows tall enough for the longest text to wrap."""
    chars = {c: max([len(str(c))] + [len(v) if isinstance(v, str) else 0 for v in shown[c]]) for c in shown.columns}
    widths = {c: n * PX_PER_CHAR + 18 for c, n in chars.items() if n <= SHORT_CHARS}
    long = [c for c in chars if c not in widths]
    if not long:
        return 35, {}
    each = max(110, (fit_px - sum(widths.values())) // len(long))
    lines = min(MAX_LINES, max(math.ceil(chars[c] * PX_PER_CHAR / (each - 18)) for c in long))
    row = 35 if lines <= 1 else max(WRAP_ROW, 21 * lines + 14)
    config = {c: st.column_config.TextColumn(width=widths.get(c, each)) for c in shown.columns}
    return row, {"row_height": row, "column_config": config}


WRAP_ROW = 66  # px: Streamlit wraps cell text only in rows taller than 4rem (64 px)


def md_cell(v):
    """A cell for st.table, which renders Markdown: special characters escaped, so that "-" stays a dash
    (not a list bullet) and "N_active" no emphasis."""
    if not isinstance(v, str):
        return v
    v = MARKDOWN_SPECIAL.sub(r"\\\1", v)
    v = re.sub(r"^(\d+)([.)])(?=\s|$)", r"\1\\\2", v)  # "1. x" is no ordered list
    return "\\" + v if v[:1] in ("-", "+") else v  # "-" is no bullet


def plain_table(df: pd.DataFrame, index: str) -> None:
    """A static table (st.table) with numbers formatted by column: every cell wraps to fit the page,
    nothing is cut.  For short tables with long text (sources, notes)."""
    st.table(formatted(df).map(md_cell).set_index(index))


def plausibility_warnings(values: dict, widgets: dict[str, str]) -> None:
    """One `st.warning` per input that looks like a unit slip (`glamsim.plausible`: the rules and words
    of the Python front door and the command line), the field's name replaced by its widget's label
    (`widgets`: field -> label): `*Power per chip (W)* = 0.7: outside 10 W to 5 kW per chip: ...`."""
    from glamsim.plausible import plausibility

    for line in plausibility(values):
        name, rest = line.split("=", 1)
        st.warning(f"*{md_cell(widgets.get(name, name))}* = {md_cell(rest)}", icon="⚠️")


def cards(items: list[dict]) -> None:
    """Metric cards (`st.metric` keywords) in a row that wraps: each card as wide as its content, so no
    value or label is ever cut, however narrow the page.  Keep values short and units in the labels."""
    with st.container(horizontal=True, gap="medium"):
        for item in items:
            st.metric(**item, width="content")


NO_PRICE = "n/a — the profile has no public price; enter one"
DOWNLOAD = ":material/download:"


def ledger_frame(ledger_list: list[dict]) -> pd.DataFrame:
    """The ledger as a table, values as text (a number, a low/nominal/high triple, a name)."""
    return pd.DataFrame(
        [
            {**e, "value": ", ".join(map(fmt, e["value"])) if isinstance(e["value"], list) else fmt(e["value"])}
            for e in ledger_list
        ]
    )


def scenario_of(est) -> dict:
    """The scenario an estimate was computed from, as JSON data: the model, chip and datacenter always
    named, every other field where it differs from its default (`est.to_dict()["scenario"]`)."""
    s = est.scenario
    named = {k: getattr(s, k) for k in ("model", "chip", "datacenter") if isinstance(getattr(s, k, None), str)}
    return jsonable({**named, **(est.to_dict()["scenario"] or {})})


def with_scenarios(table: pd.DataFrame, scenarios: dict[str, dict]) -> pd.DataFrame:
    """The results table with each column's scenario below it: one row per field ("scenario: chips"),
    so that a CSV alone says what was computed."""
    fields = list(dict.fromkeys(f for s in scenarios.values() for f in s))
    text = lambda v: v if isinstance(v, str) or v is None else json.dumps(v)  # noqa: E731
    rows = pd.DataFrame(
        {
            "quantity": [f"scenario: {f}" for f in fields],
            "key": [f"scenario.{f}" for f in fields],
            **{name: [text(s.get(f)) for f in fields] for name, s in scenarios.items()},
        }
    )
    return pd.concat([table.astype(object), rows], ignore_index=True)[list(table.columns)]


def downloads(
    stem: str,
    table: pd.DataFrame,
    payload: dict,
    statement: str,
    json_label: str = "JSON + ledger",
    scenarios: dict[str, dict] | None = None,
) -> None:
    """CSV of the results table, JSON of everything (results, ranges, tornado, ledger), the statement;
    with `scenarios` (column name -> scenario), each of the three carries them."""
    if scenarios:
        table = with_scenarios(table, scenarios)
        payload = {**payload, "scenarios": scenarios}
        statement += "".join(
            f"\n\nScenario of {name} (glamsim fields, defaults omitted): {json.dumps(s)}"
            for name, s in scenarios.items()
        )
    row = st.container(horizontal=True)  # buttons as wide as their labels, wrapping when the page is narrow
    row.download_button(
        "CSV",
        table.to_csv(index=False),
        f"{stem}.csv",
        "text/csv",
        key=f"{stem}_csv",
        icon=DOWNLOAD,
        help="the results table, with each column's scenario below it",
    )
    row.download_button(
        json_label,
        json.dumps(jsonable(payload), indent=2),
        f"{stem}.json",
        "application/json",
        key=f"{stem}_json",
        icon=DOWNLOAD,
    )
    row.download_button(
        "Statement",
        statement,
        f"{stem}.txt",
        "text/plain",
        key=f"{stem}_txt",
        icon=DOWNLOAD,
        help="the paragraph for a paper, as text",
    )


def statement_box(statements: dict[str, str]) -> str:
    """The plain-language paragraph of each estimate (one tab each); returns them joined for download."""
    st.subheader("Statement for a paper")
    st.caption("Generated from the estimate and its ledger; copy it with the icon at its top right.")
    for tab, text in zip(st.tabs(list(statements)), statements.values()):
        tab.code(text, language=None, wrap_lines=True)
    return "\n\n".join(statements.values())


def ledger_box(ledger_list: list[dict], title: str = "Ledger: every input and its source") -> None:
    with st.expander(title):
        show_table(ledger_frame(ledger_list), f"ledger_{title}", wrap=True)


PUBLISHED_MFU = re.compile(r"MFU (\d+(?:\.\d+)?)(?: of the (\w+) peak)? published")


def published_mfu_cards(note: str | None) -> list[dict]:
    """The card of the published run's MFU in a ledger's `published_run` note (none without one),
    naming the peak it counts against where the note does (an fp8 run beside a bf16 estimate)."""
    got = PUBLISHED_MFU.search(note or "")
    if not got:
        return []
    peak = f" ({got.group(2)} peak)" if got.group(2) else ""
    return [dict(label=f"Published run's MFU{peak}", value=f"{float(got.group(1)):.3f}")]

"""Shared dashboard helpers: page set-up, profile choices (with this session's uploads), uncertain
inputs, cached figures, result tables and downloads.

The dashboard holds no numbers of its own: every figure shown comes from the glamsim API.  Nothing
here imports JAX (only the Measure page does, when a measurement is run).
"""

from __future__ import annotations

import inspect
import io
from typing import get_args
import math
import json
import re
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from glamsim.formatting import fmt, jsonable
from glamsim.config import NAME_PATTERN, ConfigError, model_presets, parse_json, parse_yaml, show, validate_as
from glamsim.cost import resolve
from glamsim.cost.ledger import Ledger
from glamsim.scenario import Scenario, TrainingScenario
from glamsim.uncertain import parse_uncertain
from glamsim.profiles import ChipProfile, DatacenterProfile, Dtype, registry

MEASUREMENT_KEY = "measurement"  # session: the last Measurement (run or uploaded), for the training page
USE_MEASUREMENT_KEY = "use_measurement"
UPLOAD_DIR_KEY = "profiles_dir"  # session: a temp folder with chips/ and datacenters/ uploaded this session
PROFILE_KINDS = {"chips": ChipProfile, "datacenters": DatacenterProfile}
PROFILE_MAX_BYTES = 256 * 1024  # a profile YAML (the built-in ones are 2-4 KiB)
MEASUREMENT_MAX_BYTES = 1024 * 1024  # a measurement JSON (glamsim writes 3-6 KiB)
MAX_UPLOADED_PROFILES = 50  # per kind and session: every page re-reads them on each render
UPLOAD_WIDGET_MB = 1  # what the browser lets through to these two uploaders (server.maxUploadSize caps all)


def page(title: str, intro: str) -> None:
    """Page config, title and a one-paragraph explanation of what the page answers."""
    st.set_page_config(page_title=f"glamsim · {title}", layout="wide")
    st.title(title)
    st.markdown(intro)


def profiles_dirs() -> tuple[str, ...]:
    """This session's uploaded-profile folder (for every `profiles_dirs=` argument), if any."""
    d = st.session_state.get(UPLOAD_DIR_KEY)
    return (d,) if d else ()


def upload_dir() -> Path:
    if UPLOAD_DIR_KEY not in st.session_state:
        root = Path(tempfile.mkdtemp(prefix="glamsim-profiles-"))
        for kind in ("chips", "datacenters"):
            (root / kind).mkdir()
        st.session_state[UPLOAD_DIR_KEY] = str(root)
    return Path(st.session_state[UPLOAD_DIR_KEY])


def profiles(kind: str) -> dict:
    """Chips or datacenters by name, built-in and uploaded this session."""
    return registry(kind, profiles_dirs())


def pick(label: str, options: list[str], default: str, key: str, **kw) -> str:
    """A selectbox starting at `default` (or the first option when it is missing)."""
    index = options.index(default) if default in options else 0
    return st.selectbox(label, options, index=index, key=key, **kw)


def pick_model(label: str, default: str, key: str, **kw):
    presets = model_presets()
    return presets[pick(label, list(presets), default, key, format_func=lambda n: describe_model(presets[n]), **kw)]


def label(column: str) -> str:
    """A column's label with its unit, from the output registry (the same on every face)."""
    from glamsim.outputs import label as registry_label

    return registry_label(column)


def profile_arg(kind: str, name: str) -> str:
    """A profile as the vectorised API takes it: its uploaded file when this session uploaded one by
    that name, else the name (a built-in profile)."""
    path = upload_dir() / kind / f"{name}.yaml" if profiles_dirs() else None
    return str(path) if path is not None and path.is_file() else name


def describe_model(cfg) -> str:
    kind = f"MoE {cfg.n_experts} experts, top-{cfg.top_k}" if cfg.is_moe else "dense"
    return f"{cfg.name} ({kind})"


def uncertain(label: str, key: str, default: float | None, default_source: str | None = None, *, ranged: bool,
              step: float, fmt_str: str = "%.4g", min_value: float | None = None,
              max_value: float | None = None, help: str | None = None):
    """A number, or (low, nominal, high) when `ranged` (low/high start at -20% / +20%).

    Returns (value, source).  With `default_source` (the default is a profile's figure), a value
    left at the default comes back as None, so the cost model's ledger cites the profile itself."""
    kw = dict(step=step, format=fmt_str, min_value=min_value, max_value=max_value)
    mine = f"dashboard input: {label}"
    if default is None or not math.isfinite(default):  # the profile lacks the figure: the user may give it
        v = st.number_input(f"{label} (not in the profile)", value=None, key=key, help=help, **kw)
        return (None, "") if v is None else (v, mine)
    if not ranged:
        v = st.number_input(label, value=float(default), key=key, help=help, **kw)
        return (None, "") if default_source and v == default else (v, mine)
    st.markdown(f"**{label}** — low / nominal / high", help=help)
    lo_default = max(default * 0.8, min_value) if min_value is not None else default * 0.8
    hi_default = min(default * 1.2, max_value) if max_value is not None else default * 1.2
    c = st.columns(3)
    lo = c[0].number_input("low", value=float(lo_default), key=f"{key}_lo", label_visibility="collapsed", **kw)
    nom = c[1].number_input("nominal", value=float(default), key=key, label_visibility="collapsed", **kw)
    hi = c[2].number_input("high", value=float(hi_default), key=f"{key}_hi", label_visibility="collapsed", **kw)
    source = f"{mine} (low and high)" + (f"; nominal from {default_source}" if default_source and nom == default
                                         else " (nominal)")
    try:
        return parse_uncertain(f"{lo!r},{nom!r},{hi!r}", label), source
    except ConfigError as err:  # low > nominal or nominal > high: say so and compute nothing
        show_error(err)
        st.stop()


def profile_defaults(chip=None, datacenter=None) -> dict[str, tuple[float | None, str]]:
    """The figures the cost model takes from a chip or datacenter profile when none is given, with
    their sources (its own resolution rules: measured system power, else TDP; net carbon intensity)."""
    led, defaults = Ledger(), TrainingScenario()
    if chip is not None:
        resolve.power(chip, defaults, led)
        resolve.price(chip, defaults, led)
    if datacenter is not None:
        resolve.datacenter(datacenter, defaults, led)
    return {e.name: (e.value, e.source) for e in led.entries}


def scenario_inputs(cls: type[Scenario], names: list[str], prefix: str) -> dict:
    """Widgets for scenario fields, built from the fields' own metadata (unit, help, default and its
    source, allowed range).  Returns the fields the user set; an untouched field keeps its default."""
    out = {}
    for name in names:
        meta, f = cls.meta(name), cls.model_fields[name]
        label = name.replace("_", " ") + (f" ({meta['unit']})" if meta["unit"] else "")
        help_text = f"{meta['help']}. Default: {'-' if f.default is None else f.default} ({meta['source']})."
        key = f"{prefix}_{name}"
        if name == "dtype":
            v = st.selectbox(label, [None, *get_args(Dtype)], key=key, help=help_text,
                             format_func=lambda d: "the chip's default" if d is None else d)
        elif name == "measured":
            continue  # the Measure page carries a record over (see the training page)
        else:
            num = int if "int" in str(f.annotation) else float
            bounds = meta["bounds"]
            low, high = bounds.get("ge", bounds.get("gt")), bounds.get("le")
            v = st.number_input(label, value=None if f.default is None else num(f.default), key=key, help=help_text,
                                placeholder="default", min_value=None if low is None else num(low),
                                max_value=None if high is None else num(high), step=1 if num is int else None,
                                format=None if num is int else "%.4g")
        if v is not None and v != f.default:
            out[name] = v
    return out


def vs(value: float, baseline: float) -> str | None:
    """'-62%' against the baseline, for a metric's delta (None when either is unknown)."""
    if not (math.isfinite(value) and math.isfinite(baseline)) or baseline == 0:
        return None
    return f"{value / baseline - 1:+.0%}"


def show_error(err: ConfigError) -> None:
    """The error as one line (whatever line breaks a parser put into its message)."""
    st.error(" ".join(str(err).split()), icon="⚠️")


# ---- uploads: parsed from the uploaded bytes; the client's file name is only ever shown, never a path ----

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$])")


def shown_name(client_name: str | None, limit: int = 80) -> str:
    """The client's file name as message text: printable, one line, at most `limit` characters, with
    Markdown's special characters escaped (st.error and st.success render Markdown)."""
    name = " ".join("".join(c if c.isprintable() else "?" for c in str(client_name or "")).split()) or "upload"
    if len(name) > limit:
        name = name[:limit - 1] + "…"
    return _MARKDOWN_SPECIAL.sub(r"\\\1", name)


def uploader_limit() -> dict:
    """`max_upload_size=` (a browser-side cap) for st.file_uploader where this Streamlit has it (1.67 does)."""
    has = "max_upload_size" in inspect.signature(st.file_uploader).parameters
    return {"max_upload_size": UPLOAD_WIDGET_MB} if has else {}


def upload_text(data: bytes, client_name: str | None, max_bytes: int) -> tuple[str, str]:
    """The uploaded bytes as text and the name to show in messages, or a one-line ConfigError
    (too large, empty, not UTF-8).  A leading byte-order mark is dropped."""
    where = shown_name(client_name)
    if len(data) > max_bytes:
        most = f"{max_bytes / 2**20:g} MiB" if max_bytes >= 2**20 else f"{max_bytes / 2**10:g} KiB"
        raise ConfigError(f"{where}: {len(data):,} bytes; an upload here may have at most {max_bytes:,} ({most})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{where}: not UTF-8 text (byte {err.start} is {data[err.start]:#04x})") from None
    if not text.strip():
        raise ConfigError(f"{where}: empty file")
    return text, where


def parse_profile(kind: str, data: bytes, client_name: str | None):
    """An uploaded chip or datacenter profile, validated from its bytes: (profile, YAML text)."""
    if kind not in PROFILE_KINDS:
        raise ConfigError(f"kind={show(kind)}: expected one of {', '.join(PROFILE_KINDS)}")
    text, where = upload_text(data, client_name, PROFILE_MAX_BYTES)
    return validate_as(PROFILE_KINDS[kind], parse_yaml(text, where), where), text


def save_profile(kind: str, prof, text: str) -> Path:
    """Write a validated profile as `<upload dir>/<kind>/<name>.yaml` (its name, never the client's file
    name), so that every page's registry finds it; returns the path."""
    if kind not in PROFILE_KINDS:
        raise ConfigError(f"kind={show(kind)}: expected one of {', '.join(PROFILE_KINDS)}")
    if not re.fullmatch(NAME_PATTERN, prof.name):  # validation already refused it; never build a path from it
        raise ConfigError(f"name={show(prof.name)}: letters, digits, '.', '_' and '-' only")
    root = upload_dir().resolve()
    folder = (root / kind).resolve()
    path = (folder / f"{prof.name}.yaml").resolve()
    if path.parent != folder or not path.is_relative_to(root):
        raise ConfigError(f"name={show(prof.name)}: not a file name inside the upload folder")
    present = {p.stem for p in folder.glob("*.yaml")}
    if prof.name not in present and len(present) >= MAX_UPLOADED_PROFILES:
        raise ConfigError(f"{prof.name}: this session already has {len(present)} uploaded {kind}, the most it keeps")
    tmp = folder / f".{prof.name}.upload"  # not *.yaml: the registry never sees half a file
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def parse_measurement(data: bytes, client_name: str | None):
    """An uploaded `glamsim measure` record, validated from its bytes (JSON, finite numbers, its schema)."""
    from glamsim.measure.record import SCHEMA, Measurement

    text, where = upload_text(data, client_name, MEASUREMENT_MAX_BYTES)
    record = parse_json(text, f"{where}: measurement")
    if not isinstance(record, dict):
        raise ConfigError(f"{where}: expected a JSON object (a glamsim measurement), got {type(record).__name__}")
    if record.get("record_schema") != SCHEMA:
        raise ConfigError(f"{where}: record_schema={show(record.get('record_schema'))}: not a glamsim measurement "
                          f"(expected {SCHEMA!r})")
    return validate_as(Measurement, record, where)


@st.cache_data(show_spinner=False, max_entries=64)
def figure_png(kind: str, data: pd.DataFrame, kwargs_json: str, size: tuple[float, float] | None = None) -> bytes:
    """A glamsim.plots figure as PNG bytes, cached by its data and arguments (a re-render is free)."""
    from glamsim import plots

    fig = getattr(plots, kind)(data, **json.loads(kwargs_json))
    if size:  # fit a narrow column: constrained layout re-flows the panels at the new size
        fig.set_size_inches(*size)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # constrained layout already fits; "tight" would draw twice
    return buf.getvalue()


def figure(kind: str, data: pd.DataFrame, caption: str | None = None, size: tuple[float, float] | None = None,
           **kwargs) -> None:
    """Draw `glamsim.plots.<kind>(data, **kwargs)` (cached), optionally resized to `size` inches."""
    st.image(figure_png(kind, data, json.dumps(jsonable(kwargs), sort_keys=True), size), caption=caption)


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


def formatted(df: pd.DataFrame) -> pd.DataFrame:
    """The same table with numbers as compact text (1.2M, 3.56e+23) for reading."""
    return df.map(lambda v: ("yes" if v else "no") if isinstance(v, bool) else fmt(v) if isinstance(v, (int, float))
                  else v)


def show_table(df: pd.DataFrame, key: str) -> None:
    """A results table, numbers compact, every row visible (no inner scrolling)."""
    shown = df.drop(columns="key") if "key" in df else df  # the key column is for the CSV download
    st.dataframe(formatted(shown), hide_index=True, width="stretch", height=35 * (len(df) + 1) + 3, key=key)


def ledger_frame(ledger_list: list[dict]) -> pd.DataFrame:
    """The ledger as a table, values as text (a number, a low/nominal/high triple, a name)."""
    return pd.DataFrame([{**e, "value": ", ".join(map(fmt, e["value"])) if isinstance(e["value"], list)
                          else fmt(e["value"])} for e in ledger_list])


def downloads(stem: str, table: pd.DataFrame, payload: dict, statement: str,
              json_label: str = "Download JSON + ledger") -> None:
    """CSV of the results table, JSON of everything (results, ranges, tornado, ledger), the statement."""
    c = st.columns(3)
    c[0].download_button("Download CSV", table.to_csv(index=False), f"{stem}.csv", "text/csv", key=f"{stem}_csv")
    c[1].download_button(json_label, json.dumps(jsonable(payload), indent=2), f"{stem}.json",
                         "application/json", key=f"{stem}_json")
    c[2].download_button("Download statement (text)", statement, f"{stem}.txt", "text/plain", key=f"{stem}_txt")


def statement_box(statements: dict[str, str]) -> str:
    """The plain-language paragraph of each estimate (one tab each); returns them joined for download."""
    st.subheader("Statement for a paper")
    st.caption("Generated from the estimate and its ledger; copy it with the icon at its top right.")
    for tab, text in zip(st.tabs(list(statements)), statements.values()):
        tab.code(text, language=None, wrap_lines=True)
    return "\n\n".join(statements.values())


def ledger_box(ledger_list: list[dict], title: str = "Ledger: every input and its source") -> None:
    with st.expander(title):
        st.dataframe(ledger_frame(ledger_list), hide_index=True, width="stretch")

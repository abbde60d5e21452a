"""Shared dashboard helpers: page set-up, input widgets kept across pages and in the URL, profile
choices (with this session's uploads), uncertain inputs, cached figures, cards, result tables,
downloads that carry their scenario, and saved scenarios.

The dashboard holds no numbers of its own: every figure shown comes from the glamsim API.  Nothing
here imports JAX (only the Measure page does, when a measurement is run).
"""

from __future__ import annotations

import inspect
import json
import math
import re
import tempfile
from pathlib import Path
from typing import get_args

import pandas as pd
import streamlit as st

from glamsim.config import NAME_PATTERN, ConfigError, model_presets, parse_json, parse_yaml, show, validate_as
from glamsim.cost import resolve
from glamsim.cost.ledger import Ledger
from glamsim.formatting import fmt, jsonable
from glamsim.profiles import ChipProfile, DatacenterProfile, Dtype, registry
from glamsim.scenario import Scenario, TrainingScenario
from glamsim.uncertain import parse_uncertain

MEASUREMENT_KEY = "measurement"  # session: the last Measurement (run or uploaded), for the training page
USE_MEASUREMENT_KEY = "use_measurement"
UPLOAD_DIR_KEY = "profiles_dir"  # session: a temp folder with chips/ and datacenters/ uploaded this session
PROFILE_KINDS = {"chips": ChipProfile, "datacenters": DatacenterProfile}
PROFILE_MAX_BYTES = 256 * 1024  # a profile YAML (the built-in ones are 2-4 KiB)
MEASUREMENT_MAX_BYTES = 1024 * 1024  # a measurement JSON (glamsim writes 3-6 KiB)
MAX_UPLOADED_PROFILES = 50  # per kind and session: every page re-reads them on each render
UPLOAD_WIDGET_MB = 1  # what the browser lets through to these two uploaders (server.maxUploadSize caps all)


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
_RUN_KEYS = "_ui_run_keys"  # the widget keys this run drew, in order (a saved scenario's snapshot)
_RANGED_FROM = "_ui_ranged_from"  # low/high widget key -> the value derived from its nominal last run
SAVED_KEY = "saved_scenarios"  # session: page -> name -> saved scenario


def page(title: str, intro: str) -> None:
    """Page config, title and a one-paragraph explanation of what the page answers; resets the
    per-run widget bookkeeping of the wrappers below."""
    st.set_page_config(page_title=f"glamsim · {title}", layout="wide")
    ss = st.session_state
    ss[_SET_NOW] = ss.get(_SET_NEXT, set())
    ss[_SET_NEXT] = set()
    ss[_RUN_KEYS] = []
    st.title(title)
    st.markdown(intro)


def set_state(key: str, value, *, in_callback: bool = False) -> None:
    """Set a widget's value from code (the widget, drawn later, then takes no default)."""
    st.session_state[key] = value
    st.session_state.setdefault(_SET_NEXT if in_callback else _SET_NOW, set()).add(key)


def _drawn(key: str) -> bool:
    """Record the widget; True when code set its value for this run (draw it without a default)."""
    st.session_state.setdefault(_RUN_KEYS, []).append(key)
    return key in st.session_state.get(_SET_NOW, ())


def number(label: str, key: str, value=None, **kw):
    """st.number_input, kept across pages and in the URL."""
    return st.number_input(label, value=None if _drawn(key) else value, key=key, **KEEP, **kw)


def select(label: str, options: list, key: str, default=None, **kw):
    """st.selectbox starting at `default` (the first option when it is missing), kept and in the URL."""
    index = options.index(default) if default in options else 0
    return st.selectbox(label, options, index=0 if _drawn(key) else index, key=key, **KEEP, **kw)


def check(label: str, key: str, value: bool = False, **kw) -> bool:
    return st.checkbox(label, value=False if _drawn(key) else value, key=key, **KEEP, **kw)


def slider(label: str, low, high, value, step, key: str, **kw):
    return st.slider(label, low, high, None if _drawn(key) else value, step, key=key, **KEEP, **kw)


def radio(label: str, options: list, key: str, default=None, **kw):
    index = options.index(default) if default in options else 0
    return st.radio(label, options, index=0 if _drawn(key) else index, key=key, **KEEP, **kw)


def multiselect(label: str, options: list, key: str, default=None, **kw) -> list:
    return st.multiselect(label, options, default=None if _drawn(key) else default, key=key, **KEEP, **kw)


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
    """A selectbox of names starting at `default` (the URL holds the name)."""
    return select(label, options, key, default, **kw)


DATACENTER_GROUPS = {  # DatacenterProfile.kind -> heading of its part of the pick-list, in list order
    "country": "Country grid",
    "cloud-region": "Cloud region",
    "datacenter": "Datacenter",
}


def datacenter_options(dcs: dict) -> list[str]:
    """Datacenter names grouped for a pick-list: countries, then cloud regions (by provider), then
    single datacenters (the published runs' and examples), each group in name order."""
    order = list(DATACENTER_GROUPS)
    return sorted(dcs, key=lambda n: (order.index(dcs[n].kind), dcs[n].provider, n))


def datacenter_label(prof) -> str:
    """One pick-list line: group, name, place and the carbon intensity the estimate uses."""
    where = ", ".join(x for x in (prof.provider, prof.region) if x)
    ci = prof.carbon_intensity_net_kg_per_kwh.value
    return f"{DATACENTER_GROUPS[prof.kind]} · {prof.name}" + (f" ({where})" if where else "") + f" · {ci:.3g} kg/kWh"


def datacenter_caption(prof) -> str:
    """What a datacenter brings to an estimate, with sources: PUE, net and gross intensity, water."""
    net, gross = prof.carbon_intensity_net_kg_per_kwh, prof.carbon_intensity_gross_kg_per_kwh
    parts = [
        prof.description.rstrip(".") + "." if prof.description else "",
        f"PUE {prof.pue.value:g} ({prof.pue.source}, {prof.pue.date}).",
        f"Carbon intensity, net (market-based, used for CO2e): {net.value:.4g} kgCO2e/kWh ({net.source}, {net.date}).",
        "Gross (location-based): "
        + (f"{gross.value:.4g} kgCO2e/kWh." if gross is not None else "not published for this profile."),
    ]
    if prof.carbon_free_energy_fraction is not None:
        parts.append(f"Carbon-free energy, hourly: {prof.carbon_free_energy_fraction.value:.0%}.")
    water = [
        f"{what} {spec.value:g} L/kWh ({spec.source})"
        for what, spec in (("on-site WUE", prof.wue_onsite_l_per_kwh), ("off-site", prof.water_offsite_l_per_kwh))
        if spec is not None
    ]
    parts.append("Water: " + ("; ".join(water) + "." if water else "no published figure (water outputs are NaN)."))
    return " ".join(p for p in parts if p)


def pick_datacenter(label: str, dcs: dict, default: str, key: str, **kw) -> str:
    """The datacenter pick-list: country grids, cloud regions and single datacenters, each option
    showing its carbon intensity, with the chosen profile's figures and sources below it (the URL
    holds the name)."""
    name = select(label, datacenter_options(dcs), key, default, format_func=lambda n: datacenter_label(dcs[n]), **kw)
    st.caption(datacenter_caption(dcs[name]))
    return name


def pick_model(label: str, default: str, key: str, **kw):
    presets = model_presets()
    cfg = presets[pick(label, list(presets), default, key, **kw)]
    st.caption(describe_model(cfg))
    return cfg


def scenario_default(cls: type[Scenario], name: str):
    """A scenario field's default: the one value every page and the API start from."""
    return cls.model_fields[name].default


def label(column: str) -> str:
    """A column's label with its unit, from the output registry (the same on every face)."""
    from glamsim.outputs import label as registry_label

    return registry_label(column)


def value_text(key: str, value) -> str:
    """A value as the output registry formats its key (174.6B parameters, 2,048 chips)."""
    from glamsim.outputs import format_value

    return format_value(key, value)


def profile_arg(kind: str, name: str) -> str:
    """A profile as the vectorised API takes it: its uploaded file when this session uploaded one by
    that name, else the name (a built-in profile)."""
    path = upload_dir() / kind / f"{name}.yaml" if profiles_dirs() else None
    return str(path) if path is not None and path.is_file() else name


def profile_field(kind: str, name: str, prof):
    """A profile as a scenario field: its name when built in (the scenario stays short), the profile
    itself when uploaded this session (a downloaded scenario then carries it whole)."""
    return prof if profile_arg(kind, name) != name else name


def describe_model(cfg) -> str:
    kind = f"MoE {cfg.n_experts} experts, top-{cfg.top_k}" if cfg.is_moe else "dense"
    return f"{cfg.name} ({kind})"


def spread(nominal: float, min_value: float | None = None, max_value: float | None = None) -> tuple[float, float]:
    """Low and high a range starts at: -20% / +20% of the nominal value, within the field's bounds."""
    lo, hi = nominal * 0.8, nominal * 1.2
    lo = lo if min_value is None else max(lo, min_value)
    hi = hi if max_value is None else min(hi, max_value)
    return float(f"{lo:.12g}"), float(f"{hi:.12g}")


def _same(a, b) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _range_end(text: str, key: str, derived: float, **kw) -> float:
    """A low or high widget that follows its nominal value until the user changes it."""
    ranged_from = st.session_state.setdefault(_RANGED_FROM, {})
    current, before = st.session_state.get(key), ranged_from.get(key)
    if _same(current, before) and not _same(current, derived):  # untouched: move with the nominal
        set_state(key, derived)
    value = number(text, key, derived, **{**kw, "help": None})
    ranged_from[key] = derived
    return value


def uncertain(
    label: str,
    key: str,
    default: float | None,
    default_source: str | None = None,
    *,
    ranged: bool,
    step: float,
    fmt_str: str = "%.4g",
    min_value: float | None = None,
    max_value: float | None = None,
    help: str | None = None,
):
    """A number, or (low, nominal, high) when `ranged`: low and high start at -20% / +20% of the
    nominal value shown (within the bounds) and follow it until the user changes them.

    Returns (value, source).  With `default_source` (the default is a profile's figure), a value
    left at the default comes back as None, so the cost model's ledger cites the profile itself."""
    kw = dict(step=step, format=fmt_str, min_value=min_value, max_value=max_value, help=help)
    mine = f"dashboard input: {label}"
    missing = default is None or not math.isfinite(default)  # the profile lacks the figure: the user may give it
    text = f"{label} (not in the profile)" if missing else label
    start = None if missing else float(default)
    if not ranged:
        v = number(text, key, start, **kw)
        return (None, "") if v is None or (default_source and v == default) else (v, mine)
    nom = number(f"{text}: nominal", key, start, **kw)  # the same widget (key) as unranged: its value stays
    if nom is None:
        return None, ""
    lo_start, hi_start = spread(nom, min_value, max_value)
    c = st.columns(2)  # two to a row, so that a narrow column still shows each number whole
    with c[0]:
        lo = _range_end("low", f"{key}_lo", lo_start, **kw)
    with c[1]:
        hi = _range_end("high", f"{key}_hi", hi_start, **kw)
    source = f"{mine} (low and high)" + (
        f"; nominal from {default_source}" if default_source and nom == default else " (nominal)"
    )
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
            v = select(
                label,
                [None, *get_args(Dtype)],
                key,
                help=help_text,
                format_func=lambda d: "the chip's default" if d is None else d,
            )
        elif cls.choices(name):
            v = select(label, list(cls.choices(name)), key, default=f.default, help=help_text)
        elif name == "measured":
            continue  # the Measure page carries a record over (see the training page)
        elif name == "layout":
            v = (
                st.text_input(
                    label,
                    value=None if _drawn(key) else "",
                    key=key,
                    help=help_text,
                    placeholder="the fastest that fits",
                    **KEEP,
                )
                or None
            )
        else:
            num = int if "int" in str(f.annotation) else float
            bounds = meta["bounds"]
            low, high = bounds.get("ge", bounds.get("gt")), bounds.get("le")
            v = number(
                label,
                key,
                None if f.default is None else num(f.default),
                help=help_text,
                placeholder="default",
                min_value=None if low is None else num(low),
                max_value=None if high is None else num(high),
                step=1 if num is int else None,
                format=None if num is int else "%.4g",
            )
        if v is not None and v != f.default:
            out[name] = v
    return out


def dense_if_no_experts(base, changes: dict):
    """An architecture edit: `n_experts` 0 makes the model dense, as ModelConfig.dense_twin() does
    (no top-k, no MoE layers), keeping the preset's name and the other edits."""
    if changes.get("n_experts") == 0 and base.is_moe:
        rest = {k: v for k, v in changes.items() if k not in ("n_experts", "top_k", "moe_every", "moe_offset")}
        return base.dense_twin().replace(name=base.name, **rest)
    return base.replace(**changes) if changes else base


# ---- ranges and sensitivity of outputs the estimate does not range itself ---------------------------


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
        name = name[: limit - 1] + "…"
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
    from glamsim.records import SCHEMA, Measurement

    text, where = upload_text(data, client_name, MEASUREMENT_MAX_BYTES)
    record = parse_json(text, f"{where}: measurement")
    if not isinstance(record, dict):
        raise ConfigError(f"{where}: expected a JSON object (a glamsim measurement), got {type(record).__name__}")
    if record.get("record_schema") != SCHEMA:
        raise ConfigError(
            f"{where}: record_schema={show(record.get('record_schema'))}: not a glamsim measurement "
            f"(expected {SCHEMA!r})"
        )
    return validate_as(Measurement, record, where)


FIGURE_PX_PER_INCH = 60  # `size=` is in inches, as the pages give it: a width that fits a page column
FIGURE_WIDTH = 900  # a multi-panel chart without `size` (a one-panel chart fills its column)
DARK_INK = "#fafafa"  # the dense baseline and value labels on a dark background (Streamlit's dark text colour)


def _recolour(node, old: str, new: str):
    """The spec with every colour `old` (mark and encoding values, conditions) replaced by `new`."""
    if isinstance(node, dict):
        return {
            k: new
            if k in ("color", "stroke", "fill", "value", "symbolStrokeColor") and v == old
            else _recolour(v, old, new)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_recolour(v, old, new) for v in node]
    return node


@st.cache_data(show_spinner=False, max_entries=64)
def figure_spec(
    kind: str, data: pd.DataFrame, kwargs_json: str, size: tuple[float, float] | None = None, dark: bool = False
) -> dict:
    """A glamsim.plots chart as its Vega-Lite spec, cached by its data, arguments, size and theme (a
    re-render is free).  A one-panel chart fills its column's width (its height is the plot's); a
    multi-panel chart is `size` wide."""
    from glamsim import plots

    kwargs = json.loads(kwargs_json)
    kwargs.setdefault("width", int(size[0] * FIGURE_PX_PER_INCH) if size else FIGURE_WIDTH)
    if size:
        kwargs.setdefault("height", max(180, int((size[1] - 1.0) * 96)))
    spec = getattr(plots, kind)(data, **kwargs).to_dict()
    single = not any(k in spec for k in ("hconcat", "vconcat", "concat", "facet"))
    # one panel: as wide as its column; several: their own size, padded to fit their axis titles
    spec["autosize"] = {"type": "fit-x", "contains": "padding"} if single else {"type": "pad"}
    return _recolour(spec, plots.INK, DARK_INK) if dark else spec


def _dark_theme() -> bool:
    """Whether the page is dark: the browser's theme, or a dark `theme.base` in the app's config
    (which st.context misreports as light on a session's first run)."""
    try:
        return st.context.theme.type == "dark" or st.get_option("theme.base") == "dark"
    except Exception:  # noqa: BLE001 - no browser context (AppTest, bare mode): the light theme
        return False


def figure(
    kind: str, data: pd.DataFrame, caption: str | None = None, size: tuple[float, float] | None = None, **kwargs
) -> None:
    """Draw `glamsim.plots.<kind>(data, **kwargs)` as an interactive chart (hover values, zoom and
    pan, the chart's menu exports PNG/SVG; light and dark follow Streamlit's theme), cached."""
    spec = figure_spec(kind, data, json.dumps(jsonable(kwargs), sort_keys=True), size, _dark_theme())
    st.vega_lite_chart(spec, theme="streamlit", width="stretch" if spec["autosize"]["type"] == "fit-x" else "content")
    if caption:
        st.caption(caption)


@st.cache_data(show_spinner=False, max_entries=16)
def _study_figure_spec(figure_json: str, data: pd.DataFrame) -> dict:
    from glamsim.studies.runner import chart
    from glamsim.studies.spec import FigureSpec

    return chart(FigureSpec(**json.loads(figure_json)), data).to_dict()


def study_figure(figure: dict, data: pd.DataFrame) -> None:
    """A study's own figure (its spec's `figures` entry), drawn live by the same code that saves it."""
    st.vega_lite_chart(_study_figure_spec(json.dumps(figure, sort_keys=True), data), theme="streamlit")


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
    v = _MARKDOWN_SPECIAL.sub(r"\\\1", v)
    v = re.sub(r"^(\d+)([.)])(?=\s|$)", r"\1\\\2", v)  # "1. x" is no ordered list
    return "\\" + v if v[:1] in ("-", "+") else v  # "-" is no bullet


def plain_table(df: pd.DataFrame, index: str) -> None:
    """A static table (st.table) with numbers formatted by column: every cell wraps to fit the page,
    nothing is cut.  For short tables with long text (sources, notes)."""
    st.table(formatted(df).map(md_cell).set_index(index))


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


# ---- saved scenarios: this page's settings under a name, for this session ---------------------------

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
    st.session_state[_RANGED_FROM] = {}  # the loaded low/high are the user's own, not derived


def saved_scenarios(page_key: str, scenarios: dict[str, dict]) -> None:
    """Save this page's settings under a name (kept for this session), list them, load one back, and
    download them all as JSON (each with its settings and its scenarios).  Call it after every input
    widget of the page: the snapshot is what they show now."""
    store = st.session_state.setdefault(SAVED_KEY, {}).setdefault(page_key, {})
    widgets = {k: st.session_state.get(k) for k in dict.fromkeys(st.session_state.get(_RUN_KEYS, []))}
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

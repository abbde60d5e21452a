"""Shared dashboard helpers, the one module every page imports (`import ui`): profile and model
choices (with this session's uploads), uncertain inputs and scenario widgets built from the scenario
fields.  The rest lives beside it and is re-exported here: input widgets kept across pages and in
the URL (`ui_widgets`), uploads (`ui_uploads`), cached figures (`ui_figures`), result tables, cards,
downloads that carry their scenario and the ledger (`ui_results`), and saved scenarios (`ui_saved`).

The dashboard holds no numbers of its own: every figure shown comes from the glamsim API.  Nothing
here imports JAX (only the Measure page does, when a measurement is run).
"""

from __future__ import annotations

import functools
import math
import warnings
from contextlib import contextmanager
from typing import get_args

import streamlit as st
from ui_figures import figure, figure_spec, study_figure
from ui_results import (
    DOWNLOAD,
    NO_PRICE,
    cards,
    downloads,
    formatted,
    label,
    ledger_box,
    ledger_frame,
    md_cell,
    plain_table,
    plausibility_warnings,
    published_mfu_cards,
    results_table,
    scenario_of,
    show_table,
    shown_results,
    statement_box,
    value_text,
    with_scenarios,
)
from ui_saved import saved_scenarios
from ui_uploads import (
    MAX_UPLOADED_PROFILES,
    MEASUREMENT_MAX_BYTES,
    MODEL_MAX_BYTES,
    PROFILE_KINDS,
    PROFILE_MAX_BYTES,
    UPLOAD_DIR_KEY,
    UPLOAD_WIDGET_MB,
    URL_MODELS,
    model_from_token,
    model_token,
    parse_measurement,
    parse_model,
    parse_profile,
    profiles_dirs,
    read_results,
    save_model,
    save_profile,
    shown_name,
    upload_dir,
    upload_text,
    uploaded_model_paths,
    uploader_limit,
)
from ui_widgets import (
    KEEP,
    RANGED_FROM,
    SAVED_KEY,
    check,
    drawn,
    multiselect,
    number,
    page,
    radio,
    select,
    set_state,
    slider,
)

from glamsim.config import ConfigError, ModelConfig, load_model, model_presets
from glamsim.cost import resolve
from glamsim.cost.ledger import Ledger
from glamsim.formatting import fmt, safe_line
from glamsim.plausible import PlausibilityWarning
from glamsim.profiles import Dtype, registry
from glamsim.scenario import Scenario, TrainingScenario
from glamsim.uncertain import parse_uncertain

__all__ = [  # what the pages use as `ui.<name>`: defined here or in the ui_* modules beside this one
    "DATACENTER_GROUPS",
    "DOWNLOAD",
    "KEEP",
    "MAX_UPLOADED_PROFILES",
    "MEASUREMENT_KEY",
    "MEASUREMENT_MAX_BYTES",
    "MODEL_MAX_BYTES",
    "NO_PRICE",
    "PROFILE_KINDS",
    "PROFILE_MAX_BYTES",
    "RANGED_FROM",
    "SAVED_KEY",
    "UPLOAD_DIR_KEY",
    "UPLOAD_WIDGET_MB",
    "USE_MEASUREMENT_KEY",
    "ConfigError",
    "cards",
    "check",
    "datacenter_caption",
    "datacenter_label",
    "datacenter_options",
    "dense_if_no_experts",
    "describe_model",
    "downloads",
    "drawn",
    "figure",
    "figure_spec",
    "fmt",
    "formatted",
    "label",
    "ledger_box",
    "ledger_frame",
    "md_cell",
    "model_arg",
    "model_field",
    "model_from_token",
    "model_token",
    "model_upload",
    "model_counts",
    "models",
    "parse_model",
    "published_mfu_cards",
    "multiselect",
    "number",
    "page",
    "parse_measurement",
    "read_results",
    "parse_profile",
    "pick",
    "pick_datacenter",
    "pick_model",
    "plain_table",
    "plausibility_warnings",
    "profile_arg",
    "profile_defaults",
    "profile_field",
    "profiles",
    "profiles_dirs",
    "radio",
    "results_table",
    "save_model",
    "save_profile",
    "share_models",
    "saved_scenarios",
    "scenario_default",
    "scenario_inputs",
    "scenario_of",
    "select",
    "set_state",
    "show_error",
    "show_table",
    "shown_name",
    "shown_results",
    "slider",
    "slips_shown_on_page",
    "spread",
    "statement_box",
    "study_figure",
    "uncertain",
    "upload_dir",
    "upload_text",
    "uploader_limit",
    "value_text",
    "vs",
    "with_scenarios",
]

MEASUREMENT_KEY = "measurement"  # session: the last Measurement (run or uploaded), for the training page
USE_MEASUREMENT_KEY = "use_measurement"


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


_URL_MODELS_SEEN = "_ui_url_models_seen"  # session: link texts of models already restored (or refused)


def _restore_linked_models() -> None:
    """Models a link carries (`?models=...`, one per uploaded model the page used) join this
    session's uploads, so a shared link opens in a fresh session with the same models; a refused
    one gets one error line and the rest of the page still works."""
    seen = st.session_state.setdefault(_URL_MODELS_SEEN, set())
    for token in st.query_params.get_all(URL_MODELS)[:MAX_UPLOADED_PROFILES]:
        if token in seen:
            continue
        seen.add(token)
        try:
            cfg = model_from_token(token)
            if cfg.name not in uploaded_model_paths():
                save_model(cfg)
        except ConfigError as err:
            st.error(safe_line(f"Link value ignored: {' '.join(str(err).split())}"), icon="⚠️")


def models() -> dict[str, ModelConfig]:
    """Model presets and this session's uploaded models (and those the page's link carries), by name."""
    _restore_linked_models()
    return {**model_presets(), **{n: load_model(p) for n, p in uploaded_model_paths().items()}}


def model_arg(name: str) -> str:
    """A model as the vectorised API takes it: its uploaded file, else its preset name."""
    path = uploaded_model_paths().get(name)
    return str(path) if path is not None else name


def model_field(name: str, cfg: ModelConfig):
    """A model as a scenario field: the preset's name, else the config itself (a download carries it)."""
    return name if name in model_presets() and model_presets()[name] == cfg else cfg


def share_models(names) -> None:
    """Put the uploaded models among `names` into the page's link (`?models=`), so that it opens
    with them anywhere; presets need nothing beyond their name."""
    paths = uploaded_model_paths()
    tokens = [model_token(load_model(paths[n])) for n in dict.fromkeys(names) if n in paths]
    if st.query_params.get_all(URL_MODELS) != tokens:
        st.query_params[URL_MODELS] = tokens
        st.session_state.setdefault(_URL_MODELS_SEEN, set()).update(tokens)


def model_upload(key: str, target: str | None = None) -> None:
    """An uploader for a model file (a Hugging Face config.json or a glamsim YAML): validated with a
    one-line error, kept for this session (every page's model menus list it), and, when it is new,
    picked in the widget `target` (the page's main model)."""
    up = st.file_uploader(
        "Add a model file: Hugging Face config.json or glamsim YAML",
        type=["json", "yaml", "yml"],
        key=key,
        **uploader_limit(),
        help="Read field by field as `glamsim count` reads it (Llama, Mistral, Mixtral, Qwen2-MoE, DeepSeek-MoE, "
        f"GPT-2, GPT-NeoX, OPT, Gemma ...). At most {MODEL_MAX_BYTES // 1024} KiB. Kept until you close this "
        "tab, and carried in the page's link.",
    )
    if up is None:
        return
    done = st.session_state.setdefault(f"{key}_done", {})
    if up.file_id in done:  # the uploader keeps its file across reruns: read it once
        st.caption(done[up.file_id])
        return
    try:
        cfg = parse_model(up.getvalue(), up.name)
        save_model(cfg)
    except ConfigError as err:
        show_error(err)
        return
    done[up.file_id] = f"{shown_name(up.name)}: model '{cfg.name}' ({describe_model(cfg)}) added for this session."
    if target is not None:
        set_state(target, cfg.name)
    st.success(done[up.file_id])


def pick_model(label: str, default: str, key: str, **kw):
    known = models()
    cfg = known[pick(label, list(known), default, key, **kw)]
    st.caption(describe_model(cfg) + ("" if cfg.name in model_presets() else " · uploaded this session"))
    return cfg


def scenario_default(cls: type[Scenario], name: str):
    """A scenario field's default: the one value every page and the API start from."""
    return cls.model_fields[name].default


def profile_arg(kind: str, name: str) -> str:
    """A profile as the vectorised API takes it: its uploaded file when this session uploaded one by
    that name, else the name (a built-in profile)."""
    path = upload_dir() / kind / f"{name}.yaml" if profiles_dirs() else None
    return str(path) if path is not None and path.is_file() else name


def profile_field(kind: str, name: str, prof):
    """A profile as a scenario field: its name when built in (the scenario stays short), the profile
    itself when uploaded this session (a downloaded scenario then carries it whole)."""
    return prof if profile_arg(kind, name) != name else name


@functools.lru_cache(maxsize=64)
def model_counts(cfg: ModelConfig):
    """The analytic counts of a model (`glamsim.accounting.count`), once per configuration: not again
    on every widget change."""
    from glamsim.accounting import count

    return count(cfg)


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
    ranged_from = st.session_state.setdefault(RANGED_FROM, {})
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


def field_label(cls: type[Scenario], name: str) -> str:
    """The label of a scenario field's widget under *More inputs*: its name in words, with its unit
    (`glamsim.outputs.label`, as every face writes it)."""
    words = label(name)
    unit = cls.meta(name)["unit"]
    return words if not unit or f"({unit})" in words else f"{words} ({unit})"


# Scenario fields typed as text, with what an empty box means.
TEXT_PLACEHOLDERS = {"layout": "the fastest that fits", "software": "the chip's usual stack"}


def scenario_inputs(cls: type[Scenario], names: list[str], prefix: str) -> dict:
    """Widgets for scenario fields, built from the fields' own metadata (unit, help, default and its
    source, allowed range).  Returns the fields the user set; an untouched field keeps its default."""
    out = {}
    for name in names:
        meta, f = cls.meta(name), cls.model_fields[name]
        label = field_label(cls, name)
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
        elif name in TEXT_PLACEHOLDERS:
            v = (
                st.text_input(
                    label,
                    value=None if drawn(key) else "",
                    key=key,
                    help=help_text,
                    placeholder=TEXT_PLACEHOLDERS[name],
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


def vs(value: float, baseline: float) -> str | None:
    """'-62%' against the baseline, for a metric's delta (None when either is unknown)."""
    if not (math.isfinite(value) and math.isfinite(baseline)) or baseline == 0:
        return None
    return f"{value / baseline - 1:+.0%}"


def show_error(err: ConfigError) -> None:
    """The error as one safe line, as the command line prints it (`glamsim.formatting.safe_line`:
    control and bidirectional characters escaped, at most 300 characters)."""
    st.error(safe_line(" ".join(str(err).split())), icon="⚠️")


@contextmanager
def slips_shown_on_page():
    """The front door's unit-slip warnings held back: the page shows each beside its widget
    (`plausibility_warnings`), and the Python warning would only repeat it in the server's log."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlausibilityWarning)
        yield

"""The output registry: every result a face shows, with its label, unit, meaning and format.

The command line's tables, the dashboard's cards and tables, the figures' axis labels and the
notebooks all read labels and units from here, so a quantity reads the same everywhere.  Inputs
are labelled from their scenario field (`glamsim.scenario`), which carries its own unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glamsim.outputs.registry import MFU_RANGE_KEYS, OUTPUTS, TRAINING_HEADLINE, Output

if TYPE_CHECKING:
    import pandas as pd

# Architecture columns of a study and counts (not scenario inputs, not cost outputs).
COLUMNS = {
    "n_layers": "layers",
    "d_model": "model width (d_model)",
    "n_experts": "experts per MoE layer",
    "top_k": "experts per token (top-k)",
    "label": "scenario",
    "varied": "input varied",
}

# Column-name suffix -> unit, for columns in neither registry (longest suffix first).
SUFFIX_UNITS = {
    "_per_chip_hour_usd": "USD per chip-hour",
    "_usd_per_chip_hour": "USD per chip-hour",
    "_gb_per_s": "GB/s",
    "_kg_per_kwh": "kgCO2e/kWh",
    "_tokens_per_s": "tokens/s",
    "_flops_per_s": "FLOP/s",
    "_mwh": "MWh",
    "_kwh": "kWh",
    "_usd": "USD",
    "_gb": "GB",
    "_w": "W",
    "_days": "days",
    "_hours": "hours",
    "_ms": "ms",
    "_us": "µs",
    "_years": "years",
    "_s": "s",
    "_j": "J",
    "_flops": "FLOPs",
}


def output(key: str) -> Output | None:
    """The registered output of a column.

    Parameters
    ----------
    key : str
        A result column (`energy_mwh`, `joules_per_token`, ...).

    Returns
    -------
    Output or None
        None for a column that is not a registered output (an input, an architecture column).
    """
    return OUTPUTS.get(key)


def unit(key: str) -> str:
    """The unit of a registered output.

    Parameters
    ----------
    key : str
        A result column.

    Returns
    -------
    str
        Its unit ("MWh"); "" for a unitless or unregistered column.

    Examples
    --------
    >>> unit("co2e_t"), unit("mfu")
    ('tCO2e', '')
    """
    o = OUTPUTS.get(key)
    return o.unit if o else ""


def _input_meta(key: str) -> dict | None:
    from glamsim.scenario import ServingScenario, TrainingScenario

    name = key.removeprefix("serving_")
    for cls in (ServingScenario, TrainingScenario) if name != key else (TrainingScenario, ServingScenario):
        if name in cls.model_fields and name in cls.inputs():
            return cls.meta(name)
    return None


ABBREVIATIONS = {  # a key's words as people write them (`_words`)
    "mfu": "MFU",
    "mbu": "MBU",
    "hfu": "HFU",
    "pue": "PUE",
    "kv": "KV",
    "hbm": "HBM",
    "len": "length",
    "tdp": "TDP",
    "gb": "GB",
    "dtype": "dtype",
    "ttft": "TTFT target",
    "tpot": "TPOT target",
    "gen": "generated",
    "seq": "sequence",
    "seqs": "sequences",
    "num": "number of",
    "n": "number of",
    "hw": "hardware",
    "grad": "gradient",
    "param": "parameter",
    "comm": "communication",
    "train": "training",
}


def _words(key: str) -> str:
    """`price_per_chip_hour_usd` -> "price per chip hour": the name without its unit suffix, in words."""
    for suffix in sorted(SUFFIX_UNITS, key=len, reverse=True):
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key[: -len(suffix)]
            break
    return " ".join(ABBREVIATIONS.get(w, w) for w in key.split("_"))


def label(key: str) -> str:
    """`label (unit)` for any column: what every face writes on a header or an axis.

    A registered output, a scenario input (with its field's unit), an architecture column, else
    the key in words with the unit its suffix names.

    Parameters
    ----------
    key : str
        A column name.

    Returns
    -------
    str

    Examples
    --------
    >>> label("energy_mwh"), label("price_per_chip_hour_usd"), label("n_experts")
    ('facility energy (MWh)', 'price (USD per chip-hour)', 'experts per MoE layer')
    """
    o = OUTPUTS.get(key)
    if o:
        return o.axis()
    meta = _input_meta(key)
    if meta is not None:
        words = _words(key)
        return f"{words} ({meta['unit']})" if meta["unit"] and meta["unit"] != words else words
    if key in COLUMNS:
        return COLUMNS[key]
    for suffix in sorted(SUFFIX_UNITS, key=len, reverse=True):
        if key.endswith(suffix) and len(key) > len(suffix):
            return f"{_words(key)} ({SUFFIX_UNITS[suffix]})"
    return _words(key)


# ---- values as text: one rule per key, shared by every face's cards and tables -------------------

COUNT_UNITS = {"parameters", "tokens"}  # written 174.6B / 1.162T, as people say them
COUNT_PREFIXES = ("params_",)  # columns of parameter counts outside the registry (published, non-embedding)
INTEGER_COLUMNS = {"n_layers", "d_model", "n_experts", "top_k", "n_heads", "d_ff", "moe_every", "moe_offset"}


def value_format(key: str) -> str:
    """How a column's values read.

    Parameters
    ----------
    key : str
        A column name (an output, a scenario field, an architecture column).

    Returns
    -------
    str
        "count" (parameters and tokens: 174.6B), "integer" (chips, steps: 2,048), "fraction",
        "flag", "text" or "number" (compact: 3.855M).

    Examples
    --------
    >>> value_format("params_total"), value_format("chips"), value_format("energy_mwh")
    ('count', 'integer', 'number')
    """
    o = OUTPUTS.get(key)
    if o is not None:
        return "count" if o.format == "number" and o.unit in COUNT_UNITS else o.format
    if key in INTEGER_COLUMNS:
        return "integer"
    if key.startswith(COUNT_PREFIXES) and not key.endswith(("_delta", "_ratio")):
        return "count"  # params_total_published, params_active_nonembedding, ...
    meta = _input_meta(key)
    if meta is not None:
        from glamsim.scenario import ServingScenario, TrainingScenario

        name = key.removeprefix("serving_")
        cls = TrainingScenario if name in TrainingScenario.model_fields else ServingScenario
        if "int" in str(cls.model_fields[name].annotation) and not meta.get("uncertain"):
            return "integer"  # chips, batch, prompt length: 2,048
        if meta["unit"] in COUNT_UNITS:
            return "count"  # training tokens: 600B
    return "number"


def format_value(key: str, value) -> str:
    """A value of a column as short text for a card or a table, by the column's rule.

    Parameters
    ----------
    key : str
        The column the value belongs to (its unit and format come from the registries).
    value : object
        A number (Python or numpy), a (low, nominal, high) triple, a string, None or NaN.

    Returns
    -------
    str
        Parameters and tokens in B/T ("174.6B"), chips and steps as plain integers ("2,048"),
        flags as yes/no, a triple as "0.2, 0.3, 0.4", None/NaN as "-", anything else compact
        ("3.855M"). The unit is not appended: it is in the header (`label`).

    Examples
    --------
    >>> format_value("params_total", 174.6e9), format_value("chips", 2048), format_value("cost_usd", 3.855e6)
    ('174.6B', '2,048', '3.855M')
    >>> format_value("mfu", (0.2, 0.3, 0.4))
    '0.2, 0.3, 0.4'
    """
    from glamsim.formatting import fmt, fmt_count, fmt_int

    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(key, v) for v in value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    kind = value_format(key)
    if isinstance(value, bool) or (kind == "flag" and value in (0, 1)):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return "-" if value is None else str(value)
    return {"count": fmt_count, "integer": fmt_int}.get(kind, fmt)(value)


def format_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A results table as text, each column by its own rule (`format_value`): parameters in B/T,
    chips and steps as plain integers, flags as yes/no, everything else compact.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns named as the output registry and the scenario fields (a `glamsim.api` frame, a
        study's results); other columns are formatted as plain numbers.

    Returns
    -------
    pandas.DataFrame
        The same shape, index and columns, every value a string: for reading, not for arithmetic.

    Examples
    --------
    >>> import pandas as pd
    >>> format_frame(pd.DataFrame({"params_total": [1.162e12], "chips": [2048.0], "energy_mwh": [455.8]}))
      params_total  chips energy_mwh
    0       1.162T  2,048      455.8
    """
    return df.apply(lambda col: col.map(lambda v, key=col.name: format_value(key if isinstance(key, str) else "", v)))


__all__ = [
    "COLUMNS",
    "MFU_RANGE_KEYS",
    "OUTPUTS",
    "Output",
    "TRAINING_HEADLINE",
    "format_frame",
    "format_value",
    "label",
    "output",
    "unit",
    "value_format",
]

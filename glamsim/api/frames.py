"""The front door's rows: any scenario field as a scalar, list or array in, one row per scenario out
(`train`, `serve`, `evaluate`), and the `Results` they return."""

from __future__ import annotations

import itertools
import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from glamsim.config import MAX_INT, ConfigError, ModelConfig, load_model, show
from glamsim.outputs import TRAINING_HEADLINE
from glamsim.plausible import PlausibilityWarning, check_fraction, plausibility
from glamsim.profiles import ChipProfile, DatacenterProfile, load_chip, load_datacenter
from glamsim.scenario import SCENARIOS, ServingScenario, TrainingScenario
from glamsim.studies.scenario import SERVING_PREFIXED, column

KINDS = {"train": "training", "serve": "serving"}
HEADLINE = {
    "train": list(TRAINING_HEADLINE),
    "serve": ["decode_step_s", "joules_per_token", "usd_per_million_tokens"],
}
EXTRA = ("label",)  # study columns that are not scenario fields: a name for each row in tables and figures
PROFILES = {
    "model": (ModelConfig, load_model),
    "chip": (ChipProfile, load_chip),
    "datacenter": (DatacenterProfile, load_datacenter),
}


def is_unset(v) -> bool:
    """None or NaN: the field's default in that row."""
    return v is None or (isinstance(v, (float, np.floating)) and math.isnan(v))


def _named(name: str, v):
    """A value as a study takes it: a preset or profile object by its name (or the file it was read
    from), a numpy scalar as a Python one, NaN as None (the default)."""
    if name in PROFILES and isinstance(v, PROFILES[name][0]):
        cls, load = PROFILES[name]
        try:
            if load(v.name) == v:
                return v.name
        except ConfigError:
            pass
        path = getattr(v, "path", "")
        try:
            if path and load(path) == v:  # read from a user file, unchanged since: that file
                return path
        except ConfigError:
            pass
        raise ConfigError(
            f"{name}={cls.__name__}({v.name!r}): not a built-in {name} as it stands; give a name or a YAML "
            f"path (or call glamsim.cost with the object for a single estimate)"
        )
    if is_unset(v):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _spec(kind: str, fields: dict, grid: bool, max_scenarios: int):
    """The study spec of a call, and per row the fields left to their default there (None in a list)."""
    from glamsim.studies.spec import parse_spec

    cls = SCENARIOS[kind]
    unknown = [k for k in fields if k not in cls.inputs() and k not in EXTRA]
    if unknown:
        raise ConfigError(f"{unknown[0]}: not a field of {cls.__name__}; fields: {', '.join(cls.inputs())}")
    base, axes = {}, {}
    for name, value in fields.items():
        if isinstance(value, tuple) and len(value) == 3 and name in cls.inputs() and cls.meta(name).get("uncertain"):
            raise ConfigError(
                f"{name}={value!r}: a (low, nominal, high) range is for a single estimate "
                f"(glamsim.cost); here give a list to sweep the values, {name}={list(value)!r}"
            )
        values = value.tolist() if isinstance(value, (np.ndarray, pd.Series, pd.Index)) else value
        if isinstance(values, (list, tuple)):
            axes[column(kind, name)] = [_named(name, v) for v in values]
        elif not is_unset(values):
            base[column(kind, name)] = _named(name, values)
    lengths = {len(v) for v in axes.values()}
    if not grid and len(lengths - {1}) > 1:
        raise ConfigError(f"lengths {sorted(lengths)}: give lists of one length (zipped), or grid=True")
    if not grid:
        n = max(lengths, default=1)
        axes = {k: v * n if len(v) == 1 else v for k, v in axes.items()}
    spec = {"name": "front-door", "title": "glamsim.api", "evaluate": [KINDS[kind]], "base": base}
    unset = None
    if any(v is None for vals in axes.values() for v in vals):  # a default in some rows: explicit cases
        n = math.prod(len(v) for v in axes.values()) if grid else max(lengths)
        if n > max_scenarios:
            raise ConfigError(f"{n:,} scenarios: more than max_scenarios={max_scenarios:,}")
        rows = list(itertools.product(*axes.values()) if grid else zip(*axes.values()))
        spec["cases"] = [{k: v for k, v in zip(axes, row) if v is not None} for row in rows]
        names = {column(kind, n): n for n in fields}
        unset = [frozenset(names[k] for k, v in zip(axes, row) if v is None) for row in rows]
    else:
        spec.update(axes=axes, combine="grid" if grid else "zip")
    return parse_spec(spec, f"glamsim.api.{kind}"), unset


def evaluate(
    kind: str, *, grid: bool = False, max_scenarios: int | None = None, keep_refused: bool = False, **fields
) -> Results:
    """Evaluate training or serving scenarios given as scalars, lists or arrays of their fields.

    Parameters
    ----------
    kind : {"train", "serve"}
        Training runs (`glamsim.scenario.TrainingScenario`) or serving
        (`glamsim.scenario.ServingScenario`).
    grid : bool, default False
        False: lists and arrays are zipped (all of one length; length-1 lists and scalars
        broadcast). True: every combination of their values.
    max_scenarios : int, optional
        Refuse (one-line `ConfigError`) more rows than this; default the study limit, 5,000,000.
    keep_refused : bool, default False
        False: a row the single estimate refuses (serving targets that even batch 1 misses) refuses
        the call. True: the row stays, with NaN outputs and the reason in its `refusal` column
        (a sweep over targets shows where they stop being met).
    **fields
        Scenario fields, each a scalar, a list, a tuple, a numpy array or a pandas Series, in the
        field's unit (named in the field: `power_w` in W, `carbon_intensity_kg_per_kwh` in
        kgCO2e/kWh, `tokens` in tokens; `TrainingScenario.meta(name)["unit"]`). `model`, `chip`
        and `datacenter` take names or YAML paths (or an unchanged built-in object). None or NaN
        means the field's default (in a list: in that row). `label` names the rows.

    Returns
    -------
    Results
        One row per scenario: `Results.frame`, `Results.ledger(i)`, `Results.estimate(i)`.

    Raises
    ------
    glamsim.config.ConfigError
        An unknown field, a value out of its range, lists of different lengths without
        `grid=True`, an unknown preset or profile, or too many scenarios.

    Examples
    --------
    >>> import glamsim.api as gs
    >>> r = gs.evaluate("train", chip=["tpu-v4", "h100-sxm"], mfu=0.3)
    >>> r.frame[["chip", "mfu"]].values.tolist()
    [['tpu-v4', 0.3], ['h100-sxm', 0.3]]
    """
    from glamsim.studies.expansion import Scenarios
    from glamsim.studies.sweep import MAX_SCENARIOS, ModelCache, check_inputs, evaluate_all

    if kind not in KINDS:
        raise ConfigError(f"kind={kind!r}: expected train or serve")
    whole = isinstance(max_scenarios, (int, np.integer)) and not isinstance(max_scenarios, bool)
    if max_scenarios is not None and (not whole or not 1 <= max_scenarios <= MAX_INT):
        raise ConfigError(
            f"max_scenarios={show(max_scenarios)}: expected a whole number from 1 to 2**53 (an int, not text)"
        )
    limit = max_scenarios or MAX_SCENARIOS
    try:
        check_fraction(fields)
        spec, unset = _spec(kind, fields, grid, limit)
        scenarios = Scenarios(spec, limit, where=f"glamsim.api.{kind}")
        models = ModelCache(f"glamsim.api.{kind}")
        check_inputs(scenarios, models, f"glamsim.api.{kind}")

        def checked(start: int, part: pd.DataFrame) -> pd.DataFrame:
            refused = part["refusal"].to_numpy(dtype=str) != "" if "refusal" in part else np.zeros(0, bool)
            if refused.any() and not keep_refused:  # a row the single estimate refuses: the front door refuses it too
                i = int(np.argmax(refused))
                at = f", scenario {start + i + 1}" if len(scenarios) > 1 else ""
                raise ConfigError(part["refusal"].iloc[i] + at)
            return _own_names(kind, part)

        frame = evaluate_all(spec, scenarios, models, checked)
    except ConfigError as err:
        raise ConfigError(_own_words(kind, str(err))) from None
    for line in plausibility(fields):
        warnings.warn(line, PlausibilityWarning, stacklevel=3)
    given = tuple(k for k, v in fields.items() if not is_unset(v))
    return Results(kind, frame, given, unset)


def _own_words(kind: str, message: str) -> str:
    """A study's refusal in the front door's words: keywords, not spec paths (`base.mfu=` ->
    `mfu=`, `cases[1]: mfu=` -> `scenario 2: mfu=`) or serving's study columns (`serving_chips=` ->
    `chips=`)."""
    message = re.sub(r"(^|: )(?:base|axes)\.", r"\1", message)
    message = re.sub(r"(^|: )cases\[(\d+)\]: ", lambda m: f"{m[1]}scenario {int(m[2]) + 1}: ", message)
    if kind == "serve":
        message = re.sub(rf"\bserving_({'|'.join(SERVING_PREFIXED)})(?=[=\[])", r"\1", message)
    return message


def train(*, grid: bool = False, **fields) -> Results:
    """Training runs: time, energy, carbon and dollars, one row per scenario.

    Parameters
    ----------
    grid : bool, default False
        False: lists and arrays are zipped (one length; scalars broadcast). True: every
        combination of their values.
    **fields
        Fields of `glamsim.scenario.TrainingScenario`, each a scalar, list or array, in the unit
        its name or `TrainingScenario.meta(name)["unit"]` gives. The main ones:

        - model : str, a preset name or YAML path (default ``"glam-64b-64e"``)
        - tokens : float, training tokens (default 600e9, GLaM's run)
        - seq_len : int, training context in tokens (default: the model's own, `max_seq_len`;
          the value used is the `resolved_seq_len` column)
        - chip : str, a chip profile (default ``"tpu-v4"``); chips : int (default 1,024)
        - mfu : float, model FLOPs utilisation, 0-1 (default: predicted from the best layout);
          or hours : float, wall-clock hours (the MFU is then implied)
        - datacenter : str; pue : float; carbon_intensity_kg_per_kwh : float, kgCO2e/kWh
        - power_w : float, W per chip; price_per_chip_hour_usd : float, USD per chip-hour
        - measured : str, a measurement record (JSON) from ``glamsim measure``
        - label : str, a name for the row in tables and figures

        None (or NaN) means the default; in a list, the default in that row.

    Returns
    -------
    Results
        `frame`: the scenario fields, then the outputs (`train_days` in days, `energy_mwh` in
        MWh, `co2e_t` in tCO2e, `cost_usd` in USD, `mfu`, `hfu`, `resolved_*` for what a default
        resolved to, ...; labels and units in `glamsim.outputs.OUTPUTS`).

    Raises
    ------
    glamsim.config.ConfigError
        One line: an unknown field, a value out of range, lists of different lengths without
        `grid=True`, an unknown model or chip.

    See Also
    --------
    serve : the same for serving.
    glamsim.cost.estimate_training : one scenario, with ranges and a tornado for uncertain inputs.

    Examples
    --------
    Lists of one length are zipped, scalars broadcast:

    >>> import glamsim.api as gs
    >>> r = gs.train(chip=["tpu-v4", "h100-sxm"], mfu=[0.3, 0.4])
    >>> len(r), list(r.frame["chip"])
    (2, ['tpu-v4', 'h100-sxm'])

    Arrays work as lists; `grid=True` crosses them (2 chips x 3 MFUs = 6 rows):

    >>> import numpy as np
    >>> len(gs.train(chip=["tpu-v4", "h100-sxm"], mfu=np.linspace(0.2, 0.4, 3), grid=True))
    6

    The context used is shown even where it is the model's default:

    >>> int(gs.train(model="gpt3-175b", mfu=0.3).frame["resolved_seq_len"].iloc[0])
    2048
    """
    return evaluate("train", grid=grid, **fields)


def serve(*, grid: bool = False, **fields) -> Results:
    """Serving (decoding at the roofline): latency, throughput, energy and dollars per token.

    Parameters
    ----------
    grid : bool, default False
        False: lists and arrays are zipped (one length; scalars broadcast). True: every
        combination of their values.
    **fields
        Fields of `glamsim.scenario.ServingScenario`, each a scalar, list or array. The main ones:

        - model : str, a preset name or YAML path (default ``"glam-64b-64e"``)
        - chip : str, a chip profile; chips : int (default: the fewest that hold weights and cache)
        - batch : int, sequences decoded together; prompt_len, gen_len : int, tokens
        - mfu, mbu : float, 0-1, compute and memory-bandwidth utilisation
        - weight_precision, kv_precision : str (``"bf16"``, ``"int8"``, ...)
        - ttft_ms, tpot_ms : float, ms, latency targets (the largest batch meeting them is used)
        - label : str, a name for the row in tables and figures

        None (or NaN) means the default; in a list, the default in that row.

    Returns
    -------
    Results
        `frame`: the scenario fields, then the outputs (`decode_step_s` in s,
        `decode_tokens_per_s_per_chip` in tokens/s per chip, `joules_per_token` in J,
        `usd_per_million_tokens` in USD, `weight_gb_total` in GB, `experts_touched_fraction`, ...).

    Raises
    ------
    glamsim.config.ConfigError
        As `train`.

    See Also
    --------
    train : the same for training runs.
    glamsim.cost.estimate_serving : one scenario, with ranges for uncertain inputs.

    Examples
    --------
    >>> import glamsim.api as gs
    >>> r = gs.serve(model=["glam-64b-64e", "gpt3-175b"], batch=[1, 32, 256], grid=True, chip="h100-sxm")
    >>> r.frame.pivot(index="batch", columns="model", values="usd_per_million_tokens").shape
    (3, 2)
    """
    return evaluate("serve", grid=grid, **fields)


def _own_names(kind: str, df: pd.DataFrame) -> pd.DataFrame:
    """The study frame with this kind's own field names: the other kind's inputs dropped, serving's
    prefixed columns renamed back (`serving_chips` -> `chips`)."""
    other = ServingScenario if kind == "train" else TrainingScenario
    mine = SCENARIOS[kind].inputs()
    drop = [c for c in other.inputs() if c not in mine and c in df]
    drop += [column("serve", n) for n in SERVING_PREFIXED if kind == "train"]
    drop += [n for n in SERVING_PREFIXED if kind == "serve"]
    df = df.drop(columns=[c for c in dict.fromkeys(drop) if c in df] + ["scenario"])
    if kind == "serve":
        df = df.rename(columns={column("serve", n): n for n in SERVING_PREFIXED})
    return df.reset_index(drop=True)


@dataclass
class Results:
    """Scenarios and their outputs, one row each: the same type for training and serving.

    Parameters
    ----------
    kind : {"train", "serve"}
        What was evaluated.
    frame : pandas.DataFrame
        One row per scenario: `label`, the scenario fields (defaults where not given; NaN where a
        default is resolved from a profile or the model, the value used then in its `resolved_*`
        column), the model's architecture (`n_layers`, `d_model`, `n_experts`, `top_k`), then
        every output with its unit in its name (`energy_mwh`, `joules_per_token`, ...; label,
        unit and meaning in `glamsim.outputs.OUTPUTS`).
    given : tuple of str
        The fields the call set; the others are the scenario's defaults.
    unset : list of frozenset, optional
        Per row, the given fields left to their default there (None or NaN in a list).

    Examples
    --------
    >>> import glamsim.api as gs
    >>> r = gs.train(mfu=[0.3, 0.4])
    >>> repr(r).startswith("<glamsim train results: 2 scenarios")
    True
    >>> r.to_frame().shape[0]
    2
    """

    kind: str
    frame: pd.DataFrame
    given: tuple[str, ...] = ()
    unset: list[frozenset] | None = None

    def to_frame(self) -> pd.DataFrame:
        """A copy of `frame` (one row per scenario, units in the column names).

        Returns
        -------
        pandas.DataFrame
        """
        return self.frame.copy()

    def __len__(self) -> int:
        return len(self.frame)

    def estimate(self, i: int = 0):
        """The single-scenario estimate of row `i`: the same numbers, plus the ledger.

        Parameters
        ----------
        i : int, default 0
            Row position in `frame` (negative counts from the end).

        Returns
        -------
        glamsim.cost.TrainingEstimate or glamsim.cost.ServingEstimate
            From `glamsim.cost.estimate_training` or `estimate_serving` on the row's given fields.

        Examples
        --------
        >>> import glamsim.api as gs
        >>> r = gs.train(mfu=[0.3, 0.4])
        >>> est = r.estimate(1)
        >>> est.mfu, bool(abs(est.energy_mwh - r.frame["energy_mwh"][1]) < 1e-9 * est.energy_mwh)
        (0.4, True)
        """
        from glamsim.cost.serving import estimate_serving
        from glamsim.cost.training import estimate_training

        cls = SCENARIOS[self.kind]
        row = self.frame.iloc[i]
        skip = set(EXTRA) | (self.unset[range(len(self.frame))[i]] if self.unset else set())
        fields = {k: _plain(row[k]) for k in self.given if k not in skip and _plain(row[k]) is not None}
        scenario = cls.build(fields, f"row {i}")
        return (estimate_training if self.kind == "train" else estimate_serving)(scenario)

    def ledger(self, i: int = 0) -> pd.DataFrame:
        """Every input of row `i` with its value, unit and source, as a table.

        Parameters
        ----------
        i : int, default 0
            Row position in `frame` (negative counts from the end).

        Returns
        -------
        pandas.DataFrame
            One row per input, columns ``name, value, unit, source``: "user input" for a field the
            call set, else the default's or the profile's source (paper, datasheet, date).
            ``.to_dict("records")`` gives the entries as dicts.

        Examples
        --------
        >>> import glamsim.api as gs
        >>> led = gs.train(chips=[512, 2048], mfu=0.3).ledger(1).set_index("name")
        >>> led.loc["chips", "value"], led.loc["chips", "source"]
        (2048, 'user input')
        """
        entries = self.estimate(i).ledger.to_list()
        return pd.DataFrame(entries, columns=["name", "value", "unit", "source"])

    def __repr__(self) -> str:
        shown = [c for c in HEADLINE[self.kind] if c in self.frame]
        first = ", ".join(f"{c}={self.frame[c].iloc[0]:.4g}" for c in shown) if len(self.frame) else ""
        n = len(self.frame)
        return f"<glamsim {self.kind} results: {n} scenario{'' if n == 1 else 's'}; first: {first}>"

    def shown_columns(self) -> list[str]:
        """The frame's columns in reading order: the row's label, the headline outputs (training days,
        MWh, tCO2e, dollars; or serving's step time, joules and dollars per token), every other
        output, then the inputs that made them."""
        inputs = set(SCENARIOS[self.kind].inputs()) | {"n_layers", "d_model", "n_experts", "top_k"}
        cols = list(self.frame.columns)
        head = [c for c in (*EXTRA, *HEADLINE[self.kind]) if c in cols]
        outputs = [c for c in cols if c not in head and c not in inputs]
        return head + outputs + [c for c in cols if c in inputs and c not in head]

    def _repr_html_(self) -> str:
        """The frame as a notebook shows it: headline outputs first, numbers as people write them
        (96.6B parameters, 1,024 chips; `glamsim.outputs.format_frame`); `frame` keeps the numbers."""
        from glamsim.outputs import format_frame

        return format_frame(self.frame[self.shown_columns()])._repr_html_()


def _plain(v):
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return None
    return v.item() if hasattr(v, "item") else v

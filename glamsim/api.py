"""The Python front door: any scenario field as a scalar, list or array in; one row per scenario out.

    import glamsim.api as gs
    r = gs.train(model="glam-64b-64e", chip=["tpu-v4", "h100-sxm"], mfu=[0.3, 0.4])   # zipped
    r = gs.train(chip=["tpu-v4", "h100-sxm"], mfu=[0.2, 0.3, 0.4], grid=True)         # every combination
    r.frame            # a DataFrame: the scenario fields, then every output (units in the names)
    r.ledger(0)        # every input of row 0 with its value, unit and source

Keywords are the fields of `glamsim.scenario.TrainingScenario` (train) or `ServingScenario`
(serve), each with its unit in the name; lists and arrays of one length are zipped (broadcast
against scalars), or crossed with `grid=True`.  None (or NaN) in a list means that field's
default in that row.  The rows are evaluated by the same vectorised code as a study
(`glamsim.studies`), so a front-door frame equals the study runner's for the same inputs.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from glamsim.config import MAX_INT, ConfigError, ModelConfig, load_model, show
from glamsim.plausible import PlausibilityWarning, check_fraction, plausibility  # noqa: F401  (gs.PlausibilityWarning)
from glamsim.profiles import ChipProfile, DatacenterProfile, load_chip, load_datacenter
from glamsim.scenario import SCENARIOS, ServingScenario, TrainingScenario
from glamsim.studies.scenario import SERVING_PREFIXED, column

KINDS = {"train": "training", "serve": "serving"}
HEADLINE = {
    "train": ["train_days", "energy_mwh", "co2e_t", "cost_usd"],
    "serve": ["decode_step_s", "joules_per_token", "usd_per_million_tokens"],
}
EXTRA = ("label",)  # study columns that are not scenario fields: a name for each row in tables and figures
PROFILES = {
    "model": (ModelConfig, load_model),
    "chip": (ChipProfile, load_chip),
    "datacenter": (DatacenterProfile, load_datacenter),
}


def _missing(v) -> bool:
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
    if _missing(v):
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
        elif not _missing(values):
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
    given = tuple(k for k, v in fields.items() if not _missing(v))
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


def quality(**fields) -> pd.DataFrame:
    """Plans at equal quality (`glamsim.cost.quality`): the compute-optimal dense model and the compute-optimal
    MoE per expert count that reach `target_loss`, or match `as_good_as` trained on `tokens`, each with its
    training and serving estimate and the lifetime cost for `served_tokens`; one row per candidate, the
    ledger in `df.attrs["ledger"]`.  Keywords: the fields of `glamsim.cost.quality.QualityScenario`."""
    from glamsim.cost.quality.plan import frame, plan

    return frame(plan(**fields))


def quality_curve(plan: pd.DataFrame, served_tokens=None) -> pd.DataFrame:
    """Lifetime cost of each option of a `quality` frame against served tokens (training cost +
    served tokens x serving cost per token), one row per (option, served tokens)."""
    from glamsim.cost.quality import lifetime_curve

    return lifetime_curve(plan, served_tokens)


def scaling_laws() -> dict:
    """The scaling laws glamsim ships (`glamsim/data/scaling_laws/`), by name, with their sources."""
    from glamsim.laws import scaling_laws as laws

    return laws()


def isoflop(out: str = "runs/studies/isoflop", *, bootstrap: int = 20, progress: bool = False, **grid) -> pd.DataFrame:
    """The IsoFLOP study on this machine (`glamsim.experiments.isoflop`): tiny dense and MoE GLaMs trained with
    JAX at a few compute budgets on the Python stdlib's source text, one row per run (family, width, budget,
    steps, tokens, `val_loss` in nats per byte, ...); the report in `df.attrs["report"]` (the law fitted per
    family with intervals, `coefficients` beside the published ones, the MoE compute `advantage` per budget),
    the ledger in `df.attrs["ledger"]`.  Runs already in `out` are reused, not trained again.  Keywords: the
    fields of `glamsim.cost.quality.isoflop.IsoflopGrid` (budgets, widths, experts, n_layers, ...).  JAX
    loads on this call, never on `import glamsim.api`."""
    import json

    from glamsim.cost.quality.isoflop import as_grid
    from glamsim.experiments.isoflop import run_isoflop

    run = run_isoflop(as_grid(**grid), out, n_bootstrap=bootstrap, progress=progress)
    df = run.runs.copy()
    df.attrs["report"] = run.report
    df.attrs["ledger"] = json.loads((run.out_dir / "ledger.json").read_text(encoding="utf-8"))
    df.attrs["files"] = [str(f) for f in run.files]
    df.attrs["trained"], df.attrs["reused"] = run.trained, run.reused
    df.attrs["wall_s"], df.attrs["fit_s"] = run.wall_s, run.fit_s
    return df


def layouts(
    model: str | ModelConfig = "glam-64b-64e",
    chip: str | ChipProfile = "tpu-v4",
    chips: int = 1024,
    *,
    seq_len: int | None = None,
    global_batch: int | None = None,
    rank_by: str = "time",
    top: int = 5,
    profiles_dirs: tuple = (),
) -> pd.DataFrame:
    """The parallel layouts of a model on `chips` chips that fit in memory, ranked (what `glamsim plan`
    prints), one row each: `rank`, `layout`, `step_s`, `mfu` (with `mfu_low`/`mfu_high`, its 80%
    interval), `hfu`, `tokens_per_s`, the memory per chip by part in bytes (`mem_weights`, ...,
    `mem_total`, `usable_bytes`) and the step's time by part in seconds (`time_compute_s`, ...).

    Examples
    --------
    >>> import glamsim.api as gs
    >>> df = gs.layouts("glam-8b-64e", "h100-sxm", 64, top=3)
    >>> list(df["rank"]), bool((df["mem_total"] <= df["usable_bytes"]).all())
    ([1, 2, 3], True)
    """
    from glamsim.predict.plan import search

    cfg = model if isinstance(model, ModelConfig) else load_model(model)
    prof = chip if isinstance(chip, ChipProfile) else load_chip(chip, profiles_dirs)
    r = search(cfg, prof, int(chips), seq_len=seq_len, global_batch=global_batch, rank_by=rank_by, top=top)
    rows = []
    for i, p in enumerate(r["plans"], 1):
        plain = {k: v for k, v in p.items() if not isinstance(v, dict)}
        rows.append(
            {
                "rank": i,
                "model": cfg.name,
                **plain,
                **{f"mem_{k}": v for k, v in p["memory"].items()},
                **{f"time_{k}": v for k, v in p["breakdown"].items()},
            }
        )
    return pd.DataFrame(rows)


CURVE_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
TARGET_STEPS = (0.25, 0.4, 0.6, 0.8, 1.0, 1.25, 1.6, 2.5, 4.0)  # a target's sweep: these multiples of it
TPOT_SWEEP_MS = (10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0)  # no target given
REQUEST_LEVEL = ("rate", "concurrency", "trace", "n_requests", "max_num_seqs", "max_num_batched_tokens", "seed")


def serving_curves(model, *, batches=CURVE_BATCHES, **fields) -> dict[str, pd.DataFrame]:
    """Serving curves of each model: the same scenario at every batch size, and at every latency
    target around the one given, from `serve(grid=True)` (the single estimate's formulas).

    Parameters
    ----------
    model : str or list of str
        Preset names or YAML paths; one curve each.
    batches : sequence of int
        The batch sizes of the batch curve (with `chips` given, those that fit it).
    **fields
        The other `ServingScenario` fields, as one scenario (scalars): precisions, placement, PUE,
        prices... `ttft_ms` and `tpot_ms` are the targets: the batch curve says at each batch
        whether they are met (`meets_targets`); the target curve sweeps each given target (TPOT
        when none is) over `TARGET_STEPS` times it, the batch capped at `batch`.  The request-level
        fields (`REQUEST_LEVEL`: `rate`, `concurrency`, ...) are simulated apart (``"requests"``),
        the closed-form curves are without them.

    Returns
    -------
    dict of pandas.DataFrame
        ``"batch"``: one row per (model, batch), a `serve` frame plus `meets_targets`;
        ``"target"``: one row per (model, swept target), with `target` (the field swept) and
        `target_ms`; a target that even batch 1 misses keeps its row, NaN outputs and the reason in
        `refusal`; with `rate` or `concurrency` given, ``"requests"``: the request-level simulation
        of each model with the scheduler's `max_num_seqs` at each batch (up to the one given, or
        the scenario's default).

    Examples
    --------
    >>> import glamsim.api as gs
    >>> c = gs.serving_curves(["glam-64b-64e", "gpt3-175b"], chip="h100-sxm", batches=[1, 8], tpot_ms=40)
    >>> len(c["batch"]), sorted(set(c["target"]["target"]))
    (4, ['tpot_ms'])
    """
    models = [model] if isinstance(model, (str, ModelConfig)) else list(model)
    fields = {k: v for k, v in fields.items() if not _missing(v)}
    asked = {k: fields.pop(k) for k in REQUEST_LEVEL if k in fields}
    targets = {k: fields.pop(k) for k in ("ttft_ms", "tpot_ms") if k in fields}
    cap = fields.pop("batch", None)
    if fields.get("chips") is not None:  # the batches that fit the given chips, per model
        need = serve(model=models, batch=list(batches), grid=True, **{**fields, "chips": None}).frame
        fit = need[need["serving_min_chips"] <= fields["chips"]]
        parts = [
            serve(model=m, batch=list(b["batch"]), **fields).frame
            for m, b in fit.groupby("model", sort=False)  # noqa: B023
        ]
        by_batch = pd.concat(parts, ignore_index=True) if parts else need.iloc[:0]
    else:
        by_batch = serve(model=models, batch=list(batches), grid=True, **fields).frame
    meets = pd.Series(True, index=by_batch.index)
    for name, seconds in (("ttft_ms", "prefill_s"), ("tpot_ms", "decode_step_s")):
        if name in targets:
            meets &= by_batch[seconds] * 1e3 <= targets[name]
    by_batch["meets_targets"] = meets
    swept = []
    for name in [k for k in ("tpot_ms", "ttft_ms") if k in targets] or ["tpot_ms"]:
        given = targets.get(name)
        values = sorted({given * f for f in TARGET_STEPS} if given is not None else set(TPOT_SWEEP_MS))
        r = serve(
            model=models,
            grid=True,
            keep_refused=True,
            batch=cap,
            **{**fields, **targets, name: values},
        ).frame
        swept.append(r.assign(target=name, target_ms=r[name]))
    out = {"batch": by_batch, "target": pd.concat(swept, ignore_index=True)}
    if "rate" in asked or "concurrency" in asked:  # the simulated requests, the scheduler capped at each batch
        limit = asked.get("max_num_seqs") or ServingScenario.model_fields["max_num_seqs"].default or max(batches)
        caps = [int(b) for b in batches if b <= limit]
        out["requests"] = serve(
            model=models,
            grid=True,
            keep_refused=True,
            **{**fields, **targets, **asked, "max_num_seqs": caps},
            batch=cap,
        ).frame
    return out


def validation() -> pd.DataFrame:
    """The step-time predictor against published training runs (`glamsim validate-predictions`):
    one row per run with its source family, stack, published and predicted figure, relative error,
    80% interval (`low`, `high`, built without the row's own source) and whether it `covered` the
    published figure."""
    from glamsim.predict.validation import validation_rows

    return pd.DataFrame(validation_rows())


def beside_published(model: str | ModelConfig = "glam-64b-64e", **fields) -> pd.DataFrame:
    """A training estimate beside the published run of the same model (`glamsim.cost.published`): one
    row per quantity (`name`: mfu, train_days, energy_mwh, co2e_t, then the inputs that set them),
    `estimate`, `published` and the published figure's `source`.  ``attrs``: `run` (the published
    run's id, None when the model has none), `why` (the estimate's ledger entry `published_run`: its
    predicted layout against the run's) and `differs` (one line per input that is not the run's).

    Examples
    --------
    >>> import glamsim.api as gs
    >>> df = gs.beside_published("glam-64b-64e").set_index("name")
    >>> df.attrs["run"], df.loc["energy_mwh", "published"], df.loc["mfu", "published"]
    ('glam-600b', 456.0, 0.285)
    """
    from glamsim.cost.published import beside_published as beside

    r = beside(model, **fields)
    df = pd.DataFrame(r["rows"], columns=["name", "estimate", "published", "source"])
    df.attrs.update(model=r["model"], run=r["run"], why=r["why"], differs=r["differs"])
    return df


def regions(datacenters=None, **fields) -> pd.DataFrame:
    """The same training run in every datacenter (`datacenters`: names; or YAML paths; default every
    profile glamsim ships), lowest carbon first: one row each with `datacenter`, `region`,
    `kind`, the `pue` and `carbon_intensity_kg_per_kwh` it resolved to, `energy_mwh`, `co2e_t` (net),
    `co2e_location_t`, and the net tCO2e as everyday equivalents (`co2e_vehicle_years`,
    `co2e_gasoline_gallons`; label, unit, rate and source of each in ``attrs["equivalents"]``).
    `fields` are one training scenario's (scalars), as `train` takes them; a `pue` or
    `carbon_intensity_kg_per_kwh` given there overrides every datacenter's.

    Examples
    --------
    >>> import glamsim.api as gs
    >>> df = gs.regions(["us-average", "france-average"], mfu=0.3)
    >>> list(df["datacenter"]), bool(df["co2e_t"].is_monotonic_increasing)
    (['france-average', 'us-average'], True)
    """
    from glamsim.cost.regions import regions_table
    from glamsim.profiles import registry

    names = [datacenters] if isinstance(datacenters, str) else list(datacenters or sorted(registry("datacenters")))
    profiles = {n: load_datacenter(n) for n in names}  # an unknown name: one line, with the close one
    return regions_table(train(datacenter=names, **fields).frame, profiles)

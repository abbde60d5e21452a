"""The Python front door: any scenario field as a scalar, list or array in; one row per scenario out.

    import glamsim.api as gs
    r = gs.train(model="glam-64b-64e", chip=["tpu-v4", "h100-sxm"], mfu=[0.3, 0.4])   # zipped
    r = gs.train(chip=["tpu-v4", "h100-sxm"], mfu=[0.2, 0.3, 0.4], grid=True)         # every combination
    r.frame            # a DataFrame: the scenario fields, then every output (units in the names)
    r.ledger(0)        # every input of row 0 with its value, unit and source

Keywords are the fields of `glamsim.scenario.TrainingScenario` (train) or `ServingScenario`
(serve), each with its unit in the name; lists and arrays of one length are zipped (broadcast
against scalars), or crossed with `grid=True`.  The rows are evaluated by the same vectorised code
as a study (`glamsim.studies`), so a front-door frame equals the study runner's for the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from glamsim.config import ConfigError
from glamsim.scenario import SCENARIOS, ServingScenario, TrainingScenario
from glamsim.studies.scenario import SERVING_PREFIXED

KINDS = {"train": "training", "serve": "inference"}
HEADLINE = {
    "train": ["train_days", "energy_mwh", "co2e_t", "cost_usd"],
    "serve": ["decode_step_s", "joules_per_token", "usd_per_million_tokens"],
}


def _column(kind: str, name: str) -> str:
    """The study column of a scenario field (serving's chips, mfu and expert_parallel are prefixed)."""
    return f"serving_{name}" if kind == "serve" and name in SERVING_PREFIXED else name


def _spec(kind: str, fields: dict, grid: bool):
    from glamsim.studies.spec import parse_spec

    cls = SCENARIOS[kind]
    unknown = [k for k in fields if k not in cls.inputs()]
    if unknown:
        raise ConfigError(f"{unknown[0]}: not a field of {cls.__name__}; fields: {', '.join(cls.inputs())}")
    base, axes = {}, {}
    for name, value in fields.items():
        values = value.tolist() if isinstance(value, (np.ndarray, pd.Series, pd.Index)) else value
        if isinstance(values, (list, tuple)) and not (
            cls.meta(name).get("uncertain") and len(values) == 3 and not isinstance(value, (np.ndarray, list))
        ):
            axes[_column(kind, name)] = list(values)
        elif value is not None:
            base[_column(kind, name)] = values
    lengths = {len(v) for v in axes.values()}
    if not grid and len(lengths - {1}) > 1:
        raise ConfigError(f"lengths {sorted(lengths)}: give lists of one length (zipped), or grid=True")
    if not grid:
        n = max(lengths, default=1)
        axes = {k: v * n if len(v) == 1 else v for k, v in axes.items()}
    spec = {
        "name": "front-door",
        "title": "glamsim.api",
        "evaluate": [KINDS[kind]],
        "base": base,
        "axes": axes,
        "combine": "grid" if grid else "zip",
    }
    return parse_spec(spec, f"glamsim.api.{kind}")


def evaluate(kind: str, *, grid: bool = False, max_scenarios: int | None = None, **fields) -> Results:
    """Evaluate scenarios of `kind` ("train" or "serve"); see the module docstring."""
    from glamsim.studies.sweep import MAX_SCENARIOS, ModelCache, check_inputs, evaluate, expand

    if kind not in KINDS:
        raise ConfigError(f"kind={kind!r}: expected train or serve")
    spec = _spec(kind, fields, grid)
    rows = expand(spec, max_scenarios or MAX_SCENARIOS, where=f"glamsim.api.{kind}")
    models = ModelCache(f"glamsim.api.{kind}")
    check_inputs(rows, models, f"glamsim.api.{kind}")
    return Results(kind, _own_names(kind, evaluate(spec, rows, models)), tuple(fields))


def train(*, grid: bool = False, **fields) -> Results:
    """Training scenarios: keywords are `TrainingScenario` fields (scalars, lists or arrays)."""
    return evaluate("train", grid=grid, **fields)


def serve(*, grid: bool = False, **fields) -> Results:
    """Serving scenarios: keywords are `ServingScenario` fields (scalars, lists or arrays)."""
    return evaluate("serve", grid=grid, **fields)


def _own_names(kind: str, df: pd.DataFrame) -> pd.DataFrame:
    """The study frame with this kind's own field names: the other kind's inputs dropped, serving's
    prefixed columns renamed back (`serving_chips` -> `chips`)."""
    other = ServingScenario if kind == "train" else TrainingScenario
    mine = SCENARIOS[kind].inputs()
    drop = [c for c in other.inputs() if c not in mine and c in df]
    drop += [_column("serve", n) for n in SERVING_PREFIXED if kind == "train"]
    drop += [n for n in SERVING_PREFIXED if kind == "serve"]
    df = df.drop(columns=[c for c in dict.fromkeys(drop) if c in df] + ["scenario"])
    if kind == "serve":
        df = df.rename(columns={_column("serve", n): n for n in SERVING_PREFIXED})
    return df.reset_index(drop=True)


@dataclass
class Results:
    """Scenarios and their outputs: `frame` (one row per scenario), `ledger(i)` for provenance."""

    kind: str
    frame: pd.DataFrame
    given: tuple[str, ...] = ()  # the fields the call set (the rest are the scenario's defaults)

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def __len__(self) -> int:
        return len(self.frame)

    def estimate(self, i: int = 0):
        """The single-scenario estimate of row `i` (ranges, tornado and ledger included)."""
        from glamsim.cost.inference import estimate_inference
        from glamsim.cost.training import estimate_training

        cls = SCENARIOS[self.kind]
        row = self.frame.iloc[i]
        fields = {k: _plain(row[k]) for k in self.given if _plain(row[k]) is not None}
        scenario = cls.build(fields, f"row {i}")
        return (estimate_training if self.kind == "train" else estimate_inference)(scenario)

    def ledger(self, i: int = 0) -> list[dict]:
        """Every input of row `i`: value, unit and source."""
        return self.estimate(i).ledger.to_list()

    def __repr__(self) -> str:
        shown = [c for c in HEADLINE[self.kind] if c in self.frame]
        first = ", ".join(f"{c}={self.frame[c].iloc[0]:.4g}" for c in shown) if len(self.frame) else ""
        return f"<glamsim {self.kind} results: {len(self.frame)} scenarios; first: {first}>"

    def _repr_html_(self) -> str:
        return self.frame._repr_html_()


def _plain(v):
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return None
    return v.item() if hasattr(v, "item") else v

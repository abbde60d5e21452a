"""The front door's planner views: plans at equal quality, layouts that fit, serving curves, the
predictor's validation, an estimate beside its published run, and the same run in every region."""

from __future__ import annotations

import pandas as pd

from glamsim.api.frames import is_unset, serve, train
from glamsim.config import ModelConfig, load_model
from glamsim.profiles import ChipProfile, load_chip, load_datacenter
from glamsim.scenario import ServingScenario


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
    software: str | None = None,
    profiles_dirs: tuple = (),
) -> pd.DataFrame:
    """The parallel layouts of a model on `chips` chips that fit in memory, ranked, then those counted
    over the usable HBM by less than the count's error on published peaks (`fits` False,
    `memory_verdict` "tight", `shortfall_message` saying by how much), what `glamsim plan`
    prints, one row each: `rank`, `layout`, `step_s`, `mfu` (with `mfu_low`/`mfu_high`, its 80%
    interval, `mfu_level` = 0.95 far from what was validated; `mfu_range` its label, wider where
    published MoE or long-context rows like it lie outside, and `mfu_basis` why), `hfu`, `tokens_per_s`, the memory per
    chip by part in bytes (`mem_weights`, ..., `mem_total`, `usable_bytes`) and the step's time by
    part in seconds (`time_compute_s`, ...).  `software`: the software and precision keys every
    searched layout keeps (`stack=pytorch-fsdp,fused=1`; `glamsim plan --software`).

    Examples
    --------
    >>> import glamsim.api as gs
    >>> df = gs.layouts("glam-8b-64e", "h100-sxm", 64, top=3)
    >>> list(df["rank"]), bool(df["fits"].all()), bool((df["mem_total"] <= df["usable_bytes"]).all())
    ([1, 2, 3], True, True)
    """
    from glamsim.predict.layout import parse_software
    from glamsim.predict.plan import search

    cfg = model if isinstance(model, ModelConfig) else load_model(model)
    prof = chip if isinstance(chip, ChipProfile) else load_chip(chip, profiles_dirs)
    base = None if software is None else parse_software(software)
    r = search(cfg, prof, int(chips), seq_len=seq_len, global_batch=global_batch, rank_by=rank_by, top=top, base=base)
    rows = []
    for i, p in enumerate(r["plans"], 1):
        plain = {k: v for k, v in p.items() if not isinstance(v, dict)}
        rows.append(
            {
                "rank": i,
                "model": cfg.name,
                **plain,
                "mfu_basis": r["mfu_interval"],
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
    fields = {k: v for k, v in fields.items() if not is_unset(v)}
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


def validation(run: str | None = None, family: str | None = None) -> pd.DataFrame:
    """The step-time predictor against published training runs (`glamsim validate-predictions`):
    one row per run with its source family, stack, published and predicted figure, relative error,
    interval (`low`, `high`, built without the row's own source; `level` 0.8, or 0.95 far from what
    was validated; an MoE row's spanning the other sources' MoE rows of its stack and routing, a
    GPU row at 32K tokens or more the other sources' long-context rows; `range` its label), whether
    it `covered` the published figure, its step-time `breakdown` and `memory` per chip with the
    `memory_verdict` ("fits", "tight": over the usable HBM by less than the count's error on
    other sources' published peaks, or "does not fit"), and `publisher_regression`, the
    publisher's own report of the figure as a performance regression, if any.  `run`: that
    published run alone (its id); `family`: one source family's rows."""
    from glamsim.predict.validation import selected_rows

    return pd.DataFrame(selected_rows(run, family))


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

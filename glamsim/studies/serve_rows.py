"""Serving outputs of many scenarios: `glamsim.cost.serving_costs` on whole columns, laid out by
the single estimate's rules, with its refusals."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd

from glamsim.accounting import ModelArrays
from glamsim.config import ConfigError
from glamsim.cost import serving
from glamsim.cost.bundles import Hardware, ServingRun, Site
from glamsim.scenario import PRECISION_BYTES
from glamsim.studies.columns import (
    chip_columns,
    datacenter_figures,
    direct,
    floats,
    lookup,
    measured_skew,
    override,
    power_curve,
)


def precision_bytes(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Bytes per weight and per KV value: the given bytes_per_param / bytes_per_kv, else the
    precision's (`glamsim.scenario.PRECISION_BYTES`), as the single estimate resolves them."""

    def by(bytes_col: str, precision_col: str) -> np.ndarray:
        default = rows[precision_col].map(PRECISION_BYTES).to_numpy(np.float64)
        bad = np.isnan(default)
        if bad.any():
            v = rows[precision_col].iloc[int(np.argmax(bad))]
            raise ConfigError(f"{precision_col}={v!r}: expected one of {', '.join(PRECISION_BYTES)}")
        return override(rows, bytes_col, default)

    return by("bytes_per_param", "weight_precision"), by("bytes_per_kv", "kv_precision")


def _refuse_unfit(rows: pd.DataFrame, lay: dict, placement: np.ndarray, x_given, prefill_chips, refused) -> None:
    """The single estimate's refusals of a serving layout, for the first row that meets one: experts
    that alone fill a chip, given chips or a prefill pool too few for weights and cache, experts over
    more chips than there are (`glamsim.cost.serving.estimate_serving`).  Rows `refused` already
    (targets that batch 1 misses, which the single estimate checks first) keep that refusal."""
    chips, need = lay["chips"], lay["need"]
    which = lambda bad: int(np.argmax(bad & ~refused))  # noqa: E731
    at = lambda i: f", scenario {i + 1}" if len(rows) > 1 else ""  # noqa: E731
    model, chip = rows["model"].to_numpy(), rows["chip"].to_numpy()
    bad = ~np.isfinite(need) & ~np.isnan(x_given)
    if (bad & ~refused).any():
        i = which(bad)
        raise ConfigError(
            f"serving_expert_parallel={x_given[i]:g}: {model[i]}'s experts over {x_given[i]:g} chips alone "
            f"fill a {chip[i]}; give more{at(i)}"
        )
    bad = chips < need
    if (bad & ~refused).any():
        i = which(bad)
        how = " with experts placed on chips" if placement[i] == "expert" else ""
        raise ConfigError(
            f"serving_chips={chips[i]:g}: too few to hold {model[i]}'s weights and KV cache{how} on {chip[i]}; "
            f"need at least {need[i]:g}{at(i)}"
        )
    bad = ~np.isnan(prefill_chips) & ~lay["prefill_fits"]
    if (bad & ~refused).any():
        i = which(bad)
        raise ConfigError(
            f"prefill_chips={prefill_chips[i]:g}: too few to hold {model[i]}'s weights and the prompts' KV cache "
            f"on {chip[i]}; need at least {lay['prefill_need'][i]:.0f}{at(i)}"
        )
    bad = (lay["expert_parallel"] > chips) & ~np.isnan(x_given)
    if (bad & ~refused).any():
        i = which(bad)
        raise ConfigError(f"serving_expert_parallel={x_given[i]:g}: more than the {chips[i]:g} serving chips{at(i)}")


def request_level_outputs(rows: pd.DataFrame, cfgs: list) -> dict[str, np.ndarray]:
    """The request-level simulation (`--rate`, `--concurrency`) of the rows that ask for one, each
    through the single estimate itself (`glamsim.cost.estimate_serving`, the one evaluation path):
    the scheduler is a loop over steps, not a column formula.  Empty when no row asks."""
    from glamsim.cost.serving import estimate_serving
    from glamsim.scenario import ServingScenario
    from glamsim.studies.scenario import fields_of

    asked = (rows["rate"].notna() | rows["concurrency"].notna()).to_numpy()
    out: dict[str, np.ndarray] = {}
    for i in np.flatnonzero(asked):
        fields = fields_of(ServingScenario, rows.iloc[i].to_dict())
        if cfgs[i].name != fields.get("model"):
            raise ConfigError(
                f"rate={fields.get('rate')!r}: the request-level simulation takes a preset or model file, not a swept "
                f"architecture (scenario {i + 1})"
            )
        est = estimate_serving(ServingScenario.build(fields))
        for key in est.values:
            if key.startswith(REQUEST_KEYS):
                out.setdefault(key, np.full(len(rows), np.nan))[i] = est.values[key]
    return out


# the request-level outputs (`glamsim.cost.serving.requests.request_outputs`), by prefix
REQUEST_KEYS = (
    "ttft_",
    "tpot_",
    "e2e_latency_",
    "requests_",
    "simulated_s",
    "output_tokens_per_s",
    "goodput_",
    "slo_attainment",
    "mean_batch_sequences",
    "preemptions",
    "joules_per_request",
    "joules_per_output_token",
    "usd_per_request",
    "usd_per_million_output_tokens",
)


def serving_outputs(rows: pd.DataFrame, m: ModelArrays, cfgs: list | None = None) -> dict[str, np.ndarray]:
    """`glamsim.cost.serving_costs` on whole columns, laid out by `serving.serving_layout` (the
    single estimate's rules), refusing what the single estimate refuses (`_refuse_unfit`); a
    scenario whose latency targets even batch 1 misses keeps its row, with NaN outputs and the
    single estimate's refusal in its `refusal` column (a sweep over targets finds where they bind).
    Rows with a request rate or clients also get the request-level outputs (`request_level_outputs`)."""
    chip = chip_columns(rows)
    dc = lookup(rows[["datacenter"]], datacenter_figures)
    batch, prompt, gen = floats(rows, "batch"), floats(rows, "prompt_len"), floats(rows, "gen_len")
    bpp, bkv = precision_bytes(rows)
    hbm, usable = chip["hbm_gb"] * serving.BYTES_PER_GB, floats(rows, "hbm_usable_fraction")
    given_link = floats(rows, "interconnect_gb_per_s") * serving.BYTES_PER_GB
    links = {
        k: np.where(np.isnan(given_link), chip[k], given_link) if k.endswith("bytes_per_s") else chip[k]
        for k in (
            "interconnect_bytes_per_s",
            "inter_node_bytes_per_s",
            "chips_per_node",
            "intra_latency_s",
            "inter_latency_s",
        )
    }
    placement = rows["placement"].astype(object).to_numpy()
    skew = floats(rows, "routing_skew")
    from_record = rows["measured"].notna().to_numpy() & np.isnan(skew)  # a record's load, unless a skew is given
    if from_record.any():
        skew = skew.copy()
        skew[from_record] = lookup(rows.loc[from_record, ["measured"]], measured_skew)["measured_skew"]
    skew = np.where(np.isnan(skew), 1.0, skew)
    chips_given, x_given = floats(rows, "serving_chips"), floats(rows, "serving_expert_parallel")
    prefill_chips = floats(rows, "prefill_chips")
    ttft, tpot = floats(rows, "ttft_ms") / 1e3, floats(rows, "tpot_ms") / 1e3
    targeted = ~np.isnan(ttft) | ~np.isnan(tpot)
    refusal = np.full(len(rows), "", dtype=object)  # a scenario the single estimate refuses: why, else ""
    met = {
        "batch_meeting_targets": np.full(len(rows), np.nan),
        "target_binding": np.full(len(rows), None, dtype=object),
    }
    if targeted.any():  # the single estimate's search (`serving.batch_meeting_targets`) on those rows
        sel = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), (len(rows),))[targeted]  # noqa: E731
        mt = m.with_(**{f.name: sel(getattr(m, f.name)) for f in fields(m)})
        t = serving.batch_meeting_targets(
            mt,
            sel(batch),
            sel(prompt),
            sel(gen),
            sel(chips_given),
            sel(hbm),
            sel(usable),
            sel(bpp),
            sel(bkv),
            sel(x_given),
            ttft[targeted],
            tpot[targeted],
            placement=placement[targeted],
            prefill_chips=sel(prefill_chips),
            peak_flops=sel(chip["peak_flops"]),
            hbm_bandwidth_bytes_per_s=sel(chip["hbm_bandwidth_gb_per_s"] * serving.BYTES_PER_GB),
            mfu=sel(floats(rows, "serving_mfu")),
            mbu=sel(floats(rows, "mbu")),
            comm_overlap=sel(floats(rows, "comm_overlap")),
            bytes_per_activation=sel(floats(rows, "bytes_per_activation")),
            routing_skew=sel(skew),
            kernel_us=sel(floats(rows, "kernel_us")),
            **{k: sel(v) for k, v in links.items()},
        )
        for i in np.flatnonzero((t["batch"] == 0) & (t["binding"] != "hbm")):  # the single estimate's refusal
            row = np.flatnonzero(targeted)[i]
            given = {k: None if np.isnan(v[row]) else v[row] * 1e3 for k, v in (("ttft_ms", ttft), ("tpot_ms", tpot))}
            chips_of = None if np.isnan(chips_given[row]) else chips_given[row]
            refusal[row] = serving.targets_missed(*given.values(), t, i, rows["chip"].iloc[row], chips_of)
        met["batch_meeting_targets"][targeted] = t["batch"]
        met["target_binding"][targeted] = t["binding"]
        batch = batch.copy()
        batch[targeted] = np.where(t["batch"] > 0, t["batch"], np.nan)  # none meets them: NaN outputs
    lay = serving.serving_layout(
        m, placement, batch, prompt, gen, chips_given, x_given, prefill_chips, hbm, usable, bpp, bkv
    )
    chips, x = lay["chips"], lay["expert_parallel"]
    _refuse_unfit(rows, lay, placement, x_given, prefill_chips, refusal != "")
    run = ServingRun(
        m,
        batch,
        prompt,
        gen,
        chips,
        floats(rows, "serving_mfu"),
        floats(rows, "mbu"),
        bytes_per_param=bpp,
        bytes_per_kv=bkv,
        expert_parallel=x,
        placement=placement,
        routing_skew=skew,
        dense_shards=lay["dense_shards"],
        prefill_dense_shards=lay["prefill_dense_shards"],
        prefill_chips=prefill_chips,
        **direct(rows, serving.DIRECT),
    )
    hardware = Hardware(
        chip["peak_flops"],
        **power_curve(rows, chip),
        embodied_kg_per_chip_hour=chip["embodied_kg_per_chip_hour"],
        host_embodied_kg_per_chip_hour=chip["host_embodied_kg_per_chip_hour"],
        hbm_bandwidth_bytes_per_s=chip["hbm_bandwidth_gb_per_s"] * serving.BYTES_PER_GB,
        **links,
        idle_power_w=np.where(np.isnan(floats(rows, "power_w")), chip["idle_w"], np.nan),
    )
    site = Site(
        override(rows, "pue", dc["pue"]),
        override(rows, "carbon_intensity_kg_per_kwh", dc["carbon_intensity_kg_per_kwh"]),
        override(rows, "price_per_chip_hour_usd", chip["price_per_chip_hour_usd"]),
        wue_onsite_l_per_kwh=dc["wue_onsite_l_per_kwh"],
        water_offsite_l_per_kwh=dc["water_offsite_l_per_kwh"],
    )
    res = serving.serving_costs(run, hardware, site)
    touched = res["experts_touched_per_moe_layer"]
    requests = request_level_outputs(rows, cfgs) if cfgs is not None else {}
    return {
        **requests,
        "refusal": refusal,
        "serving_min_chips": lay["need"],
        "serving_chips_used": chips,
        "batch_served": batch,
        "serving_expert_parallel_used": x,
        "resolved_routing_skew": skew,
        "dense_shards": lay["dense_shards"],
        **met,
        "resolved_bytes_per_param": bpp,
        "resolved_bytes_per_kv": bkv,
        "weight_gb_total": serving.weight_bytes_total(m, bpp) / serving.BYTES_PER_GB,
        "kv_cache_gb_full_context": serving.kv_cache_bytes(m, batch, prompt + gen, bkv) / serving.BYTES_PER_GB,
        **{
            f"{part}_gb_per_chip": v / serving.BYTES_PER_GB
            for part, v in serving.memory_per_chip(
                m,
                batch,
                prompt,
                gen,
                chips,
                x,
                lay["dense_shards"],
                placement,
                prefill_chips,
                bpp,
                bkv,
                floats(rows, "bytes_per_activation"),
            ).items()
        },
        **res,
        "experts_touched_fraction": np.divide(
            touched, m.n_experts, out=np.full(len(rows), np.nan), where=m.n_experts > 0
        ),
    }

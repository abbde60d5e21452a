"""Plain-language statements of an estimate, to paste into a paper's methods or impact section.

Every number comes from the estimate and its ledger (values and sources), so the paragraph says
exactly what the tables and downloads say, with the inputs' provenance spelled out.
"""

from __future__ import annotations

import math

from glamsim.cost.ledger import Ledger
from glamsim.cost.serving import ServingEstimate
from glamsim.cost.training import TrainingEstimate
from glamsim.uncertain import triple


def num(v: float) -> str:
    """Readable in prose: 1024 -> '1,024', 1288.7 -> '1,290', 6e11 -> '600 billion', 3.56e23 -> '3.56e23'."""
    if v is None or not math.isfinite(v):
        return "unknown"
    a = abs(v)
    if a >= 1e15:
        mant, exp = f"{v:.3g}".split("e")
        return f"{mant}e{int(exp)}"
    for word, scale in (("trillion", 1e12), ("billion", 1e9), ("million", 1e6)):
        if a >= scale:
            return f"{v / scale:.3g} {word}"
    if float(v).is_integer():
        return f"{int(v):,}"
    r = float(f"{v:.3g}")
    return f"{r:,.0f}" if abs(r) >= 100 else f"{r:.3g}"


def _value(ledger: Ledger, name: str) -> str:
    """A ledger input as text: '326' or '0.25 (range 0.2 to 0.3)'."""
    try:
        v = ledger[name].value
    except KeyError:
        return "unknown"
    if v is None:
        return "unknown"
    if isinstance(v, list):
        lo, nom, hi = triple(v)
        return f"{num(nom)} (range {num(lo)} to {num(hi)})"
    return num(v) if isinstance(v, (int, float)) else str(v)


def _power(ledger: Ledger, modelled: float | None) -> str:
    """The power per chip the estimate used: the given (or profile's) figure, else the power model's
    result for this run (`power_w_per_chip`), said as such; never 'unknown' when the model gave one."""
    given = _value(ledger, "power_w")
    if given != "unknown" or modelled is None or not math.isfinite(modelled):
        return f"{given} W per chip"
    return f"{num(modelled)} W per chip (the power model's figure for this run)"


def _sources(ledger: Ledger, names: list[str]) -> str:
    parts = []
    for n in names:
        try:
            e = ledger[n]
        except KeyError:
            continue
        parts.append(f"{n.replace('_', ' ')}: {e.source}")
    return "; ".join(parts)


def _ranges(ranges: dict, units: dict[str, str]) -> str:
    if not ranges:
        return ""
    parts = [f"{units[k]} {num(lo)} to {num(hi)}" for k, (lo, hi) in ranges.items() if k in units]
    return " Over the stated input ranges: " + ", ".join(parts) + "."


def training_statement(est: TrainingEstimate, *, model: str, chip: str, datacenter: str) -> str:
    """One paragraph: what was estimated, the headline figures, the assumptions and their sources."""
    led = est.ledger
    tokens = f" on {num(led['tokens'].value)} tokens" if any(e.name == "tokens" for e in led.entries) else ""
    util = (
        f"at a model-FLOPs utilisation of {_value(led, 'mfu')}"
        if any(e.name == "mfu" for e in led.entries)
        else f"in {_value(led, 'hours')} hours (implying {num(est.mfu)} model-FLOPs utilisation)"
    )
    text = (
        f"We estimate that training {model}{tokens} ({num(est.flops_total)} FLOPs) on "
        f"{_value(led, 'chips')} {chip} chips {util} takes {num(est.train_days)} days "
        f"({num(est.chip_hours)} chip-hours). At {_power(led, est.to_dict().get('power_w_per_chip'))} and a PUE of "
        f"{_value(led, 'pue')} ({datacenter}), it consumes {num(est.energy_mwh)} MWh and emits "
        f"{num(est.co2e_t)} tCO2e at {_value(led, 'carbon_intensity_kg_per_kwh')} kgCO2e/kWh; "
        + (
            f"at ${_value(led, 'price_per_chip_hour_usd')} per chip-hour it costs ${num(est.cost_usd)}."
            if math.isfinite(est.cost_usd)
            else "its dollar cost is unknown (no chip-hour price given)."
        )
    )
    text += _ranges(est.ranges, {"train_days": "days", "energy_mwh": "MWh", "co2e_t": "tCO2e", "cost_usd": "USD"})
    return (
        text
        + " Sources: "
        + _sources(
            led,
            [
                "flops_total",
                "mfu",
                "hours",
                "peak_flops",
                "power_w",
                "pue",
                "carbon_intensity_kg_per_kwh",
                "price_per_chip_hour_usd",
            ],
        )
        + "."
    )


def _serving_layout_sentence(v: dict) -> str:
    """What a serving estimate assumed beyond the plain roofline: experts placed on chips, a latency
    target, a separate prefill pool, idle time ("" when none of these)."""
    parts = []
    if v.get("placement") == "expert":
        parts.append(
            f"experts are placed on chips (dense parts split {num(v['dense_shards'])} ways and replicated), so each "
            f"MoE layer waits for its busiest expert chip ({num(v['decode_expert_wait_s'] * 1e3)} ms of each step)"
        )
    if v.get("target_binding") == "batch":
        parts.append(f"the given batch {v['batch_served']} meets the latency targets")
    elif v.get("target_binding"):
        parts.append(
            f"batch {v['batch_served']} is the largest that meets the latency targets ({v['target_binding']} binds)"
        )
    if v.get("prefill_chips_used") != v.get("serving_chips_used"):
        parts.append(
            f"prefill runs on a separate pool of {num(v['prefill_chips_used'])} chips, its KV cache reaching the "
            f"decode chips in {num(v['kv_transfer_s'] * 1e3)} ms"
        )
    return (" Here " + "; ".join(parts) + ".") if parts else ""


def serving_statement(est: ServingEstimate, *, datacenter: str) -> str:
    """One paragraph for a serving estimate (roofline decode with a KV cache)."""
    v, led = est.values, est.ledger
    text = (
        f"We estimate that serving {v['model']} on {v['serving_chips_used']} {v['chip']} chips "
        f"({v['serving_min_chips']} is the fewest whose memory holds its {num(v['weight_gb_total'])} GB of "
        "weights plus the KV cache), decoding batches of "
        f"{v['batch_served']} requests of {v['prompt_len']} prompt and {v['gen_len']} generated tokens, takes "
        f"{num(v['decode_step_s'] * 1e3)} ms per generated token ({num(v['decode_tokens_per_s_per_chip'])} "
        f"tokens/s per chip, {_power(led, v.get('decode_power_w_per_chip'))} while decoding), "
        f"{num(v['joules_per_token'])} J per generated token at the facility "
        f"({datacenter}, PUE {_value(led, 'pue')}), ${num(v['usd_per_million_tokens'])} and "
        f"{num(v['kgco2e_per_million_tokens'])} kgCO2e per million generated tokens, on a roofline with compute "
        f"at {_value(led, 'mfu')} and memory bandwidth at {_value(led, 'mbu')} of the chip's peak."
    )
    text += _serving_layout_sentence(v)
    text += _ranges(
        est.ranges,
        {
            "joules_per_token": "J/token",
            "usd_per_million_tokens": "USD per 1M tokens",
            "kgco2e_per_million_tokens": "kgCO2e per 1M tokens",
            "decode_tokens_per_s_per_chip": "tokens/s per chip",
        },
    )
    return (
        text
        + " Sources: "
        + _sources(
            led,
            [
                "peak_flops",
                "hbm_bandwidth_gb_per_s",
                "power_w",
                "pue",
                "carbon_intensity_kg_per_kwh",
                "price_per_chip_hour_usd",
            ],
        )
        + "."
    )


def plain_statement(
    est: TrainingEstimate | ServingEstimate, *, datacenter: str, model: str = "", chip: str = ""
) -> str:
    """The paragraph for either kind of estimate (training needs `model` and `chip` named)."""
    if isinstance(est, ServingEstimate):
        return serving_statement(est, datacenter=datacenter)
    return training_statement(est, model=model, chip=chip, datacenter=datacenter)

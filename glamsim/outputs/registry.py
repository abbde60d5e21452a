"""Every registered output: its key, words, unit, meaning and format (`glamsim.outputs` reads them)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Output:
    """One result a face shows: its key, words, unit, meaning and how its values read.

    Parameters
    ----------
    key : str
        The result's column name (`energy_mwh`), the same in every face, study and frame.
    label : str
        Words for a header or an axis ("energy").
    unit : str
        The unit ("MWh", "tCO2e", "tokens/s per chip"); "" for a fraction or a flag.
    description : str, optional
        What the number means and how it is computed.
    format : str, default "number"
        How values read: "number" (compact, 3.855M), "integer" (2,048), "fraction", "flag"
        (yes/no) or "text".

    Examples
    --------
    >>> OUTPUTS["energy_mwh"].axis()
    'facility energy (MWh)'
    """

    key: str
    label: str
    unit: str
    description: str = ""
    format: str = "number"  # number | integer | fraction | flag

    def axis(self) -> str:
        """`label (unit)` for an axis or a column header (the unit once, when the label names it already).

        Returns
        -------
        str
            E.g. "training time (days)", "MFU".
        """
        said = self.unit and re.search(rf"(^|\s|\(){re.escape(self.unit)}($|\s|\))", self.label)
        return f"{self.label} ({self.unit})" if self.unit and not said else self.label


def _table(rows: list[tuple]) -> dict[str, Output]:
    return {r[0]: Output(*r) for r in rows}


OUTPUTS: dict[str, Output] = _table(
    [
        # training
        ("flops_total", "training FLOPs", "FLOPs", "model FLOPs of the whole run (or the given --train-flops)"),
        ("chip_hours", "chip-hours", "chip-h", "chips x wall-clock hours"),
        ("train_hours", "training time", "h", "wall-clock hours, exposed communication included"),
        ("train_days", "training time", "days", "wall-clock days"),
        ("compute_hours", "compute time", "h", "hours computing at the given utilisation"),
        ("comm_hours", "communication time", "h", "all-to-all and all-reduce time before overlap"),
        ("comm_exposed_hours", "exposed communication", "h", "communication not hidden behind compute"),
        (
            "layout_comm_exposed_hours",
            "exposed communication in the predicted layout",
            "h",
            "the predicted layout's exposed tensor, expert, context, pipeline and data-parallel time, already "
            "inside its MFU and the hours (NaN when the MFU is not predicted)",
        ),
        ("mfu", "MFU", "", "model FLOPs / (chips x time x dense peak), end to end", "fraction"),
        (
            "mfu_effective",
            "MFU over the wall clock",
            "",
            "the MFU with the exposed communication's time included (= mfu when none is charged)",
            "fraction",
        ),
        (
            "mfu_low",
            "MFU, low end of its range",
            "",
            "a predicted MFU's interval from the published runs' errors (80%, 95% far from what was validated; "
            "glamsim.predict.intervals); NaN when the MFU is typed, measured or implied by hours",
            "fraction",
        ),
        ("mfu_high", "MFU, high end of its range", "", "the high end of the same interval (see mfu_low)", "fraction"),
        (
            "resolved_memory_fit",
            "memory fit",
            "",
            "the predicted layout's memory per chip: fits, or tight (counted over the usable HBM by less than the "
            "count's error on published peaks: it may run out of memory); empty for a typed MFU",
            "text",
        ),
        ("hfu", "HFU", "", "hardware FLOPs utilisation: MFU x hardware/model FLOPs", "fraction"),
        ("energy_mwh", "facility energy", "MWh", "facility boundary: the servers' energy x PUE"),
        (
            "energy_server_mwh",
            "server energy",
            "MWh",
            "server boundary: chip-hours x power per chip (the boards and their host share)",
        ),
        (
            "energy_boards_mwh",
            "accelerator-board energy",
            "MWh",
            "accelerator boundary: the boards alone, what a GPU meter reads (server energy less the host share)",
        ),
        (
            "power_w_per_chip",
            "power per chip",
            "W",
            "system power per chip: given, published measured, or board "
            "(idle + compute and HBM activity, capped at TDP) plus host share; TDP x fraction with --power-model tdp",
        ),
        ("co2e_t", "CO2e, market-based (net)", "tCO2e", "energy x net (market-based) carbon intensity"),
        (
            "co2e_location_t",
            "CO2e, location-based (gross)",
            "tCO2e",
            "energy x gross (location-based) carbon intensity",
        ),
        (
            "embodied_co2e_t",
            "embodied CO2e",
            "tCO2e",
            "the boards' and their host share's embodied carbon (NaN where either has no published footprint)",
        ),
        (
            "embodied_boards_co2e_t",
            "embodied CO2e, boards",
            "tCO2e",
            "chip-hours x the boards' manufacturing carbon per working hour (NaN: no published footprint for the chip)",
        ),
        (
            "embodied_host_co2e_t",
            "embodied CO2e, host share",
            "tCO2e",
            "chip-hours x the host server's manufacturing carbon per chip and working hour (CPUs, DRAM, SSDs, NICs, "
            "chassis)",
        ),
        (
            "water_onsite_l",
            "water, on site",
            "L",
            "IT energy x the datacenter's WUE (cooling water evaporated; NaN: the profile publishes no WUE)",
        ),
        (
            "water_offsite_l",
            "water, electricity generation",
            "L",
            "facility energy x the grid's water per kWh (NaN: the profile publishes none)",
        ),
        ("water_l", "water consumed", "L", "on-site + off-site water (NaN when either is unknown)"),
        ("cost_usd", "cost at list price", "USD", "chip-hours x price per chip-hour"),
        ("alltoall_bytes_per_chip_step", "MoE all-to-all results", "bytes", "per step per chip"),
        ("alltoall_wire_bytes_per_chip_step", "all-to-all bytes off-chip", "bytes", "per step per chip"),
        ("grad_bytes_per_chip_step", "gradients", "bytes", "per step per chip"),
        ("allreduce_wire_bytes_per_chip_step", "all-reduce bytes off-chip (ring)", "bytes", "per step per chip"),
        ("comm_wire_bytes_per_chip_step", "bytes off-chip", "bytes", "per step per chip"),
        ("comm_s_per_step", "communication per step", "s", "on the interconnect"),
        ("alltoall_s_per_step", "all-to-all per step", "s", "on the interconnect"),
        ("steps", "optimizer steps", "steps", "", "integer"),
        ("expert_parallel", "expert parallelism", "chips", "chips one MoE layer's experts span", "integer"),
        ("sequences_per_step", "sequences per step", "sequences", "", "integer"),
        # serving
        ("params_total", "parameters (total)", "parameters", "every weight, every expert"),
        ("params_active", "parameters activated per token", "parameters", "top-k experts only"),
        ("weight_gb_total", "weights in memory", "GB", "every expert must be held"),
        ("kv_cache_gb_full_context", "KV cache at full context", "GB"),
        ("weights_gb_per_chip", "weights per chip", "GB", "on the busiest chip: its share of every weight"),
        ("kv_cache_gb_per_chip", "KV cache per chip", "GB", "the batch at full context, spread over the chips"),
        (
            "activations_gb_per_chip",
            "activations per chip",
            "GB",
            "the largest forward pass's live tensors, one layer at a time (prefill of the batch's prompts)",
        ),
        ("prefill_flops", "prefill FLOPs", "FLOPs"),
        ("prefill_bytes", "prefill bytes read", "bytes"),
        ("prefill_s", "prefill time", "s"),
        ("prefill_compute_bound", "prefill compute-bound", "", "", "flag"),
        ("prefill_tokens_per_s_per_chip", "prefill throughput", "tokens/s per chip"),
        ("decode_flops_per_token", "FLOPs per decoded token", "FLOPs"),
        ("decode_weight_bytes_per_step", "weight bytes read per decoding step", "bytes"),
        ("decode_kv_bytes_per_step", "KV-cache bytes read per decoding step", "bytes"),
        ("decode_alltoall_bytes_per_chip_step", "decode all-to-all", "bytes off-chip per step"),
        ("decode_alltoall_s", "decode all-to-all time", "s per step"),
        ("decode_step_s", "decoding step", "s"),
        ("decode_compute_bound", "decoding compute-bound", "", "", "flag"),
        ("decode_s", "decoding time", "s"),
        ("request_latency_s", "request latency", "s", "prefill + decoding"),
        ("experts_touched_per_moe_layer", "experts read per MoE layer per step", "experts"),
        (
            "experts_read_busiest_chip",
            "experts the busiest expert chip reads per MoE layer",
            "experts",
            "expert placement: at least one, the wait on the chip holding a touched expert",
        ),
        ("decode_expert_wait_s", "wait on the busiest expert chip", "s per step", "expert placement, all MoE layers"),
        ("dense_shards", "chips per copy of the dense parts", "chips", "expert placement"),
        ("placement", "weight placement", "", "sharded or expert", "text"),
        ("prefill_chips_used", "prefill chips", "chips", "the decode chips unless a separate pool is given"),
        ("kv_transfer_s", "KV-cache transfer to the decode chips", "s", "separate prefill pool only"),
        ("serving_expert_parallel_used", "chips the experts span", "chips"),
        ("resolved_routing_skew", "routing skew used", "busiest / mean expert load"),
        ("idle_power_w_per_chip", "idle power", "W", "the power model at zero load: what an idle replica draws"),
        ("experts_touched_fraction", "share of experts read per step", "", "", "fraction"),
        ("decode_tokens_per_s_per_chip", "decoding throughput", "tokens/s per chip"),
        ("joules_per_token", "energy per generated token", "J (facility)"),
        (
            "joules_per_token_server",
            "energy per generated token, servers",
            "J (server)",
            "server boundary: the boards and their host share, no PUE (decode)",
        ),
        (
            "joules_per_token_boards",
            "energy per generated token, accelerator boards",
            "J (boards)",
            "accelerator boundary: what a GPU meter reads (decode)",
        ),
        ("joules_per_token_with_prefill", "energy per generated token, prefill included", "J (facility)"),
        ("usd_per_million_tokens", "cost per 1M generated tokens", "USD"),
        ("usd_per_million_tokens_with_prefill", "cost per 1M generated tokens, prefill included", "USD"),
        ("kgco2e_per_million_tokens", "CO2e per 1M generated tokens", "kgCO2e (net)"),
        (
            "water_l_per_million_tokens",
            "water per 1M generated tokens",
            "L",
            "decode: IT energy x WUE + facility energy x the grid's water per kWh (NaN: not published)",
        ),
        (
            "prefill_load",
            "prefill load",
            "",
            "busy fraction of the busier of compute and HBM while prefilling",
            "fraction",
        ),
        ("decode_load", "decode load", "", "busy fraction of the busier of compute and HBM while decoding", "fraction"),
        (
            "prefill_power_w_per_chip",
            "power per chip, prefill",
            "W",
            "system power at prefill's tensor-core and HBM utilisation",
        ),
        (
            "decode_power_w_per_chip",
            "power per chip, decode",
            "W",
            "system power at decode's tensor-core and HBM utilisation",
        ),
        ("serving_min_chips", "fewest chips holding the model", "chips", "", "integer"),
        ("serving_chips_used", "serving chips", "chips", "", "integer"),
        ("refusal", "refused", "", "why the single estimate refuses this scenario (empty: it does not)", "text"),
        (
            "embodied_kgco2e_per_million_tokens",
            "embodied carbon per 1M tokens",
            "kgCO2e",
            "the boards' and their host share's manufacturing carbon over their service life, for the chip-time of "
            "the tokens (decode)",
        ),
        (
            "embodied_boards_kgco2e_per_million_tokens",
            "embodied carbon per 1M tokens, boards",
            "kgCO2e",
            "the boards' manufacturing carbon over their service life, for the chip-time of the tokens (decode)",
        ),
        (
            "embodied_host_kgco2e_per_million_tokens",
            "embodied carbon per 1M tokens, host share",
            "kgCO2e",
            "the host server's share per chip of manufacturing carbon, for the chip-time of the tokens (decode)",
        ),
        ("batch_served", "batch served", "sequences", "the given batch, or the largest meeting the targets", "integer"),
        (
            "batch_meeting_targets",
            "batch meeting the latency targets",
            "sequences",
            "the largest batch up to the "
            "given one whose prefill meets --ttft-ms and whose decode step meets --tpot-ms (0: even batch 1 misses)",
            "integer",
        ),
        (
            "target_binding",
            "binding latency target",
            "",
            "what stops the next batch: ttft, tpot, ttft+tpot, hbm, or batch (the given batch meets both)",
            "text",
        ),
        ("resolved_bytes_per_param", "bytes per weight", "bytes", "from --weight-precision or --bytes-per-param"),
        ("resolved_bytes_per_kv", "bytes per KV value", "bytes", "from --kv-precision or --bytes-per-kv"),
        # request level (--rate / --concurrency: glamsim.cost.serving.requests)
        (
            "ttft_p50_s",
            "time to first token, p50",
            "s",
            "request-level: over the simulated requests (--rate/--concurrency)",
        ),
        (
            "ttft_p90_s",
            "time to first token, p90",
            "s",
            "request-level: over the simulated requests (--rate/--concurrency)",
        ),
        (
            "ttft_p99_s",
            "time to first token, p99",
            "s",
            "request-level: over the simulated requests (--rate/--concurrency)",
        ),
        (
            "ttft_mean_s",
            "time to first token, mean",
            "s",
            "request-level: over the simulated requests (--rate/--concurrency)",
        ),
        (
            "tpot_p50_s",
            "time per output token, p50",
            "s",
            "request-level: over the simulated requests (--rate/--concurrency)",
        ),
        (
            "tpot_p90_s",
            "time per output token, p90",
            "s",
            "request-level: over the simulated requests (--rate/--concurrency)",
        ),
        (
            "tpot_p99_s",
            "time per output token, p99",
            "s",
            "request-level: over the simulated requests (--rate/--concurrency)",
        ),
        (
            "tpot_mean_s",
            "time per output token, mean",
            "s",
            "request-level: over the simulated requests (--rate/--concurrency)",
        ),
        (
            "e2e_latency_p50_s",
            "end-to-end latency, p50",
            "s",
            "request-level: over the simulated requests (--rate/--concurrency)",
        ),
        (
            "e2e_latency_p90_s",
            "end-to-end latency, p90",
            "s",
            "request-level: over the simulated requests (--rate/--concurrency)",
        ),
        (
            "e2e_latency_p99_s",
            "end-to-end latency, p99",
            "s",
            "request-level: over the simulated requests (--rate/--concurrency)",
        ),
        (
            "e2e_latency_mean_s",
            "end-to-end latency, mean",
            "s",
            "request-level: over the simulated requests (--rate/--concurrency)",
        ),
        ("requests_simulated", "requests simulated", "requests", "", "integer"),
        ("simulated_s", "simulated time", "s", "from the first arrival to the last completion"),
        ("requests_per_s", "request throughput", "requests/s"),
        ("output_tokens_per_s", "output throughput", "tokens/s", "generated tokens per second, the replica"),
        ("output_tokens_per_s_per_chip", "output throughput per chip", "tokens/s per chip"),
        (
            "goodput_requests_per_s",
            "goodput",
            "requests/s",
            "completed requests per second meeting both --ttft-ms and --tpot-ms (DistServe, Zhong et al. OSDI 2024)",
        ),
        ("slo_attainment", "share of requests meeting the SLO", "", "", "fraction"),
        ("mean_batch_sequences", "mean batch", "sequences", "sequences per scheduler step, averaged over steps"),
        (
            "preemptions",
            "preemptions",
            "requests",
            "KV cache exhausted: a running request freed and recomputed",
            "integer",
        ),
        ("joules_per_request", "energy per request", "J (facility)", "power per chip at each step's utilisation x PUE"),
        (
            "joules_per_output_token",
            "energy per output token",
            "J (facility)",
            "request level, prefill and idle included",
        ),
        (
            "joules_per_output_token_boards",
            "energy per output token, accelerator boards",
            "J (boards)",
            "request level: what a GPU meter reads (NaN: no host share known)",
        ),
        ("usd_per_request", "cost per request", "USD", "chip-hours of the simulated time x price"),
        ("usd_per_million_output_tokens", "cost per 1M output tokens", "USD", "request level, idle time included"),
        # counts
        (
            "resolved_seq_len",
            "training context",
            "tokens",
            "the scenario's seq_len, else the model's own context (max_seq_len)",
            "integer",
        ),
        ("flops_per_token_train", "training FLOPs per token", "FLOPs"),
        ("train_mfu", "training MFU", "", "model FLOPs utilisation of the training run", "fraction"),
        ("peak_flops_per_s", "dense peak per chip", "FLOP/s"),
    ]
)

# A training run's headline outputs, and each at the two ends of a predicted MFU's range
# (`glamsim.cost.training.at_mfu_range`): `train_days_at_mfu_low` ... `cost_usd_at_mfu_high`.
TRAINING_HEADLINE = ("train_days", "energy_mwh", "co2e_t", "cost_usd")
MFU_RANGE_KEYS = tuple(f"{o}_at_mfu_{end}" for end in ("low", "high") for o in TRAINING_HEADLINE)
OUTPUTS.update(
    (
        f"{o}_at_mfu_{end}",
        Output(
            f"{o}_at_mfu_{end}",
            f"{OUTPUTS[o].label} at the MFU's {end} end",
            OUTPUTS[o].unit,
            f"{OUTPUTS[o].label} with the predicted MFU at the {end} end of its range (mfu_{end}), every other "
            "input at its nominal value; NaN when the MFU is typed, measured or implied by hours",
        ),
    )
    for end in ("low", "high")
    for o in TRAINING_HEADLINE
)

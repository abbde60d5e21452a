"""Scenarios: every input of a training or serving estimate, declared once.

A field's name carries its unit; its metadata carries the unit in words, a help line, the
default's source and its allowed range.  The faces are built from these models: the command
line's options (`glamsim estimate train|serve`), the dashboard's inputs and the study axes, and a
test fails when a face misses a field.  Provenance is automatic: a field the caller set is
"user input" (a face may name itself, e.g. "user input --mfu"), an unset one cites its default's
source, and `sources` overrides both (a measurement record, a published run).
"""

from __future__ import annotations

from functools import cache
from typing import ClassVar, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError, field_validator, model_validator

from glamsim.config import ConfigError, ModelConfig, format_validation_error
from glamsim.inputs import Checked, Exclusive, Requires, default_sources, inp
from glamsim.profiles import ChipProfile, DatacenterProfile, Dtype
from glamsim.uncertain import Uncertain

GLAM_RUN = "GLaM 64B/64E's published run (Du et al. 2022, Sec. 6)"
PREDICTED_MFU_SOURCE = "predicted by glamsim.predict from the parallel layout (give --mfu to type one)"
COMM_OVERLAP_SOURCE = (
    "glamsim default: communication hidden behind compute, as an end-to-end MFU already "
    "includes it; give --comm-overlap < 1 to charge the exposed part"
)
TDP_FRACTION_SOURCE = "glamsim default: TDP x 1.0, an upper bound (used with --power-model tdp)"
POWER_MODEL_SOURCE = (
    "glamsim default: system power (a published measured system power per chip where one exists, "
    "else board power idle -> TDP linear in utilisation plus the host share per chip; "
    "glamsim.cost.power)"
)
EMBODIED_LIFE_SOURCE = (
    "assumption (glamsim): a 4-year accelerator service life (a common depreciation period; not a published lifetime)"
)
EMBODIED_UTIL_SOURCE = "assumption (glamsim): every hour of the lifetime allocated (a lower bound per chip-hour)"
PowerModel = Literal["system", "tdp"]
Precision = Literal["bf16", "fp8", "int8", "int4"]
Placement = Literal["sharded", "expert"]
PRECISION_BYTES: dict[str, float] = {"bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}  # bytes per value
SERVING_MEASURED = (
    "calibrated on published serving measurements, NVIDIA NIM 1.8.0 Llama-3.3-70B-Instruct on 2 x H100 "
    "fp8 TP2 at concurrency 1 (hardware_profiles/serving_runs.yaml)"
)
SERVING_MFU = 0.51  # = glamsim.cost.serving_runs.calibrate()["mfu"], to 2 places (tested)
SERVING_KERNEL_US = 6.2  # = calibrate()["kernel_us"], to 1 place (tested)
# Sustained / theoretical HBM bandwidth: 750 of the V100's 900 GB/s (Jia et al. 2018, "Dissecting the
# NVIDIA Volta GPU Architecture via Microbenchmarking", arXiv:1804.06826, global-memory throughput)
SERVING_MBU = 0.83
MBU_SOURCE = (
    "sustained / theoretical HBM bandwidth, 750 of the V100's 900 GB/s measured by Jia et al. 2018 (Dissecting "
    "the NVIDIA Volta GPU Architecture via Microbenchmarking, arXiv:1804.06826); the 750 GB/s as a public "
    "hardware table citing the paper gives it (the paper's own table not checked here); assumed for every HBM chip"
)


class Declared(Checked):
    """Inputs declared with `inp`: provenance (`source`, `given`), the faces' introspection (`inputs`,
    `meta`, `choices`) and one-line validation (`build`), shared by every scenario class."""

    def source(self, name: str, default: str | None = None) -> str:
        """Where a field's value comes from: an override in `sources`, the caller, or the default."""
        sources = getattr(self, "sources", {})
        if name in sources:
            return sources[name]
        if name in self.model_fields_set:
            return "user input"
        return default or default_sources(type(self)).get(name) or "default"

    def given(self, name: str) -> bool:
        """Whether the caller (or an override) set this field, rather than leaving its default."""
        return name in self.model_fields_set or name in getattr(self, "sources", {})

    @classmethod
    def inputs(cls) -> list[str]:
        """The fields every face must offer, in order."""
        return [n for n, f in cls.model_fields.items() if (f.json_schema_extra or {}).get("face", True)]

    @classmethod
    def choices(cls, name: str) -> tuple | None:
        """The allowed values of a categorical field (a Literal), else None."""
        ann = cls.model_fields[name].annotation
        for a in (ann, *get_args(ann)):
            if get_origin(a) is Literal:
                return get_args(a)
        return None

    @classmethod
    def meta(cls, name: str) -> dict:
        """unit, help, source, uncertain, bounds of one field."""
        f = cls.model_fields[name]
        return {"help": f.description or "", **(f.json_schema_extra or {})}

    @classmethod
    def build(cls, fields: dict, where: str = ""):
        """Validate fields into a scenario, raising a one-line ConfigError that names the field
        (`mfu=1.5: ...`; the command line rewrites field names to its flags).  None means "the
        default" for every field."""
        fields = {
            k: v
            for k, v in fields.items()
            if v is not None or k not in cls.model_fields or cls.model_fields[k].default is None
        }
        try:
            return cls.model_validate(fields)
        except ValidationError as err:
            raise ConfigError(format_validation_error(err, where).removeprefix(": ")) from None

    def with_(self, **changes):
        """A validated copy with some fields changed (those count as given)."""
        data = {k: getattr(self, k) for k in self.model_fields_set} | changes
        return type(self).build(data)


class Scenario(Declared):
    """Inputs shared by training and serving: what runs, on which chips, in which datacenter."""

    model: str | ModelConfig = inp(
        "glam-64b-64e",
        help="model preset name or ModelConfig YAML file",
        source="glamsim default scenario: GLaM 64B/64E (Du et al. 2022)",
    )
    chip: str | ChipProfile = inp("tpu-v4", help="chip profile name or YAML file", source=GLAM_RUN)
    datacenter: str | DatacenterProfile = inp(
        "us-ai-datacenter",
        help="datacenter profile name or YAML file",
        source="glamsim default: a large AI datacenter on the average US grid (EPA eGRID2022) at a hyperscale "
        "PUE (1.10, Google 2024 Environmental Report); the published runs keep their own",
    )
    dtype: Dtype | None = inp(
        None,
        help="dtype of the dense peak utilisation refers to (default: the chip's)",
        source="the chip profile's default_dtype",
    )
    power_w: Uncertain | None = inp(
        None,
        unit="W per chip",
        uncertain=True,
        gt=0,
        help="power per chip, host share included (default: from --power-model)",
        source="the chip profile, by --power-model",
    )
    power_model: PowerModel = inp(
        "system",
        source=POWER_MODEL_SOURCE,
        help="system: measured system power, else board power at the load plus the host share "
        "(server boundary); tdp: the boards at TDP x --tdp-fraction at every load, no host share, as "
        "TDP x GPU-hours x PUE reports count (tdp_fraction: the older name of tdp)",
    )
    tdp_fraction: float = inp(
        1.0,
        unit="fraction of TDP",
        gt=0,
        le=1,
        source=TDP_FRACTION_SOURCE,
        help="share of TDP drawn with --power-model tdp",
    )
    pue: Uncertain | None = inp(
        None,
        unit="ratio",
        uncertain=True,
        ge=1,
        source="the datacenter profile",
        help="power usage effectiveness (default: the datacenter's)",
    )
    carbon_intensity_kg_per_kwh: Uncertain | None = inp(
        None,
        unit="kgCO2e/kWh",
        uncertain=True,
        ge=0,
        source="the datacenter profile",
        help="grid carbon intensity (default: the datacenter's, net)",
    )
    chip_lifetime_years: float = inp(
        4.0,
        unit="years",
        gt=0,
        source=EMBODIED_LIFE_SOURCE,
        help="service life a chip's embodied (manufacturing) carbon is spread over",
    )
    chip_lifetime_utilisation: float = inp(
        1.0,
        unit="fraction of the lifetime",
        gt=0,
        le=1,
        source=EMBODIED_UTIL_SOURCE,
        help="share of its lifetime a chip is allocated to work (charges idle time to the work done)",
    )
    price_per_chip_hour_usd: Uncertain | None = inp(
        None,
        unit="USD per chip-hour",
        uncertain=True,
        ge=0,
        source="the chip profile",
        help="price per chip-hour (default: the chip's on-demand)",
    )
    comm_overlap: float = inp(
        1.0,
        unit="fraction",
        ge=0,
        le=1,
        source=COMM_OVERLAP_SOURCE,
        help="share of communication hidden behind compute (1: none charged; 0: all)",
    )
    expert_parallel: int | None = inp(
        None,
        unit="chips",
        ge=1,
        source="derived from chips and experts",
        help="chips each MoE layer's experts are split over",
    )
    interconnect_gb_per_s: float | None = inp(
        None,
        unit="GB/s per chip",
        gt=0,
        source="the chip profile",
        help="interconnect bandwidth per chip (default: the chip's)",
    )
    bytes_per_activation: float = inp(
        2.0,
        unit="bytes",
        gt=0,
        source="glamsim default: bf16 activations",
        help="bytes per activation value sent between chips",
    )
    sources: dict[str, str] = inp({}, help="provenance of fields, overriding 'user input' and defaults", face=False)

    kind: ClassVar[str] = ""
    exclusive: ClassVar[tuple[Exclusive | Requires, ...]] = ()  # cross-field rules, declared once per class

    @field_validator("power_model", mode="before")
    @classmethod
    def _older_power_model(cls, value):
        """`tdp_fraction`, the older name of `tdp`, still read."""
        return "tdp" if value == "tdp_fraction" else value

    @model_validator(mode="after")
    def _numbers_sane(self):
        """`Checked`'s checks, then the class's cross-field rules (in one validator call)."""
        Checked._numbers_sane(self)  # the plain function (pydantic unwraps its decorator)
        if self.exclusive:
            values, defaults = self.__dict__, _defaults(type(self))
            for rule in self.exclusive:
                rule.check(values, defaults)
        return self

    @classmethod
    def check_columns(cls, columns, name=lambda field: field, where: str = "") -> None:
        """The class's cross-field rules on columns of many scenarios (a mapping of field -> array,
        e.g. a DataFrame; `name(field)` is the field's column): a one-line ConfigError, as one
        scenario's, for the first row that breaks one."""
        for rule in cls.exclusive:
            found = rule.check_columns({f: columns[name(f)] for f in (rule.field, *rule.others)}, _defaults(cls))
            if found is not None:
                i, value, other, n = found
                raise ConfigError(f"{where}{rule.refusal(_py(value), other)}{f', scenario {i + 1}' if n > 1 else ''}")


class TrainingScenario(Scenario):
    """One training run: FLOPs (from model and tokens, or given), time (from MFU or hours), energy,
    carbon and dollars, with communication of the MoE all-to-alls and the gradient all-reduce."""

    kind: ClassVar[str] = "train"

    chips: int = inp(1024, unit="chips", ge=1, le=2**20, source=GLAM_RUN, help="number of chips")
    tokens: float = inp(600e9, unit="tokens", gt=0, source=GLAM_RUN, help="training tokens")
    seq_len: int | None = inp(
        None,
        unit="tokens",
        ge=1,
        source="the model's context (max_seq_len)",
        help="training context (default: the model's)",
    )
    train_flops: float | None = inp(
        None,
        unit="FLOPs",
        gt=0,
        source="glamsim.accounting model FLOPs",
        help="total training FLOPs (instead of model FLOPs of --model on --tokens)",
    )
    mfu: Uncertain | None = inp(
        None,
        unit="model FLOPs / dense peak",
        uncertain=True,
        gt=0,
        le=1,
        source=PREDICTED_MFU_SOURCE,
        help="model FLOPs utilisation (default: predicted from the layout; ignored with --hours)",
    )
    layout: str | None = inp(
        None,
        help="parallel layout, e.g. tp=8,pp=16,dp=8,mb=1,recompute=selective "
        "(default: the fastest that fits, found by glamsim plan; where none does, the fastest tight one)",
        source="glamsim.predict.plan: the fastest layout that fits (where none does, the fastest tight one)",
    )
    software: str | None = inp(
        None,
        help="software and precision keys the planned layouts keep, e.g. stack=pytorch-fsdp,fused=1,attn=cudnn "
        "(with a layout, name them in it)",
        source="the chip's usual stack (xla on TPUs, megatron on GPUs) with its defaults",
    )
    global_batch: int | None = inp(
        None,
        unit="sequences",
        ge=1,
        help="sequences per optimizer step (the layout's)",
        source="about 4M tokens per step, a multiple of dp x microbatch",
    )
    hours: float | None = inp(
        None, unit="h wall-clock", gt=0, source="not given: from MFU", help="known wall-clock hours (instead of --mfu)"
    )
    measured: str | None = inp(
        None,
        help="a `glamsim measure` record: its MFU (when its device is the chip) and XLA/model FLOPs ratio",
        source="none",
    )
    hw_flops_ratio: float | None = inp(
        None,
        unit="hardware FLOPs / model FLOPs",
        gt=0,
        source="glamsim default: hardware FLOPs = model FLOPs (1), unless a --measured record or the predicted "
        "layout gives the ratio",
        help="hardware over model FLOPs (sets the reported HFU; default 1, or the record's or layout's)",
    )
    tokens_per_step: float | None = inp(
        None,
        unit="tokens",
        gt=0,
        help="tokens per optimizer step",
        source="glamsim default: 1024 sequences per step (GLaM: batches of about "
        "1M tokens = 1024 x 1024, Du et al. 2022)",
    )
    bytes_per_grad: float = inp(
        4.0,
        unit="bytes",
        gt=0,
        source="glamsim default: f32 gradients",
        help="bytes per gradient value in the all-reduce",
    )

    exclusive: ClassVar[tuple[Exclusive | Requires, ...]] = (
        Exclusive("mfu", ("hours",)),
        Exclusive("layout", ("mfu", "hours"), "a layout predicts the MFU"),
        Exclusive("software", ("layout", "mfu", "hours"), "software keys shape the planned layout"),
        Exclusive("train_flops", ("model", "tokens"), "given FLOPs need no model or tokens"),
    )


class ServingScenario(Scenario):
    """Serving a model: prefill and KV-cached decode on a roofline, per-token energy, carbon, dollars."""

    kind: ClassVar[str] = "serve"

    chips: int | None = inp(
        None,
        unit="chips",
        ge=1,
        source="derived: the fewest chips that hold the model",
        help="chips per replica (default: the fewest whose HBM holds weights and KV cache)",
    )
    batch: int = inp(
        32,
        unit="sequences",
        ge=1,
        le=2**20,
        source="glamsim default serving batch",
        help="sequences decoded together (at most 1,048,576: a latency-target search tries each batch up to it)",
    )
    prompt_len: int = inp(1024, unit="tokens", ge=1, source="glamsim default prompt", help="prompt tokens")
    gen_len: int = inp(256, unit="tokens", ge=1, source="glamsim default generation", help="generated tokens")
    mfu: Uncertain = inp(
        SERVING_MFU,
        unit="fraction of dense peak",
        uncertain=True,
        gt=0,
        le=1,
        source=f"{SERVING_MEASURED}: the large-matmul fraction that puts a 5,000-token prefill on its measured "
        "time to first token, beside thin-step roll-off, tensor-parallel all-reduces and per-layer kernel time "
        "(glamsim.cost.serving_runs, glamsim.cost.serving.regime)",
        help="fraction of the dense peak a large matmul attains (thin steps, all-reduces and kernel time come on top)",
    )
    mbu: Uncertain = inp(
        SERVING_MBU,
        unit="fraction of HBM bandwidth",
        uncertain=True,
        gt=0,
        le=1,
        source=MBU_SOURCE,
        help="fraction of the HBM bandwidth a streaming read attains (per-layer kernel time comes on top)",
    )
    kernel_us: float = inp(
        SERVING_KERNEL_US,
        unit="us per kernel",
        ge=0,
        le=1e4,
        source=f"{SERVING_MEASURED}: the fixed time per kernel that puts the batch-1 decode steps on their measured "
        "inter-token latencies, 10 kernels per layer (glamsim.cost.serving_runs.calibrate, "
        "glamsim.cost.serving.regime)",
        help="fixed time of each kernel of a forward step (launch and tail; 10 per layer): what keeps a "
        "batch-1 decode step above bytes / bandwidth (0: none)",
    )
    weight_precision: Precision = inp(
        "bf16",
        source="glamsim default: bf16 weights (2 bytes per weight)",
        help="storage precision of the weights: bf16 2, fp8 1, int8 1, int4 0.5 "
        "bytes per weight (the compute precision is --dtype)",
    )
    kv_precision: Precision = inp(
        "bf16",
        source="glamsim default: bf16 KV cache (2 bytes per value)",
        help="storage precision of the KV cache: bf16 2, fp8 1, int8 1, int4 0.5 bytes per value",
    )
    bytes_per_param: float | None = inp(
        None,
        unit="bytes",
        gt=0,
        source="from --weight-precision",
        help="bytes per weight, instead of --weight-precision (e.g. a format with scales: 4.25 bits = 0.53125)",
    )
    bytes_per_kv: float | None = inp(
        None,
        unit="bytes",
        gt=0,
        source="from --kv-precision",
        help="bytes per KV-cache value, instead of --kv-precision",
    )
    ttft_ms: float | None = inp(
        None,
        unit="ms",
        gt=0,
        source="no target",
        help="time-to-first-token target: the batch's prefill must take at most this; "
        "the estimate serves the largest batch up to --batch that meets the targets",
    )
    tpot_ms: float | None = inp(
        None,
        unit="ms",
        gt=0,
        source="no target",
        help="time-per-output-token target: the decode step must take at most this; "
        "the estimate serves the largest batch up to --batch that meets the targets",
    )
    placement: Placement = inp(
        "sharded",
        source="glamsim default: every weight, experts included, spread evenly over the chips",
        help="sharded: every weight spread evenly over the chips; expert: dense parts replicated on every "
        "chip and whole experts placed on chips, each MoE layer waiting for its busiest expert chip",
    )
    routing_skew: float | None = inp(
        None,
        unit="busiest expert's load / mean load",
        ge=1,
        le=1e6,
        source="glamsim default: uniform routing (1), unless a --measured record gives its router load",
        help="router load of the busiest expert over the mean, 1 = uniform; at most experts / top-k counts "
        "(with --placement expert: its chip waits longest)",
    )
    measured: str | None = inp(
        None,
        help="a `glamsim measure` record: its router's busiest/mean expert load sets --routing-skew",
        source="none",
    )
    busy_fraction: float = inp(
        1.0,
        unit="fraction of the time",
        ge=1e-4,  # 8.6 s a day; below it the idle energy charged per token grows without bound
        le=1,
        source="glamsim default: a replica serving all the time",
        help="share of the time a replica serves; the rest it idles at idle power, and that energy and its "
        "chip-hours are charged to the tokens served",
    )
    prefill_chips: int | None = inp(
        None,
        unit="chips",
        ge=1,
        source="glamsim default: prefill on the decode chips",
        help="chips of a separate prefill pool (disaggregated serving): each prompt's KV cache then "
        "crosses the inter-node link to the decode chips before the first token",
    )
    hbm_usable_fraction: float = inp(
        0.9,
        unit="fraction",
        gt=0,
        le=1,
        source="vLLM's default gpu_memory_utilization (0.9): the share of GPU memory its engine takes for "
        "weights, activations and KV cache (vLLM engine arguments), the rest left to the runtime",
        help="share of HBM (in bytes as the driver reports it) usable for weights and KV cache",
    )

    rate: float | None = inp(
        None,
        unit="requests/s",
        gt=0,
        le=1e6,
        source="none: the closed form at a fixed batch only",
        help="Poisson arrival rate: also simulate requests on a continuous-batching scheduler "
        "(glamsim.cost.serving.requests; --ttft-ms/--tpot-ms are then the goodput SLO)",
    )
    concurrency: int | None = inp(
        None,
        unit="clients",
        ge=1,
        le=2**16,
        source="none: the closed form at a fixed batch only",
        help="closed-loop clients, each sending its next request when its last completes (instead of --rate)",
    )
    trace: str | None = inp(
        None,
        help="CSV (header prompt_len,output_len) or JSONL of request lengths, used in order (cycled) "
        "instead of --prompt-len/--gen-len with --rate or --concurrency",
        source="none: every request --prompt-len + --gen-len",
    )
    n_requests: int = inp(
        2000, unit="requests", ge=1, le=1_000_000, source="glamsim default", help="requests simulated"
    )
    max_num_seqs: int = inp(
        256,
        unit="sequences",
        ge=1,
        le=2**20,
        source="vLLM's default max_num_seqs (256, vLLM engine arguments)",
        help="most sequences running at once (vLLM max_num_seqs)",
    )
    max_num_batched_tokens: int = inp(
        8192,
        unit="tokens",
        ge=1,
        le=2**20,
        source="vLLM V1's max_num_batched_tokens for `vllm serve` on large-memory GPUs (8192; 2048 on smaller "
        "ones; vLLM EngineArgs)",
        help="token budget of one scheduler step, prefill chunks and decode tokens together (chunked prefill)",
    )
    seed: int = inp(0, ge=0, le=2**32, source="glamsim default", help="random seed of the Poisson arrivals")
    warmup_requests: int = inp(
        0,
        unit="requests",
        ge=0,
        le=999_999,
        source="glamsim default: every request counts",
        help="first requests left out of the latency and throughput figures, as a benchmark's warm-up or "
        "steady-state window does (energy and dollars per request count every request)",
    )

    exclusive: ClassVar[tuple[Exclusive | Requires, ...]] = (
        Exclusive("bytes_per_param", ("weight_precision",)),
        Exclusive("bytes_per_kv", ("kv_precision",)),
        Exclusive("concurrency", ("rate",)),
        Requires("warmup_requests", ("rate", "concurrency"), "it leaves simulated requests out"),
        Requires(
            "trace",
            ("rate", "concurrency"),
            "a trace holds request lengths, not arrival times: the load is yours to give",
        ),
    )

    def bytes_per_weight(self) -> tuple[float, str]:
        """Bytes per weight and its source: --bytes-per-param where given, else --weight-precision's."""
        return self._bytes("bytes_per_param", "weight_precision")

    def bytes_per_kv_value(self) -> tuple[float, str]:
        """Bytes per KV-cache value and its source: --bytes-per-kv where given, else --kv-precision's."""
        return self._bytes("bytes_per_kv", "kv_precision")

    def _bytes(self, bytes_field: str, precision: str) -> tuple[float, str]:
        if getattr(self, bytes_field) is not None:
            return getattr(self, bytes_field), self.source(bytes_field)
        p = getattr(self, precision)
        return PRECISION_BYTES[p], f"{precision} {p} [{self.source(precision)}]"


@cache
def _defaults(cls) -> dict:
    """Each field's default, read once per scenario class."""
    return {n: f.default for n, f in cls.model_fields.items()}


def _py(value):
    """A numpy scalar as the Python number it holds (so refusals print 0.3, not np.float64(0.3))."""
    return value.item() if hasattr(value, "item") else value


SCENARIOS: dict[str, type[Scenario]] = {"train": TrainingScenario, "serve": ServingScenario}


def model_name(value: str | BaseModel) -> str:
    """The name of a model, chip or datacenter given by name, path or object."""
    return getattr(value, "name", None) or str(value)


__all__ = [
    "PRECISION_BYTES",
    "SCENARIOS",
    "Checked",
    "Declared",
    "Exclusive",
    "Placement",
    "Precision",
    "Scenario",
    "ServingScenario",
    "TrainingScenario",
    "inp",
    "model_name",
]

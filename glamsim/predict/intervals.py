"""How sure a predicted MFU is: an interval from the predictor's errors on published runs.

Every row of `published_runs.yaml` (`predictions:`) gives one residual, log(published / predicted),
at the frozen constants of `efficiency.py`. A prediction's 80% interval is the predicted MFU times
exp(-q) to exp(+q), q the 80th percentile of |residual| over the rows of every *other* source
(leave-one-source-out: a source never vouches for itself), pooled over stacks: the dense rows, and
for an MoE the MoE rows of its routing class too (an MoE row's error comes from routing, permutation
and dispatch a dense model has not; dropless dispatch is not capacity dispatch). Symmetric because
the bias of a source not yet seen is unknown: the other sources' errors count by size, in either
direction. On the 165 rows the 80% intervals cover 73.3% of the held-out published figures (the
10th-90th percentiles of the signed residuals covered 60% of the first 62, per-stack pools less).
Far from what was validated (fewer than `MIN_ROWS` rows of the prediction's stack, a chip no
published run used, more experts than any validated MoE, a fused-attention kernel no published run
ran on the chip's GPU generation: FlashAttention-3 or cuDNN 9.19 on Hopper, FlashAttention-2 on a
B200, fused attention as matmuls on a GPU) the interval widens to the 95th percentile and
the basis says why; on a chip whose matmul roof is a burst rate alone (an upper bound) its low end
also allows the largest measured throttle (`efficiency.BURST_ONLY_THROTTLE`). An MoE prediction's
interval also spans the errors of the published MoE rows of
its stack and routing (`routing_class`) from other sources, and the basis names them: few rows stand
for MoE, and they disagree (NeMo's dropless Qwen3-30B runs ran at under half the predicted
throughput on the H100 and about a third of it on the B200, its Qwen3-235B runs 3-5% above it on the
H100 and 30-52% under it on the B200; Megatron-Core's model zoo ran Qwen3-235B on 256 H100 from 48%
under to 38% over it, by layout), so the range shows what the nearest published runs did rather than
the pooled percentile alone (`label` says so). Likewise a GPU prediction at `LONG_CONTEXT` tokens or
more spans the errors of the other sources' published GPU rows at lengths within
`LONG_CONTEXT_FACTOR` of its own (`long_context_neighbours`): there attention takes most of the
step, and the published GPU runs that reach it (NeMo's long-sequence table, torchtitan's
context-parallel rows, Llama 3 at 131K) were predicted from 10% under to 37% over what they
published: which attention kernel a run used, and its library version, move attention by a third
either way and are mostly unpublished (no TPU row reaches such lengths: a TPU prediction is not
widened). The interval multiplies the predicted MFU (throughput scales with it; time, energy, carbon
and dollars with its inverse).

    mfu_interval("megatron")          -> Interval(low=0.87, high=1.15, rows=127, basis="...")  # 127 dense rows
    mfu_interval("xla", exclude="maxtext-v5e")
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

LEVEL = 0.8  # an 80% interval: the 80th percentile of the errors' size
MIN_ROWS = 5  # fewer rows of a stack than this: far from what was validated
FAR_LEVEL = 0.95  # far from what was validated: the 95th percentile of the errors' size
LONG_CONTEXT = 32768  # tokens from which a prediction's interval spans the published long-context rows
LONG_CONTEXT_FACTOR = 4  # ...those within this factor of its sequence length


@dataclass(frozen=True)
class Interval:
    """Factors on the predicted MFU: published / predicted at the low and high percentiles of the
    errors' size, or beyond where published MoE rows like the prediction lie outside them."""

    low: float
    high: float
    rows: int
    basis: str
    level: float = LEVEL  # the quantile of the errors' size it spans
    widened_by: tuple[str, ...] = ()  # published rows like it (MoE, long context) outside that quantile
    # (what they share with the prediction, how many) per kind; a row can be of both kinds
    kinds: tuple[tuple[str, int], ...] = ()

    @property
    def label(self) -> str:
        """What the range is, for a table header: "80%", "95%", "80% + 6 MoE rows",
        "80% + 6 MoE + 4 long-context rows"."""
        if not self.kinds:
            return f"{self.level:.0%}"
        extra = " + ".join(f"{n} {kind}" for kind, n in self.kinds)
        return f"{self.level:.0%} + {extra} row{'s' if sum(n for _, n in self.kinds) > 1 else ''}"

    def around(self, mfu: float) -> tuple[float, float, float]:
        """(low, nominal, high) MFU; never above 1."""
        return (mfu * self.low, mfu, min(mfu * self.high, 1.0))


def routing_class(cfg) -> str:
    """ "dense", or an MoE's routing: "capacity" (overflow dropped) or "dropless"."""
    return "dense" if not cfg.is_moe else ("dropless" if cfg.dropless else "capacity")


@cache
def residuals() -> tuple[tuple[str, str, str, float, str, int, bool], ...]:
    """(run id, source family, stack, log(published / predicted), routing class, sequence length,
    on a GPU) per validation row, on the MFU scale (a predicted step time is inverted), every row
    whether its layout fits by the memory count or not (the throughput is predicted either way)."""
    from glamsim.predict.validation import prediction_rows, predictions, run_model

    models = predictions()[0]
    out = []
    for r in prediction_rows():
        ratio = r["published"] / r["predicted"]
        if r["quantity"] == "step_s":
            ratio = 1 / ratio
        routing = routing_class(run_model(r["model"], models))
        gpu = not on_tpu(r["chip"])
        out.append((r["id"], r["family"], r["stack"], float(np.log(ratio)), routing, int(r["seq_len"]), gpu))
    return tuple(out)


def pooled(routing: str = "dense", exclude: str | None = None) -> list[tuple]:
    """The residual rows (of sources other than `exclude`) whose errors size a prediction's
    interval: the dense rows, and for an MoE the MoE rows of its routing class too (an MoE row's
    error comes from routing, permutation and dispatch a dense model has not, and dropless
    dispatch, with shapes known only at run time, is not capacity dispatch); an MoE's band is
    widened beside by its `moe_neighbours`."""
    return [r for r in residuals() if r[1] != exclude and r[4] in ("dense", routing)]


def moe_neighbours(stack: str | None, routing: str, exclude: str | None = None) -> list[tuple[str, float]]:
    """(run id, log(published / predicted)) of the published MoE rows (of sources other than
    `exclude`) on `stack` with `routing` ("capacity" or "dropless"); none for a dense model."""
    if routing == "dense":
        return []
    return [(r[0], r[3]) for r in residuals() if r[2] == stack and r[4] == routing and r[1] != exclude]


def on_tpu(chip: str) -> bool:
    """Whether `chip` is one of Google's TPUs (its profile's vendor; by name where no profile loads)."""
    from glamsim.config import ConfigError
    from glamsim.profiles import load_chip

    try:
        return load_chip(chip).vendor == "Google"
    except ConfigError:
        return chip.lower().startswith("tpu")


def long_context_neighbours(
    seq_len: int | None, exclude: str | None = None, chip: str | None = None
) -> list[tuple[str, float]]:
    """(run id, log(published / predicted)) of the published GPU rows (of sources other than
    `exclude`), any stack, at `LONG_CONTEXT` tokens or more and within `LONG_CONTEXT_FACTOR` of
    `seq_len`; none for a shorter sequence or a TPU."""
    if seq_len is None or seq_len < LONG_CONTEXT or (chip is not None and on_tpu(chip)):
        return []
    lo, hi = seq_len / LONG_CONTEXT_FACTOR, seq_len * LONG_CONTEXT_FACTOR
    return [(r[0], r[3]) for r in residuals() if r[6] and r[5] >= LONG_CONTEXT and lo <= r[5] <= hi and r[1] != exclude]


@cache
def _validated(exclude: str | None = None) -> tuple[frozenset, int]:
    """The chips of the published rows (of sources other than `exclude`) and the most experts any
    of their models routes over."""
    from glamsim.predict.validation import predictions, run_model

    models, runs = predictions()
    runs = [r for r in runs if r.family != exclude]
    experts = max(run_model(r.model, models).n_experts for r in runs)
    return frozenset(r.chip for r in runs), experts


MATMUL_ATTENTION = "matmul"  # fused attention with no published kernel rate on the chip: the matmul model


def attention_kernel_of(layout, chip: str) -> str | None:
    """The fused-attention kernel `layout` (a `Layout`) runs on `chip`: the one it names, else its
    stack's; `MATMUL_ATTENTION` where neither has a published rate on the chip (the matmul model:
    TPUs, DeepSpeed, a kernel off its generation); None without fused attention (`flash=0`)."""
    from glamsim.predict.efficiency import ATTENTION_KERNELS, STACKS, attention_fraction, attention_kernel

    if not layout.flash:
        return None
    code, stack_code = layout.attn_code, STACKS.index(layout.stack)
    k = int(attention_kernel(stack_code, code, chip))
    has_rate = not np.isnan(attention_fraction(stack_code, code, chip, False, 128.0))
    return ATTENTION_KERNELS[k] if k >= 0 and has_rate else MATMUL_ATTENTION


@cache
def _validated_kernels(exclude: str | None = None) -> frozenset:
    """The fused-attention kernels the published rows (of sources other than `exclude`) ran, with
    the GPU generation each ran on (each pair is its own published rate, `efficiency.py`), every
    row's layout as it is predicted (`validation.run_layout` on its chip)."""
    from glamsim.predict.efficiency import generation
    from glamsim.predict.layout import on_chip
    from glamsim.predict.validation import predictions, run_layout
    from glamsim.profiles import load_chip

    kernels = {
        (attention_kernel_of(on_chip(run_layout(r), load_chip(r.chip)), r.chip), generation(r.chip))
        for r in predictions()[1]
        if r.family != exclude
    }
    return frozenset(k for k in kernels if k[0] is not None)


def far_from_validated(
    stack: str | None,
    chip: str | None = None,
    n_experts: int = 0,
    exclude: str | None = None,
    kernel: str | None = None,
    routing: str = "dense",
) -> list[str]:
    """Why a prediction lies outside what the published rows (of sources other than `exclude`)
    cover, empty when inside: fewer than `MIN_ROWS` rows of its stack among those its interval
    pools (`pooled`: the dense rows, and an MoE's routing class), a chip no published run used,
    more experts than any validated MoE, a fused-attention kernel (`attention_kernel_of` its
    layout, fused attention as matmuls included) no published run ran on the chip's GPU generation."""
    from glamsim.predict.efficiency import generation

    chips, experts = _validated(exclude)
    reasons = []
    if sum(r[2] == stack for r in pooled(routing, exclude)) < MIN_ROWS:
        reasons.append(f"fewer than {MIN_ROWS} rows on its stack")
    if chip is not None and chip not in chips:
        reasons.append(f"no published run on {chip}")
    if n_experts > experts:
        reasons.append(f"{n_experts} experts, beyond the {experts} of the validated MoE rows")
    gpu = chip is not None and generation(chip) is not None  # a kernel rate is a GPU generation's
    if kernel is not None and gpu and (kernel, generation(chip)) not in _validated_kernels(exclude):
        what = "fused attention as matmuls" if kernel == MATMUL_ATTENTION else f"the {kernel} attention kernel"
        reasons.append(f"{what} on {generation(chip).title()}, which no published run used")
    return reasons


def mfu_interval(
    stack: str | None,
    exclude: str | None = None,
    level: float = LEVEL,
    chip: str | None = None,
    n_experts: int = 0,
    routing: str = "dense",
    seq_len: int | None = None,
    kernel: str | None = None,
    burst_bound: bool = False,
) -> Interval:
    """The interval of a prediction for `stack` (on `chip`, for a model of `n_experts` routed as
    `routing`, at `seq_len` tokens, its fused-attention `kernel`), from `pooled(routing, exclude)`:
    the other sources' dense rows, and for an MoE the MoE rows of its routing class too; far from
    what was validated, the `FAR_LEVEL` quantile; for an
    MoE, widened to span its `moe_neighbours`' errors, and at long context its
    `long_context_neighbours`'; where the chip's matmul roof is a burst rate alone (`burst_bound`,
    `efficiency.roof_is_burst_bound`: an upper bound), the low end lowered by the largest measured
    throttle, `efficiency.BURST_ONLY_THROTTLE`."""
    rows = pooled(routing, exclude)
    values = [r[3] for r in rows]
    same = sum(r[2] == stack for r in rows)
    kind = "dense " if routing == "dense" else f"dense and {routing}-MoE "
    on = stack or "unnamed"
    basis = f"errors on {len(values)} published {kind}rows of other sources, {same} of them on the {on} stack"
    far = far_from_validated(stack, chip, n_experts, exclude, kernel, routing)
    if far:
        level = max(level, FAR_LEVEL)
        basis += f"; far from what was validated ({'; '.join(far)}): widened to their {level:.0%} quantile"
    q = float(np.quantile(np.abs(values), level))
    groups = [
        ("MoE", moe_neighbours(stack, routing, exclude), f"{routing} MoE", f" on the {stack} stack"),
        (
            "long-context",
            long_context_neighbours(seq_len, exclude, chip),
            f"GPU {LONG_CONTEXT:,}+ token",
            f" within {LONG_CONTEXT_FACTOR}x of {seq_len or 0:,} tokens, any stack",
        ),
    ]
    near = [pair for _, rows_, _, _ in groups for pair in rows_]
    outside = tuple(dict.fromkeys(i for i, v in near if abs(v) > q))
    low, high = min([-q] + [v for _, v in near]), max([q] + [v for _, v in near])
    for _, rows_, what, where in groups:
        if rows_:
            errors = ", ".join(f"{i} {np.expm1(v):+.0%}" for i, v in rows_)
            n = "row" if len(rows_) == 1 else f"rows ({len(rows_)})"
            spans = "widened to span them" if any(abs(v) > q for _, v in rows_) else "inside it"
            basis += f"; the published {what} {n}{where}, {spans}: {errors} (published / predicted - 1)"
    kinds = tuple(
        (k, sum(abs(v) > q for _, v in rows_)) for k, rows_, _, _ in groups if any(abs(v) > q for _, v in rows_)
    )
    if burst_bound:
        from glamsim.predict.efficiency import BURST_ONLY_THROTTLE

        low += float(np.log(BURST_ONLY_THROTTLE))
        basis += (
            f"; the chip's matmul roof is its burst rate, an upper bound: the low end allows a power-limited "
            f"clock as measured on the B200 (x{BURST_ONLY_THROTTLE:.3f})"
        )
    return Interval(
        low=float(np.exp(low)),
        high=float(np.exp(high)),
        rows=len(values),
        basis=basis,
        level=level,
        widened_by=outside,
        kinds=kinds,
    )


@dataclass(frozen=True)
class MemoryBand:
    """How far a memory count may be off: `q`, the `level` quantile of |log(published / counted)|
    peak memory over `rows` published peaks of other sources, symmetric as the MFU's band."""

    q: float
    rows: int
    level: float
    basis: str


@cache
def memory_residuals() -> tuple[tuple[str, str, float], ...]:
    """(run id, source family, log(published / counted)) per published run with a published peak
    memory per chip (the count: `estimate.memory_bytes` of its layout as predicted)."""
    from glamsim.predict.validation import peak_memory_rows as rows

    return tuple((r["id"], r["family"], float(np.log(r["published_bytes"] / r["counted_bytes"]))) for r in rows())


@cache
def memory_band(exclude: str | None = None, level: float = LEVEL) -> MemoryBand:
    """The memory count's band from the published peaks of sources other than `exclude`
    (leave-one-source-out, as the MFU's): the `level` quantile of their errors' size, symmetric as
    the MFU's (the 19 torchtitan peaks are mostly above the count, 16 of them, but a peak is the
    caching allocator's reserved bytes, above what the run needed: the sign is not the need's);
    none (0) from fewer than `MIN_ROWS` peaks."""
    rows = [r for r in memory_residuals() if r[1] != exclude]
    if len(rows) < MIN_ROWS:
        return MemoryBand(
            0.0, len(rows), level, f"fewer than {MIN_ROWS} published peaks: no allowance, the count as it is"
        )
    sizes = np.abs([r[2] for r in rows])
    q = float(np.quantile(sizes, level))
    lo, hi = min(r[2] for r in rows), max(r[2] for r in rows)
    other = f" of sources other than {exclude}" if exclude else ""
    basis = (
        f"the count's {level:.0%} error on {len(rows)} published peaks{other}, x{np.exp(-q):.3f} to "
        f"x{np.exp(q):.3f} (published / counted from {np.exp(lo):.3f} to {np.exp(hi):.3f})"
    )
    return MemoryBand(q, len(rows), level, basis)

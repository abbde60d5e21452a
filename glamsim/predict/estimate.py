"""One layout of one model on one chip: memory per chip and the step-time breakdown, as plain data.

    from glamsim.predict import evaluate
    r = evaluate("glam-64b-64e", "tpu-v4", "tp=16,dp=64,ep=64,zero=3,mb=16", chips=1024)
    r["mfu"], r["step_s"], r["memory"]["total"], r["fits"], r["memory_verdict"]

This is the single-scenario view the training estimate, `glamsim plan --layout` and the
validation rows call; `glamsim.predict.plan` runs the same arithmetic over thousands of layouts.
"""

from __future__ import annotations

import numpy as np

from glamsim.accounting import ModelArrays
from glamsim.config import ConfigError, ModelConfig, load_model
from glamsim.predict.layout import (
    Layout,
    LayoutArrays,
    check_layout,
    default_batch,
    on_chip,
    parse_layout,
)
from glamsim.predict.memory import MEMORY_PARTS, fit_verdict, memory_per_chip
from glamsim.predict.steptime import BREAKDOWN, predict
from glamsim.predict.tiers import Fabric
from glamsim.profiles import ChipProfile, load_chip


def resolve_layout(
    layout: Layout | str,
    cfg: ModelConfig,
    chips: int,
    seq_len: int,
    global_batch: int | None = None,
    uneven_stages: bool = False,
) -> Layout:
    """The layout with its global batch settled (the layout's own, else `global_batch`, else the
    default ~4M tokens rounded up to dp x mb) and checked against the model and chip count.  The
    stack's own rules apply to the layout's stack, so resolve a stackless layout for its chip first
    (`layout.on_chip`; `evaluate` does), or it is checked as Megatron's."""
    lay = parse_layout(layout) if isinstance(layout, str) else layout
    if lay.gbs is not None and global_batch is not None and lay.gbs != global_batch:
        raise ConfigError(f"layout gbs={lay.gbs}: differs from --global-batch {global_batch}")
    if lay.gbs is None:
        gbs = global_batch if global_batch is not None else default_batch(lay.dp * lay.mb, seq_len)
        if gbs % (lay.dp * lay.mb):
            raise ConfigError(
                f"global_batch={gbs}: must be a multiple of dp x mb = {lay.dp * lay.mb} for layout {lay.compact()}"
            )
        lay = lay.with_batch(gbs)
    check_layout(lay, cfg, chips, seq_len, uneven_stages=uneven_stages)
    return lay


def _resolved(
    model,
    chip,
    layout,
    *,
    chips=None,
    seq_len=None,
    global_batch=None,
    dtype=None,
    chips_per_node=None,
    uneven_stages=False,
):
    """(model, chip profile, sequence length, chip count, settled layout, fabric) of one scenario
    (the keywords as `evaluate` takes them)."""
    cfg = load_model(model) if isinstance(model, str) else model
    prof = load_chip(chip) if isinstance(chip, str) else chip
    s = seq_len or cfg.max_seq_len
    if not 1 <= s <= cfg.max_seq_len:
        raise ConfigError(f"seq_len={s}: must be between 1 and the context ({cfg.max_seq_len}) of {cfg.name}")
    lay0 = on_chip(parse_layout(layout) if isinstance(layout, str) else layout, prof)
    n = chips if chips is not None else lay0.chips
    lay = resolve_layout(lay0, cfg, n, s, global_batch, uneven_stages)
    return cfg, prof, s, n, lay, Fabric.of(prof, dtype, chips_per_node)


def _one(v) -> float:
    return float(np.asarray(v).reshape(-1)[0])


def memory_bytes(model: ModelConfig | str, chip: ChipProfile | str, layout: Layout | str, **scenario) -> dict:
    """Bytes per chip of one layout by part, the total and the usable HBM (plain floats): the count
    alone, without the fit verdict that `evaluate` adds from the count's errors on published peaks
    (whose rows are counted with this).  `scenario`: `evaluate`'s keywords but `expert_load`."""
    cfg, _, s, _, lay, fab = _resolved(model, chip, layout, **scenario)
    mem = memory_per_chip(ModelArrays.of(cfg), s, LayoutArrays.of(lay), fab)
    return {k: _one(mem[k]) for k in (*MEMORY_PARTS, "total", "usable", "shortfall")}


def evaluate(
    model: ModelConfig | str,
    chip: ChipProfile | str,
    layout: Layout | str,
    *,
    chips: int | None = None,
    seq_len: int | None = None,
    global_batch: int | None = None,
    dtype: str | None = None,
    chips_per_node: float | None = None,
    expert_load: float | None = None,
    uneven_stages: bool = False,
) -> dict:
    """Memory per chip with its fit verdict (`memory.fit_verdict`), and the predicted step time,
    MFU and HFU of one layout (plain floats).  `chips_per_node` replaces the chip profile's server
    (or TPU slice) size; a cluster built otherwise in more than that is a chip profile of its own."""
    cfg, prof, s, n, lay, fab = _resolved(
        model,
        chip,
        layout,
        chips=chips,
        seq_len=seq_len,
        global_batch=global_batch,
        dtype=dtype,
        chips_per_node=chips_per_node,
        uneven_stages=uneven_stages,
    )
    m = ModelArrays.of(cfg)
    arr = LayoutArrays.of(lay)
    mem = memory_per_chip(m, s, arr, fab)
    t = predict(m, s, arr, fab, expert_load)
    out = {
        "model": cfg.name,
        "chip": prof.name,
        "chips": n,
        "seq_len": s,
        "layout": lay.compact(),
        "global_batch": lay.gbs,
        "microbatches": lay.microbatches,
        "tokens_per_step": lay.gbs * s,
        "peak_flops": fab.peak_flops,
    }
    out.update({k: _one(v) for k, v in t.items()})
    out["breakdown"] = {k: _one(t[k]) for k in BREAKDOWN}
    out["memory"] = {k: _one(mem[k]) for k in (*MEMORY_PARTS, "total", "usable", "shortfall")}
    out.update(fit_verdict(out["memory"], prof.name))
    return out

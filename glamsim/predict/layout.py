"""A parallel layout: how one training step is split over chips, and its compact string form.

`Layout` names every choice the predictor needs: tensor (tp), pipeline (pp), data (dp), context
(cp) and expert (ep) parallelism; ZeRO stage (`fsdp=N` is dp=N with ZeRO-3); microbatch and
global batch (sequences); pipeline schedule (1F1B, or interleaved with `vp` virtual stages per
chip); activation recomputation; sequence parallelism; fused (flash) attention and its kernel
(`attn=flash2` FlashAttention-2, `attn=cudnn` Transformer Engine's cuDNN attention of mid-2024,
`attn=cudnn-9.19` cuDNN 9.19's, `attn=flash3` FlashAttention-3; by default the stack's); how the
expert all-to-alls travel (`a2a_overlap`; `a2a_dedup=1` one copy of a token per destination rank,
as DeepEP sends it, and across nodes one per destination node, with `expert_spread` saying how a
token's experts spread over the ranks); whether the embedding and loss take a layer's place in the
pipeline split (`embed_loss`); the
precisions of parameters, gradients and optimizer state with the optimizer itself; and the
training software (`stack`), whose ZeRO-3 gathers are per layer (PyTorch FSDP, XLA, Megatron) or
per parameter tensor (DeepSpeed), whose element-wise kernels are fused (Megatron, DeepSpeed,
XLA; PyTorch with torch.compile: `fused=1`) or one per op (eager PyTorch FSDP), whose gradient
buckets below ZeRO-3 are its own unless `bucket_mb` sets them (Apex's DistributedFusedAdam, 100 MiB),
whose ZeRO-1/2 weight gather hides behind the next forward or not unless `gather_overlap` says
(Megatron-Core's overlap_param_gather; DeepSpeed's gather in step()), and whose gradient
reduction hides behind the last backward or follows it unless `grad_overlap` says (Megatron-Core's
overlap_grad_reduce; DeepSpeed's ZeRO 0-2), and whose interleaved pipeline sends overlap the next
chunk or block unless `pp_overlap` says (Megatron-Core's overlap_p2p_comm; Megatron-LM of
2021-2022).  `recompute_moe=1` recomputes an MoE model's MoE blocks in the backward
(Megatron-Core's `--recompute-modules moe`).

Hybrid sharding (HSDP, TPU multi-slice): `fsdp=256,dp=32` shards ZeRO-3 over 256 ranks (a node or
slice) and replicates that group 32 times (dp = 8,192 in all); gradients are reduce-scattered in
the group and all-reduced across the replicas.

Conventions (Megatron-LM's): chips = tp x cp x dp x pp; expert parallelism is carved out of data
parallelism (ep divides dp: experts are split over ep chips, each expert replicated over dp / ep,
and split by tensor parallelism as the other layers are); ranks are placed innermost first in the
order tp, cp, ep, dp, pp, so tp shares a node first.  Parallel folding (Megatron-Core's MoE
parallel folding, Liu et al. 2025, arXiv:2504.14960; its `--expert-tensor-parallel-size`):
`etp=1` keeps each expert whole on one rank, and the expert layers get their own grid,
etp x ep x edp over the same tp x cp x dp ranks of a stage, innermost first, so that expert
parallelism may span the tensor-parallel ranks (`tp=2,dp=16,ep=32,etp=1,sp=1`: EP 32 on 32 GPUs;
with sequence parallelism, as Megatron-Core requires; etp between 1 and tp is not modelled).

    parse_layout("tp=8,pp=16,dp=8,mb=1,recompute=selective")
    parse_layout("fsdp=64,mb=4,recompute=full")

`check_layout(layout, cfg, chips, seq_len)` refuses, in one line naming the key and value, a
layout that cannot run the model on that many chips, or that its stack refuses (Megatron-Core runs
expert with tensor parallelism only with sequence parallelism).  `LayoutArrays` is the vectorised twin
(one numpy array per field) that memory, step time and the plan search take.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from glamsim.config import ConfigError, Frozen, ModelConfig, show
from glamsim.predict.efficiency import (
    ATTENTION_KERNELS,
    CP_COMMS,
    DP_REDUCE_IN_BACKWARD,
    PP_SENDS_OVERLAPPED,
    STACKS,
    by_stack,
    dp_gather_in_forward,
)
from glamsim.readers import parse_int

Precision = Literal["fp32", "bf16", "fp16", "fp8"]
Stack = Literal[STACKS]  # the names live once, in efficiency.py, beside their tables
AttentionKernel = Literal[ATTENTION_KERNELS]
CpComm = Literal[CP_COMMS]
SPREADS = ("random", "contiguous")
Spread = Literal[SPREADS]
BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1}
RECOMPUTE = ("none", "selective", "op", "full")
# Ordinal levels in `LayoutArrays.recompute`: "op" (torchtitan's per-op selective checkpointing:
# some matmul outputs saved, the rest recomputed) stores less than "selective" and more than
# "full", so `>= 1` (score terms dropped) and `>= 2` (full recomputation) keep their meaning;
# under "full" `recompute_layers` says how many layers of each chunk (`stage.recomputed_share`).
RECOMPUTE_LEVEL = {"none": 0.0, "selective": 1.0, "op": 1.5, "full": 2.0}
MAX_WAYS = 2**20  # no parallel dimension is larger than a million chips
DEFAULT_BATCH_TOKENS = 4 * 2**20  # the global batch when none is given: 4M tokens (GPT-3 3.2M, PaLM 4M)


class Layout(Frozen):
    """One parallel layout of a training step (see the module docstring for the conventions)."""

    tp: int = Field(1, ge=1, le=MAX_WAYS, description="tensor parallel ways")
    pp: int = Field(1, ge=1, le=MAX_WAYS, description="pipeline stages")
    dp: int = Field(1, ge=1, le=MAX_WAYS, description="data parallel ways")
    cp: int = Field(1, ge=1, le=MAX_WAYS, description="context (sequence) parallel ways")
    ep: int = Field(1, ge=1, le=MAX_WAYS, description="expert parallel ways (inside dp, or tp x cp x dp folded)")
    # expert tensor parallelism (Megatron-Core's --expert-tensor-parallel-size): None, as tp; 1
    # folds the expert layers onto their own etp x ep x edp grid (the module docstring)
    etp: int | None = Field(None, ge=1, le=MAX_WAYS, description="expert tensor parallel ways")
    zero: int = Field(0, ge=0, le=3, description="ZeRO stage: 1 optimizer state, 2 + gradients, 3 + parameters")
    mb: int = Field(1, ge=1, le=MAX_WAYS, description="microbatch, sequences")
    gbs: int | None = Field(None, ge=1, le=2**40, description="global batch, sequences")
    schedule: Literal["1f1b", "interleaved"] = "1f1b"
    vp: int = Field(1, ge=1, le=4096, description="virtual pipeline stages per chip (interleaved)")
    recompute: Literal["none", "selective", "op", "full"] = "none"
    # under recompute=full, recompute only this many layers of each model chunk (pipeline stage, or
    # virtual stage when interleaved) and keep the rest's activations: Megatron-LM's
    # `--recompute-method block --recompute-num-layers N`; None: every layer
    recompute_layers: int | None = Field(None, ge=1, le=MAX_WAYS, description="layers recomputed per model chunk")
    # every MoE layer's forward (router, permutation, dispatch and combine, expert matmuls) runs again
    # in the backward and stores only its input: Megatron-Core's `--recompute-modules moe` (with
    # `layernorm`: the norms' outputs recomputed too), beside recompute=none or selective
    recompute_moe: bool = False
    sp: bool = False  # sequence parallelism with tp (Korthikanti et al. 2022)
    flash: bool = True  # fused attention: no S x S scores stored, the masked causal half skipped
    tp_overlap: bool = False  # tensor-parallel collectives overlapped with the matmuls
    a2a_overlap: bool = False  # expert all-to-alls pipelined with the expert matmuls (Tutel, MCore EP overlap)
    # a token travels once to each expert-parallel rank holding one of its experts (DeepEP's dispatch
    # and combine), not once per routed expert (Megatron's alltoall dispatcher, GShard's buffers)
    a2a_dedup: bool = False
    # how a token's top-k experts spread over the expert-parallel ranks, for a2a_dedup: "random" (a
    # learned or force-balanced router), "contiguous" (k consecutive experts, NeMo Automodel's
    # FakeBalancedGate: expert (token x k + j) mod E); experts sit on ranks in contiguous blocks
    expert_spread: Spread = "random"
    uneven: bool = False  # accept layers not divisible by pp x vp (the slowest stage holds the ceiling)
    # the embedding and the loss each take one layer's place in the pipeline split (Megatron-LM's
    # --account-for-embedding-in-pipeline-split and --account-for-loss-in-pipeline-split): pp x vp
    # chunks share layers + 2 slots, the first chunk's embedding and the last's output layer and loss
    embed_loss: bool = False
    params: Precision = "bf16"
    grads: Precision = "fp32"
    opt_state: Precision = "fp32"
    optimizer: Literal["adam", "adafactor"] = "adam"
    stack: Stack = "megatron"  # the training software: how ZeRO-3 groups its gathers (efficiency.py)
    fused: bool | None = None  # element-wise kernels fused (None: as the stack does; eager PyTorch is not)
    attn: AttentionKernel | None = None  # the fused-attention kernel (None: the stack's, efficiency.py)
    # how context-parallel ranks exchange K and V (None: the stack's, `efficiency.CP_COMM`)
    cp_comm: CpComm | None = None
    # PyTorch's loss upcasts the logits to fp32 (torchtitan); 0: cross entropy on the compute-precision
    # logits (NeMo Automodel's MaskedCrossEntropy(fp32_upcast=False)); other stacks upcast and ignore it
    loss_upcast: bool = True
    # an fp32 master copy of 16-bit weights (mixed precision); 0: pure 16-bit training, the model cast
    # to the compute dtype before sharding, its gradients and optimizer state at that dtype as well
    # (NeMo Automodel's MoE models: MoEConfig.dtype bf16, initialize_weights casts the model to bf16)
    master: bool = True
    shard: int | None = Field(None, ge=1, le=MAX_WAYS, description="ZeRO sharding ranks inside dp (HSDP)")
    # MiB of gradients per data-parallel bucket below ZeRO-3, each bucket a collective of its own
    # (Apex's DistributedFusedAdam bucket_cap_mb); None: the stack's (`efficiency.dp_buckets`)
    bucket_mb: int | None = Field(None, ge=1, le=2**20, description="MiB of gradients per data-parallel bucket")
    # at ZeRO 1-2 the updated weights' all-gather runs in the next step's first forward, hidden behind
    # it (Megatron-Core's overlap_param_gather, Apex's overlap_param_sync); 0: after the optimizer
    # step, exposed (DeepSpeed's); None: the stack's (`efficiency.dp_gather_in_forward`)
    gather_overlap: bool | None = None
    # the step's gradient reduction below ZeRO-3 (and hybrid sharding's all-reduce across replicas) in
    # the last microbatch's backward, as its buckets fill; 0: after the backward, exposed (Megatron-LM's
    # 2021 local DDP, DeepSpeed ZeRO 0-2, PaLM's cross-pod transfer); None: the stack's
    # (`efficiency.DP_REDUCE_IN_BACKWARD`)
    grad_overlap: bool | None = None
    # the interleaved schedule's steady-phase pipeline sends posted beside the next chunk's compute
    # (Megatron-Core's overlap_p2p_comm, on with virtual stages); 0: every send blocks (Megatron-LM's
    # `_communicate` of 2021-2022: batch_isend_irecv, wait, torch.cuda.synchronize); None: the stack's
    # (`efficiency.PP_SENDS_OVERLAPPED`); ignored without virtual stages (vp 1)
    pp_overlap: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> Layout:
        if self.etp is not None and self.etp == self.tp:  # the unfolded layout: one spelling, unset
            object.__setattr__(self, "etp", None)
            self.__pydantic_fields_set__.discard("etp")
        if self.schedule == "interleaved" and self.vp < 2:
            raise ValueError(f"vp={self.vp}: the interleaved schedule needs vp >= 2")
        if self.schedule == "1f1b" and self.vp > 1:
            raise ValueError(f"vp={self.vp}: virtual stages need schedule=interleaved")
        if self.attn is not None and not self.flash:
            raise ValueError(f"attn={self.attn}: a fused-attention kernel needs flash=1")
        if self.expert_spread != "random" and not self.a2a_dedup:
            raise ValueError(f"expert_spread={self.expert_spread}: the experts' spread over ranks needs a2a_dedup=1")
        if self.recompute_layers is not None and self.recompute != "full":
            raise ValueError(
                f"recompute_layers={self.recompute_layers}: recomputing whole layers needs recompute=full, "
                f"not {self.recompute}"
            )
        if self.recompute_moe and self.recompute in ("op", "full"):
            raise ValueError(
                f"recompute_moe=1: recomputes the MoE blocks beside recompute=none or selective, not {self.recompute} "
                "(which recomputes them already)"
            )
        if self.bucket_mb is not None and self.zero == 3:
            raise ValueError(
                f"bucket_mb={self.bucket_mb}: gradient buckets are for zero 0-2 (ZeRO-3 moves weights and gradients "
                "a layer at a time)"
            )
        if self.gather_overlap is not None and self.zero == 3:
            raise ValueError(
                f"gather_overlap={int(self.gather_overlap)}: the weights' gather after the optimizer step is for "
                "zero 1-2, ignored at zero 0 (ZeRO-3 gathers them for every microbatch)"
            )
        if self.grad_overlap is not None and self.zero == 3 and (self.shard is None or self.shard == self.dp):
            raise ValueError(
                f"grad_overlap={int(self.grad_overlap)}: a step's gradient reduction is for zero 0-2 or hybrid "
                "sharding (fsdp=N,dp=M; ZeRO-3 reduce-scatters every microbatch's gradients)"
            )
        if self.embed_loss and self.pp < 2:
            raise ValueError("embed_loss=1: counting the embedding and loss in the pipeline split needs pp >= 2")
        if self.vp > 1 and self.pp < 2:
            raise ValueError(f"vp={self.vp}: virtual stages need pp >= 2")
        if self.etp is not None and self.etp != 1:
            raise ValueError(f"etp={self.etp}: must be 1 (parallel folding) or unset (as tp={self.tp})")
        if self.folded:
            ranks = self.tp * self.cp * self.dp
            if ranks % self.ep:
                raise ValueError(
                    f"ep={self.ep}: must divide tp x cp x dp = {ranks} (folded: the experts spread over "
                    "the stage's ranks)"
                )
            if not self.sp:
                raise ValueError(
                    f"etp={self.etp}: parallel folding needs sp=1 (each rank dispatches its own sequence-parallel "
                    "tokens, as Megatron-Core runs tensor with expert parallelism)"
                )
        elif self.ep > self.dp or self.dp % self.ep:
            fold = "; etp=1 folds them over the tensor ranks too" if self.tp > 1 else ""
            raise ValueError(
                f"ep={self.ep}: must divide dp={self.dp} (experts are split inside data parallelism{fold})"
            )
        if self.shard is not None and (self.zero == 0 or self.dp % self.shard):
            raise ValueError(f"shard={self.shard}: hybrid sharding needs ZeRO and must divide dp={self.dp}")
        tensor = self.tp // self.expert_tp  # the tensor ranks an expert's group spans
        if self.shard is not None and self.shard * self.cp * tensor % self.ep:
            edp = tensor * self.cp * self.dp // self.ep
            raise ValueError(
                f"fsdp={self.shard},dp={self.dp // self.shard}: the {self.dp // self.shard} replicas must divide "
                f"the {edp} ranks holding each expert (ep={self.ep})"
            )
        if self.gbs is not None and self.gbs % (self.dp * self.mb):
            raise ValueError(f"gbs={self.gbs}: must be a multiple of dp x mb = {self.dp * self.mb}")
        return self

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.dp * self.cp

    @property
    def expert_tp(self) -> int:
        """Ranks each expert is split over: etp, else tp (unset: as the other layers)."""
        return self.tp if self.etp is None else self.etp

    @property
    def folded(self) -> bool:
        """The expert layers on their own grid (`etp` < tp: parallel folding)."""
        return self.expert_tp < self.tp

    @property
    def microbatches(self) -> int | None:
        """Microbatches per step per data-parallel rank (gradient accumulation / pipeline fill)."""
        return None if self.gbs is None else self.gbs // (self.dp * self.mb)

    @property
    def fused_code(self) -> float:
        """1 element-wise kernels fused (as named, else as the stack does: eager PyTorch is not), 0 not."""
        return float(self.fused if self.fused is not None else self.stack != "pytorch-fsdp")

    @property
    def gather_overlap_code(self) -> float:
        """1 the ZeRO-1/2 weight gather hidden behind the next forward (as named, else as the stack
        does), 0 exposed after the optimizer step."""
        named = self.gather_overlap
        return float(named if named is not None else dp_gather_in_forward(STACKS.index(self.stack), self.zero))

    @property
    def grad_overlap_code(self) -> float:
        """1 the step's gradient reduction hidden behind the last backward (as named, else as the
        stack does), 0 exposed after it."""
        named = self.grad_overlap
        return float(named if named is not None else by_stack(DP_REDUCE_IN_BACKWARD, STACKS.index(self.stack)))

    @property
    def pp_overlap_code(self) -> float:
        """1 the interleaved schedule's steady-phase sends hidden behind the next chunk (as named,
        else Megatron's with virtual stages), 0 every send exposed."""
        if self.vp < 2:  # no interleaved steady phase: every send is exposed
            return 0.0
        named = self.pp_overlap
        return float(named if named is not None else by_stack(PP_SENDS_OVERLAPPED, STACKS.index(self.stack)))

    @property
    def expert_spread_code(self) -> float:
        """The expert spread's index in SPREADS (0 random)."""
        return float(SPREADS.index(self.expert_spread))

    @property
    def attn_code(self) -> float:
        """0 the stack's attention kernel, else 1 + the named kernel's index in ATTENTION_KERNELS."""
        return 0.0 if self.attn is None else 1.0 + ATTENTION_KERNELS.index(self.attn)

    @property
    def cp_comm_code(self) -> float:
        """0 the stack's context-parallel exchange, else 1 + the named one's index in CP_COMMS."""
        return 0.0 if self.cp_comm is None else 1.0 + CP_COMMS.index(self.cp_comm)

    def with_batch(self, gbs: int) -> Layout:
        """The same layout with global batch `gbs` (the keys the user named stay the named ones)."""
        return Layout.model_validate({**self.model_dump(include=self.model_fields_set), "gbs": gbs})

    def compact(self) -> str:
        """The short string form, only the keys that differ from the defaults (fsdp=N for ZeRO-3),
        and always the stack (its default depends on the chip, `on_chip`)."""
        d = self.model_dump()
        defaults = Layout().model_dump()
        out = []
        # ZeRO-3 is fsdp=N; hybrid sharding fsdp=N,dp=M, with reshard=0 where the gathered weights
        # stay between microbatches (ZeRO-2's bill, `parse_layout`)
        as_fsdp = d["zero"] == 3 or (d["zero"] == 2 and d["shard"] is not None)
        if as_fsdp:
            out.append(f"fsdp={d['shard'] or d['dp']}")
            if d["shard"]:
                out.append(f"dp={d['dp'] // d['shard']}")
            if d["zero"] == 2:
                out.append("reshard=0")
        for k, v in d.items():
            if k in ("zero", "dp", "shard") and as_fsdp:
                continue
            if k in ("tp", "pp", "dp", "stack") or v != defaults[k]:
                if k == "schedule" and d["vp"] > 1:
                    continue
                out.append(f"{k}={int(v) if isinstance(v, bool) else v}")
        return ",".join(out)


# ---- the compact string -----------------------------------------------------------------------

_INT_KEYS = ("tp", "pp", "dp", "cp", "ep", "etp", "zero", "mb", "gbs", "vp", "fsdp", "recompute_layers", "bucket_mb")
_BOOL_KEYS = (
    "sp",
    "flash",
    "recompute_moe",
    "tp_overlap",
    "a2a_overlap",
    "a2a_dedup",
    "uneven",
    "embed_loss",
    "fused",
    "reshard",
    "loss_upcast",
    "master",
    "gather_overlap",
    "grad_overlap",
    "pp_overlap",
)
_CHOICE_KEYS = {
    "schedule": ("1f1b", "interleaved"),
    "recompute": RECOMPUTE,
    "params": tuple(BYTES),
    "grads": tuple(BYTES),
    "opt_state": tuple(BYTES),
    "optimizer": ("adam", "adafactor"),
    "stack": STACKS,
    "attn": ATTENTION_KERNELS,
    "cp_comm": CP_COMMS,
    "expert_spread": SPREADS,
}
_ALIASES = {"global_batch": "gbs", "microbatch": "mb", "virtual_stages": "vp"}
KEYS = _INT_KEYS + _BOOL_KEYS + tuple(_CHOICE_KEYS)
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
MAX_LAYOUT_CHARS = 1000


def _int(key: str, text: str) -> int:
    # ASCII digits only: `tp=²` is refused, not a traceback
    return parse_int(text, f"layout {key}", ge=1 if key in ("recompute_layers", "etp", "bucket_mb") else 0)


def default_stack(chip) -> str:
    """The training software people use on `chip` when a layout names none: JAX/XLA (GSPMD) on
    Google's TPUs (GLaM, PaLM, MaxText), Megatron-style kernels and collectives on GPUs."""
    return "xla" if chip.vendor == "Google" else "megatron"


def on_chip(lay: Layout, chip) -> Layout:
    """`lay` with `chip`'s default stack where the layout does not name one."""
    if "stack" in lay.model_fields_set:
        return lay
    return lay.model_copy(update={"stack": default_stack(chip)})


def parse_layout(text: str) -> Layout:
    """`Layout` from `tp=8,pp=16,dp=8,mb=1,recompute=selective` (one-line ConfigError otherwise)."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("layout='': empty; expected key=value pairs such as tp=8,pp=2,dp=4")
    if len(text) > MAX_LAYOUT_CHARS:
        raise ConfigError(f"layout: {len(text)} characters; at most {MAX_LAYOUT_CHARS}")
    raw: dict[str, object] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ConfigError(f"layout {show(text)}: empty item between commas")
        if part.count("=") != 1:
            raise ConfigError(f"layout item {show(part)}: expected key=value")
        key, value = (x.strip() for x in part.split("="))
        key = _ALIASES.get(key.lower(), key.lower())
        if key not in KEYS:
            raise ConfigError(f"layout key {show(key)}: unknown; known: {', '.join(KEYS)}")
        if key in raw:
            raise ConfigError(f"layout key {show(key)}: given twice")
        if key in _INT_KEYS:
            raw[key] = _int(key, value)
        elif key in _BOOL_KEYS:
            if value.lower() not in _TRUE + _FALSE:
                raise ConfigError(f"layout {key}={show(value)}: expected 1/0 (true/false)")
            raw[key] = value.lower() in _TRUE
        else:
            if value.lower() not in _CHOICE_KEYS[key]:
                raise ConfigError(f"layout {key}={show(value)}: expected one of {', '.join(_CHOICE_KEYS[key])}")
            raw[key] = value.lower()
    reshard = raw.pop("reshard", True)
    if "fsdp" in raw:
        n = raw.pop("fsdp")
        if "dp" in raw:  # hybrid sharding (HSDP): shard over fsdp ranks, replicate the group dp times
            raw["shard"], raw["dp"] = n, n * raw["dp"]
            if raw["dp"] > MAX_WAYS:
                raise ConfigError(f"layout fsdp={n} x dp={raw['dp'] // n}: more than {MAX_WAYS:,} ranks")
        if raw.get("zero", 3) != 3:
            raise ConfigError(f"layout fsdp={n}: conflicts with zero={raw['zero']} (fsdp means zero=3)")
        # reshard=0: the gathered weights stay between microbatches (PyTorch FSDP's
        # reshard_after_forward=False, what torchtitan sets under pipeline parallelism): one gather
        # and one gradient reduce-scatter per step and whole 16-bit weights in memory, ZeRO-2's bill
        raw["dp"], raw["zero"] = raw.get("dp", n), 3 if reshard else 2
    elif not reshard:
        raise ConfigError("layout reshard=0: only with fsdp=N (weights kept gathered between microbatches)")
    if raw.get("vp", 1) > 1 and "schedule" not in raw:
        raw["schedule"] = "interleaved"
    return _validate(raw)


# The keys a plan keeps from the user while it searches the rest: the software and the precisions
# (`software=` of a training estimate, `glamsim plan --software`).  The parallel split, batch,
# schedule and recomputation are what the search chooses.
SOFTWARE_KEYS = (
    "stack",
    "attn",
    "cp_comm",
    "fused",
    "flash",
    "tp_overlap",
    "a2a_overlap",
    "a2a_dedup",
    "expert_spread",
    "params",
    "grads",
    "opt_state",
    "optimizer",
    "loss_upcast",
    "master",
    "bucket_mb",
    "gather_overlap",
    "grad_overlap",
    "pp_overlap",
)


def parse_software(text: str, what: str = "software") -> Layout:
    """The software and precision keys every searched layout keeps, e.g.
    `stack=pytorch-fsdp,fused=1,attn=cudnn` (one-line ConfigError for a bad value, or for a key the
    search chooses itself, such as tp or mb)."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{what}={show(text)}: empty; expected keys such as stack=pytorch-fsdp,fused=1")
    for part in text.split(","):
        key = part.split("=")[0].strip().lower()
        key = _ALIASES.get(key, key)
        if key in KEYS and key not in SOFTWARE_KEYS:  # unknown keys: parse_layout names them
            searched_on_megatron = key in ("embed_loss", "etp", "recompute_moe")
            how = " (on stack=megatron; for another stack give a whole --layout)" if searched_on_megatron else ""
            raise ConfigError(
                f"{what}={show(text)}: {key} is chosen by the layout search{how}; name only {', '.join(SOFTWARE_KEYS)}"
            )
    try:
        return parse_layout(text)
    except ConfigError as err:
        raise ConfigError(f"{what}={show(text)}: {err}") from None


def _validate(raw: dict) -> Layout:
    from pydantic import ValidationError

    from glamsim.config import format_validation_error

    try:
        return Layout.model_validate(raw)
    except ValidationError as err:
        msg = format_validation_error(err, "layout")
        raise ConfigError(msg.replace("layout: ", "layout ", 1)) from None


# ---- the layout against a model and a chip count ------------------------------------------------


def check_layout(layout: Layout, cfg: ModelConfig, chips: int, seq_len: int, *, uneven_stages: bool = False) -> None:
    """One-line ConfigError unless `layout` can run `cfg` at `seq_len` on exactly `chips` chips.

    `uneven_stages` (or the layout's `uneven=1`): accept layers not divisible by pp x vp (the
    slowest stage then holds ceil(layers / (pp x vp)) layers per virtual stage; Llama 3 ran 126
    layers on 16 stages); `embed_loss=1`: the layers and 2 slots (the embedding, the loss)."""
    lay = layout
    uneven_stages = uneven_stages or lay.uneven
    if lay.chips != chips:
        raise ConfigError(f"layout {lay.compact()}: tp x pp x dp x cp = {lay.chips}, not the {chips} chips")
    if lay.tp > 1 and cfg.n_heads % lay.tp:
        raise ConfigError(f"layout tp={lay.tp}: must divide the {cfg.n_heads} attention heads of {cfg.name}")
    kv = cfg.kv_heads
    if lay.tp > 1 and kv % lay.tp and lay.tp % kv:
        raise ConfigError(f"layout tp={lay.tp}: must divide, or be a multiple of, the {kv} key/value heads")
    if cfg.d_ff % lay.tp:
        raise ConfigError(f"layout tp={lay.tp}: must divide d_ff={cfg.d_ff} of {cfg.name}")
    if cfg.shared_width % lay.tp:  # one tensor-parallel MLP
        raise ConfigError(f"layout tp={lay.tp}: must divide the shared experts' width {cfg.shared_width} of {cfg.name}")
    if cfg.is_moe and cfg.expert_ff % lay.expert_tp:
        key = "tp" if lay.etp is None else "etp"
        raise ConfigError(f"layout {key}={lay.expert_tp}: must divide expert d_ff={cfg.expert_ff} of {cfg.name}")
    if lay.recompute_moe and not cfg.is_moe:
        raise ConfigError(f"layout recompute_moe=1: {cfg.name} has no MoE layers to recompute")
    if lay.etp is not None and not cfg.is_moe:
        raise ConfigError(f"layout etp={lay.etp}: {cfg.name} has no experts (dense: no expert tensor parallelism)")
    stages = lay.pp * lay.vp
    slots = cfg.n_layers + 2 * lay.embed_loss  # the embedding and the loss as layers (embed_loss=1)
    what = "layers" if not lay.embed_loss else f"layers and the embedding and loss ({slots} slots)"
    if stages > slots:
        raise ConfigError(f"layout pp={lay.pp}: {stages} pipeline stages for {cfg.n_layers} {what}")
    if slots % stages and not uneven_stages:
        where = f"pp={lay.pp}" if lay.vp == 1 else f"pp x vp = {stages}"
        raise ConfigError(f"layout {where}: must divide the {cfg.n_layers} {what} of {cfg.name} (or say uneven=1)")
    chunk = math.ceil(slots / stages) - (lay.embed_loss and stages == 2)  # `stage.chunk_layers`
    if lay.recompute_layers is not None and lay.recompute_layers > chunk:
        raise ConfigError(
            f"layout recompute_layers={lay.recompute_layers}: more than the {chunk} layers of each model chunk "
            f"({cfg.n_layers} layers on pp x vp = {stages})"
        )
    if lay.ep > 1 and not cfg.is_moe:
        raise ConfigError(f"layout ep={lay.ep}: {cfg.name} has no experts (dense: ep=1)")
    if lay.stack == "megatron" and lay.tp > 1 and lay.ep > 1 and not lay.sp:
        # Megatron-Core's ModelParallelConfig: "When using expert parallelism and tensor parallelism,
        # sequence parallelism must be used"
        raise ConfigError(
            f"layout ep={lay.ep}: expert parallelism with tensor parallelism (tp={lay.tp}) on megatron needs sp=1, "
            "as Megatron-Core requires"
        )
    if cfg.is_moe and cfg.n_experts % lay.ep:
        raise ConfigError(f"layout ep={lay.ep}: must divide the {cfg.n_experts} experts of {cfg.name}")
    if seq_len % lay.cp:
        raise ConfigError(f"layout cp={lay.cp}: must divide the sequence length {seq_len}")
    check_dispatch(lay, cfg)
    if lay.gbs is not None and lay.schedule == "interleaved" and lay.microbatches % lay.pp:
        raise ConfigError(
            f"layout gbs={lay.gbs}: the interleaved schedule needs microbatches "
            f"({lay.microbatches}) divisible by pp={lay.pp}"
        )


def check_dispatch(lay: Layout, cfg: ModelConfig) -> None:
    """One-line ConfigError for one copy per rank (`a2a_dedup`, DeepEP's dispatch, which sends
    every routed token) on a model that routes into capacity buffers."""
    if lay.a2a_dedup and cfg.is_moe and cfg.routing != "dropless":
        raise ConfigError(
            f"layout a2a_dedup=1: DeepEP's dispatch is dropless; {cfg.name} routes into capacity buffers "
            f"(routing: {cfg.routing})"
        )


def default_batch(dp_mb: int, seq_len: int, tokens: float = DEFAULT_BATCH_TOKENS) -> int:
    """The smallest multiple of dp x mb sequences holding at least `tokens` tokens."""
    want = max(1, math.ceil(tokens / seq_len))
    return int(math.ceil(want / dp_mb) * dp_mb)


# ---- vectorised twin ------------------------------------------------------------------------


@dataclass(frozen=True)
class LayoutArrays:
    """Every layout field as a float64 array (one entry per candidate layout)."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    cp: np.ndarray
    ep: np.ndarray
    etp: np.ndarray  # expert tensor parallel ways (tp unless folded)
    zero: np.ndarray
    mb: np.ndarray
    gbs: np.ndarray
    vp: np.ndarray
    recompute: np.ndarray  # RECOMPUTE_LEVEL: 0 none, 1 selective, 1.5 op, 2 full
    recompute_layers: np.ndarray  # layers of each model chunk recomputed under full (0: all of them)
    recompute_moe: np.ndarray  # 1 the MoE blocks' forward runs again in the backward, their activations not kept
    sp: np.ndarray
    flash: np.ndarray
    tp_overlap: np.ndarray
    a2a_overlap: np.ndarray
    a2a_dedup: np.ndarray  # 1 one copy of a token per destination expert-parallel rank (DeepEP)
    expert_spread: np.ndarray  # index into SPREADS (0 random, 1 contiguous)
    uneven: np.ndarray
    embed_loss: np.ndarray  # 1 the embedding and the loss take a layer's place each in the pipeline split
    param_bytes: np.ndarray
    grad_bytes: np.ndarray
    state_bytes: np.ndarray  # bytes of one optimizer-state value
    adam: np.ndarray  # 1 Adam (two moments), 0 Adafactor (factored second moment, no first)
    stack: np.ndarray  # index into STACKS (ZeRO-3 grouping, prefetch, regathering; what memory.py stores)
    fused: np.ndarray  # 1 element-wise kernels fused, 0 one kernel per op (eager PyTorch)
    attn: np.ndarray  # 0 the stack's attention kernel, else 1 + index into ATTENTION_KERNELS
    cp_comm: np.ndarray  # 0 the stack's context-parallel exchange, else 1 + index into CP_COMMS
    loss_upcast: np.ndarray  # 1 an unfused loss keeps its logit copies in fp32, 0 at compute precision
    master: np.ndarray  # 1 an fp32 master copy of 16-bit weights, 0 pure 16-bit training
    shard: np.ndarray  # ranks a ZeRO shard spans inside dp (dp unless hybrid sharding)
    bucket_mb: np.ndarray  # MiB of gradients per data-parallel bucket (0: the stack's)
    gather_overlap: np.ndarray  # 1 the ZeRO-1/2 weight gather hidden behind the next forward, 0 exposed
    grad_overlap: np.ndarray  # 1 the step's gradient reduction hidden behind the last backward, 0 exposed
    pp_overlap: np.ndarray  # 1 the interleaved steady phase's pipeline sends hidden behind compute, 0 exposed

    @classmethod
    def of(cls, layouts: Layout | list[Layout]) -> LayoutArrays:
        rows = [layouts] if isinstance(layouts, Layout) else list(layouts)
        if any(r.gbs is None for r in rows):
            raise ConfigError("layout: the global batch (gbs) must be resolved before prediction")

        def value(r: Layout, name: str) -> float:
            if name == "recompute":
                return RECOMPUTE_LEVEL[r.recompute]
            if name in ("param_bytes", "grad_bytes", "state_bytes"):
                return BYTES[
                    getattr(r, {"param_bytes": "params", "grad_bytes": "grads", "state_bytes": "opt_state"}[name])
                ]
            if name == "adam":
                return r.optimizer == "adam"
            if name == "stack":
                return STACKS.index(r.stack)
            if name == "shard":
                return r.shard or r.dp
            if name in ("recompute_layers", "bucket_mb"):
                return getattr(r, name) or 0
            if name == "etp":
                return r.expert_tp
            if name in ("fused", "attn", "expert_spread", "cp_comm", "gather_overlap", "grad_overlap", "pp_overlap"):
                return getattr(r, f"{name}_code")
            return getattr(r, name)

        return cls(**{f.name: np.asarray([value(r, f.name) for r in rows], dtype=np.float64) for f in fields(cls)})

    @property
    def chips(self):
        return self.tp * self.pp * self.dp * self.cp

    @property
    def microbatches(self):
        return self.gbs / (self.dp * self.mb)

    def take(self, index) -> LayoutArrays:
        return LayoutArrays(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def __len__(self) -> int:
        return int(np.size(self.tp))

    def layout(self, i: int, base: Layout | None = None) -> Layout:
        """Row i as a `Layout`; precisions, the optimizer and the software keys come from `base`
        (the arrays hold only byte sizes and codes), the context-parallel exchange and the gradient
        buckets from the row."""

        def g(name: str):
            return getattr(self, name)[i]

        vp = int(g("vp"))
        keep = (base or Layout()).model_dump(
            include={
                "params",
                "grads",
                "opt_state",
                "optimizer",
                "stack",
                "fused",
                "attn",
                "loss_upcast",
                "master",
                "gather_overlap",
                "grad_overlap",
                "pp_overlap",
            }
        )
        if g("zero") == 3:  # ZeRO-3 gathers per microbatch: a searched ZeRO-3 row keeps no step gather
            keep["gather_overlap"] = None
            if g("shard") == g("dp"):  # nor, without replicas, a step's gradient reduction
                keep["grad_overlap"] = None
        if vp < 2:  # overlapped pipeline sends are the interleaved schedule's
            keep["pp_overlap"] = None
        way = int(g("cp_comm"))
        return Layout(
            tp=int(g("tp")),
            pp=int(g("pp")),
            dp=int(g("dp")),
            cp=int(g("cp")),
            ep=int(g("ep")),
            etp=None if g("etp") == g("tp") else int(g("etp")),
            zero=int(g("zero")),
            mb=int(g("mb")),
            gbs=int(g("gbs")),
            schedule="interleaved" if vp > 1 else "1f1b",
            vp=vp,
            recompute={v: k for k, v in RECOMPUTE_LEVEL.items()}[float(g("recompute"))],
            recompute_layers=int(g("recompute_layers")) or None,
            recompute_moe=bool(g("recompute_moe")),
            sp=bool(g("sp")),
            flash=bool(g("flash")),
            tp_overlap=bool(g("tp_overlap")),
            a2a_overlap=bool(g("a2a_overlap")),
            a2a_dedup=bool(g("a2a_dedup")),
            expert_spread=SPREADS[int(g("expert_spread"))],
            uneven=bool(g("uneven")),
            embed_loss=bool(g("embed_loss")),
            cp_comm=None if way == 0 else CP_COMMS[way - 1],
            # ZeRO-3 cuts by its gather groups, not by `bucket_mb`: a searched ZeRO-3 row keeps none
            bucket_mb=(int(g("bucket_mb")) or None) if g("zero") < 3 else None,
            shard=None if g("shard") == g("dp") else int(g("shard")),
            **keep,
        )

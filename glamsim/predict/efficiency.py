"""The predictor's efficiency constants: few, frozen, each with what it stands for.

Everything else in `glamsim.predict` is a mechanism computed from the model, the layout and the
chip profile (FLOPs by matmul shape, bytes per collective on the link tier it crosses, the
pipeline bubble, memory by the published activation analysis).  These constants are what no
datasheet gives.  Four were calibrated, once, on the eight published rows of
`published_runs.yaml` (`predictions:`) that came first: a grid of 4 x 5 x 4 x 4 settings,
minimising the largest relative error (`benchmarks/bench_predict.py calibrate` reruns it).  Since
the matmul roofs became measured (2026-12-06) that minimax is no longer at the frozen setting:
the eight rows' largest error is 13.4% here (Llama 3 at 16,384 GPUs) against 10.8% at (0.9, 96,
4.0, 0.9), with several settings within a point of it.  The constants stay frozen:
MATMUL_HALF_DIM is shared with the serving model's calibration, and `benchmarks/bench_predict.py
loso`, which refits all four without each source family and predicts it, is the figure that
counts.  Where a chip's large matmuls sit against the calibrated fraction is measured, not
fitted: its sustained matmul rate (`matmul_relative`, the profile's `matmul_sustained_flops_bf16`;
where only a burst rate is measured, `matmul_burst_flops_bf16`, that caps it: an upper bound)
and the fp8-to-16-bit ratio of one shape search per chip generation (`FP8_TO_16BIT_MATMUL`, the
H100's, and `FP8_TO_16BIT_BY_ARCH`).  The constants by
software stack below are counted or read from each stack's code and docs, not fitted.  Change
them only with a new calibration, and say so.
"""

from __future__ import annotations

# ---- calibrated (4) -------------------------------------------------------------------------

# Fraction of the chip's dense peak that a large matmul attains (cuBLAS / XLA on large bf16
# GEMMs reach 70-85% of the datasheet peak).  Calibrated.
MATMUL_PEAK_FRACTION = 0.85

# A matmul dimension of this size halves the attainable rate in that dimension: rate x
# d / (d + half) per dimension (tile and wave quantisation: thin matrices, short heads and small
# expert batches run below the large-matmul rate).  Calibrated at the A100's balance of compute
# to memory; a chip scales it by its own (`matmul_half_dim`).
MATMUL_HALF_DIM = 48.0

# The A100 80GB's ridge point, bf16 FLOP per HBM byte: 312e12 / 2.039e12 (NVIDIA A100 datasheet),
# the chip most calibration rows ran on.
REFERENCE_RIDGE_FLOP_PER_BYTE = 312e12 / 2.039e12


# Measured best bf16 matmul rates as fractions of the datasheet peak, one shape search (a short
# burst at boost clock): A100 SXM 271.2 of 312 TFLOP/s, H100 SXM 794.5 of 989 (Bekman,
# ml-engineering, compute/accelerator/README.md, "Maximum Achievable Matmul FLOPS comparison
# table", BF16 v2).
A100_BURST_FRACTION = 271.2 / 312.0
H100_BURST_FRACTION = 794.5 / 989.0
# B200: 1,751.2 of 2,250 (the same finder's MAMF, torch 2.13.0+cu130, the b200 profile's source)
B200_PEAK_TFLOPS = 2250.0
B200_BURST_FRACTION = 1751.2 / B200_PEAK_TFLOPS

# The A100's sustained large-matmul rate as a fraction of its datasheet peak, bf16: its burst
# rate at the clock it holds at its power limit in a dense matmul, 1,305 of 1,410 MHz (NVIDIA's
# A100 HPL clock): 80.5%, the profile's `matmul_sustained_flops_bf16`.  The A100 is the chip
# MATMUL_PEAK_FRACTION was calibrated on.
REFERENCE_SUSTAINED_FRACTION = A100_BURST_FRACTION * 1305 / 1410


def matmul_relative(sustained_flops_16bit, peak_flops_16bit, burst_flops_16bit=None):
    """How far a chip's large-matmul roof sits from the reference chip's, each as a fraction of its
    own datasheet peak: the 16-bit matmul rate the chip sustains at its power limit / its peak, over
    the A100's.  A training run is one long power-saturated stretch: a matmul that fills the chip
    draws the board's whole power limit and its clock settles below boost (mamf-finder's MSMF, not
    its burst MAMF).  The GH100 at 700 W sustains 698.6 of 989 TFLOP/s (70.6%) against the A100's
    80.5%, so an H100's matmuls (16-bit and fp8: the same clock under the same limit) run at 0.88x
    the fraction the A100 rows calibrated, and the same die held to 500 W at 0.84x; a TPU v5e, at
    its fixed clock, 92.3%: 1.15x.  Where only a burst rate is measured (mamf-finder's MAMF, at boost
    before the power limit bites), the chip sustains at most that: the reference fraction, capped at
    the burst fraction (a GB200 known by its burst alone, 1,822 of 2,500 TFLOP/s, 72.9%: 0.906x; an
    upper bound, as the B200 sustains 0.81x its burst at 1,000 W, and the GB200's measured sustained
    rate 0.81x).  1 where the chip has no measurement (TPU v3, v4, v5p,
    v6e, V100, MI300X: the reference fraction applies, and the ledger says so)."""
    if sustained_flops_16bit is None:
        if burst_flops_16bit is None:
            return 1.0
        return min(1.0, burst_flops_16bit / peak_flops_16bit / REFERENCE_SUSTAINED_FRACTION)
    return sustained_flops_16bit / peak_flops_16bit / REFERENCE_SUSTAINED_FRACTION


# How far a power limit may pull a chip's large matmuls below its burst rate, where only the burst is
# measured: the largest throttle measured both ways by one method, the B200's 1,426.4 sustained
# against 1,751.2 burst TFLOP/s with all 8 GPUs busy (ml-engineering's mamf-finder; the H100's is
# 698.6 / 794.5, 0.879; the GB200's 0.81 pairs Azure's FP8 GEMM with mamf-finder's BF16 burst, two
# methods and formats).  A burst-bound roof is an upper bound, so the interval's low end allows this
# much more.  No built-in profile is burst-bound since the GB200's sustained rate (2026-12-07): the
# rule serves a profile a user writes with a burst rate alone.
BURST_ONLY_THROTTLE = 1426.4 / 1751.2


def roof_is_burst_bound(sustained_flops_16bit, peak_flops_16bit, burst_flops_16bit) -> bool:
    """True where the roof is capped by a burst rate alone (`matmul_relative`): an upper bound."""
    if sustained_flops_16bit is not None or burst_flops_16bit is None:
        return False
    return matmul_relative(None, peak_flops_16bit, burst_flops_16bit) < 1.0


def matmul_half_dim(peak_flops_16bit, hbm_bytes_per_s):
    """The thin-dimension roll-off scale of a chip: `MATMUL_HALF_DIM` x its ridge point (16-bit
    peak FLOP/s per HBM byte/s) over the A100's.  A dimension d of a [M, K] x [K, N] product gives
    it about d FLOPs per byte moved (2 d per 2-byte value), so the size at which a thin operand
    stops starving the tensor cores grows with the FLOPs each byte must feed: H100 SXM 295 FLOP
    per byte (989 TFLOP/s, 3.35 TB/s) needs tiles about 1.9x as deep as the A100 (153), the
    CUTLASS Hopper kernels' 128 x 256 tiles against Ampere's 128 x 128.  fp8 doubles the FLOPs and
    halves the bytes per value: the same FLOPs per value, the same scale."""
    return MATMUL_HALF_DIM * (peak_flops_16bit / hbm_bytes_per_s) / REFERENCE_RIDGE_FLOP_PER_BYTE


# Element-wise work (norms, activations, softmax, residuals, dropout, loss) is memory-bound: its
# HBM traffic per layer is this many times the layer's stored activation bytes (Korthikanti et
# al. 2022's per-layer count) in the forward pass, twice that in the backward.  Calibrated.
ELEMENTWISE_PASSES = 3.0

# Fraction of a link's one-way bandwidth that a collective attains (NCCL bus bandwidth on
# NVLink/InfiniBand and XLA's ICI collectives reach 70-90% of the link rate).  Calibrated.
LINK_EFFICIENCY = 0.80

# ---- fixed, not fitted (3) ----------------------------------------------------------------

# A large fp8 matmul's fraction of the fp8 dense peak over a bf16 matmul's of the 16-bit peak on
# the same chip: H100 SXM fp8 1402.6 of 1979 TFLOP/s (70.9%) against bf16 794.5 of 989 (80.3%,
# H100_BURST_FRACTION), the same shape search (ml-engineering's table above, FP8, torch
# 2.7.0+cu126): 0.882.  An fp8 linear layer runs at
# MATMUL_PEAK_FRACTION x this x the chip's `matmul_relative`; its scaling casts are counted apart
# (FP8_CAST_PASSES).  Replaces an fp8 fraction once calibrated on the fp8 rows (0.55).
FP8_TO_16BIT_MATMUL = (1402.6 / 1979) / H100_BURST_FRACTION

# The same ratio by chip generation where the table measures both on one chip: Hopper the H100's
# above (the H200 is the same die); Blackwell the B200's, fp8 3,432.5 of 4,500 TFLOP/s (76.3%)
# against bf16 1,745.0 of 2,250 (77.6%), torch 2.7.1+cu128: 0.983.  Other chips: the H100's.
FP8_TO_16BIT_BY_ARCH = {"hopper": FP8_TO_16BIT_MATMUL, "blackwell": (3432.5 / 4500) / (1745.0 / 2250)}


def fp8_to_16bit(chip: str) -> float:
    """`chip`'s fp8 over bf16 large-matmul fraction (`FP8_TO_16BIT_BY_ARCH`, else the H100's)."""
    return FP8_TO_16BIT_BY_ARCH.get(generation(chip), FP8_TO_16BIT_MATMUL)


# Share of wall-clock time spent in training steps for runs whose throughput is published only as
# total days or hours (restarts after failures, evaluation, checkpoints): Llama 3 reports more
# than 90% effective training time (Dubey et al. 2024, Sec. 3.3.4).  Applied only to such rows.
WALL_CLOCK_GOODPUT = 0.90

# Time per short kernel issued back to back in one CUDA stream: 3.8 us (NVIDIA Technical Blog,
# Gray 2019, "Getting Started with CUDA Graphs": a 2.9 us kernel launched repeatedly without
# synchronisation takes 3.8 us per kernel; 3.4 us from a CUDA graph).
KERNEL_SLOT_S = 3.8e-6


# ---- by software stack, from how each one is written (not fitted) --------------------------

STACKS = ("megatron", "deepspeed", "pytorch-fsdp", "xla")
# each stack's code in `LayoutArrays.stack` (its index in STACKS)
MEGATRON, DEEPSPEED, PYTORCH_FSDP, XLA = range(len(STACKS))

# ZeRO-3 collectives per transformer layer and pass (forward gather, backward gather, gradient
# reduce-scatter).  DeepSpeed ZeRO-3 partitions every nn.Parameter and gathers each one when its
# sub-module runs (DeepSpeed docs, "ZeRO-3 Offload" / stage3 parameter fetching; its prefetch
# bucket overlaps them, it does not merge them): a GPT layer holds 12 tensors (fused QKV, output
# projection and the two MLP matrices, each with a bias, and two layer norms' scale and shift).
# PyTorch FSDP gathers one flat group per wrapped unit, one transformer block in torchtitan and
# the FSDP tutorials; XLA (GSPMD, scan over layers) one per layer; Megatron's distributed
# optimizer shards no weights (zero <= 1), so its ZeRO-3 entry is FSDP's.
ZERO3_GATHERS_PER_LAYER = {"megatron": 1.0, "deepspeed": 12.0, "pytorch-fsdp": 1.0, "xla": 1.0}

# Parameters a ZeRO-3 stack gathers ahead of use, i.e. how much of the next gather can overlap
# the current compute: DeepSpeed's `stage3_prefetch_bucket_size` default, 5e7 parameter elements
# (deepspeed/runtime/zero/config.py: "Maximum number of parameter elements to fetch ahead of
# use"); FSDP prefetches the whole next unit (backward_prefetch=BACKWARD_PRE, FSDP2's implicit
# forward prefetch) and XLA schedules the whole next layer's gather: no limit.
ZERO3_PREFETCH_PARAMS = {"megatron": float("inf"), "deepspeed": 5e7, "pytorch-fsdp": float("inf"), "xla": float("inf")}

# An upper bound on the gathered parameters a DeepSpeed ZeRO-3 rank holds at once: its coordinator
# gathers module by module, releases a module's parameters after use unless they are reused within
# `stage3_max_reuse_distance` parameters, and prefetches no more than `stage3_max_live_parameters`
# allow (both default 1e9 elements: "Do not release a parameter if it will be reused within this
# threshold of parameters", "The maximum number of parameters resident per GPU before releasing",
# deepspeed/runtime/zero/config.py); a module being computed is whole, so a matrix larger than the
# bound is live alone, with `stage3_prefetch_bucket_size` (5e7) fetched ahead.  Its unsharded
# gradients wait in a reduce bucket of `reduce_bucket_size` elements, default 5e8 ("Number of
# elements reduced/allreduced at a time"), the largest matrix's gradient beside it.  FSDP and XLA
# hold whole layers (`memory.model_states`).
DEEPSPEED_MAX_LIVE_PARAMS = 1e9
DEEPSPEED_REDUCE_BUCKET_PARAMS = 5e8

# Under full recomputation, DeepSpeed's ZeRO-3 gathers the weights again for each recomputed
# layer's forward (its module hooks fetch on every forward and release after it;
# `stage.recomputed_share` of them); FSDP recomputes inside the unit's backward, whose weights are
# already gathered, and XLA keeps them live.
ZERO3_REGATHER_ON_RECOMPUTE = {"megatron": 0.0, "deepspeed": 1.0, "pytorch-fsdp": 0.0, "xla": 0.0}


# Below ZeRO-3 a stack reduces (and, with a distributed optimizer, gathers) its gradient buffer in
# buckets, each a collective of its own that pays its ring pass of latency, issued as the backward
# fills them where the stack overlaps the reduction (`DP_REDUCE_IN_BACKWARD`, `grad_overlap`; the
# weights' gather as `DP_GATHER_IN_FORWARD` says),
# and hybrid sharding all-reduces across the replicas in the same pieces (at ZeRO-3 in its gather
# groups, `ZERO3_GATHERS_PER_LAYER` a layer).  Parameters per bucket:
# - megatron: Megatron-Core DDP's default bucket_size under overlap_grad_reduce, max(40,000,000,
#   1,000,000 x dp) parameters for the dense and the expert buffers alike: "larger DP sizes need
#   larger buckets to ensure collectives do not become latency-bound" (megatron/core/distributed/
#   distributed_data_parallel_config.py; dp is the data-parallel group, dp x cp in Megatron-LM's
#   resolve_ddp_bucket_size of 2025, as here); without the overlap (`grad_overlap=0`) Megatron
#   reduces its buffer as one bucket (bucket_size None; Megatron-LM's local DDP of 2021-2023 one
#   all-reduce of its contiguous buffer);
# - deepspeed: ZeRO's reduce_bucket_size default, 5e8 elements (deepspeed/runtime/zero/config.py,
#   "Number of elements reduced/allreduced at a time");
# - pytorch-fsdp: DDP (zero 0) in torch.nn.parallel.DistributedDataParallel's bucket_cap_mb default,
#   25 MiB of gradients; sharded (FSDP, zero 2-3) one collective per wrapped unit
#   (`ZERO3_GATHERS_PER_LAYER` per layer; the root unit not counted, as in ZeRO-3's groups);
# - xla: one collective per step (no buckets).
# A layout's `bucket_mb` sets MiB of gradients per bucket instead: Apex's DistributedFusedAdam (NeMo's
# `distributed_fused_adam`), bucket_cap_mb default 100, "bucket_size = 1024 * 1024 * bucket_cap_mb /
# dtype_size" of its gradient-sync dtype (NVIDIA/apex apex/contrib/optimizers/distributed_fused_adam.py).

# At ZeRO 1-2 the gradients are reduce-scattered in the last microbatch's backward, as its buckets
# fill, and the updated weights all-gathered after the optimizer step: the gather can only hide
# behind the next step's forward, and only where the stack issues it there.
# - megatron: Megatron-Core's `overlap_param_gather` ("If true, overlap param all-gather with
#   forward compute", megatron/core/distributed/distributed_data_parallel_config.py; each bucket's
#   gather dispatched from the forward pre-hooks) and Apex's `overlap_param_sync` (NeMo's
#   distributed_fused_adam: "Overlap parameter all-gather with compute"), which NeMo's and
#   Megatron-Bridge's performance recipes turn on: 1 (Megatron-LM's own default is off: a layout
#   with `gather_overlap=0` runs that way);
# - deepspeed: ZeRO-1/2 gathers in `step()` after the update, `all_gather_dp_groups(...)` "ready
#   for next round forward" (deepspeed/runtime/zero/stage_1_and_2.py): exposed, 0;
# - pytorch-fsdp: at ZeRO-2 (FSDP's reshard_after_forward=False) each unit's weights are gathered
#   at its first forward, prefetched behind the unit before it: 1; at ZeRO-1 (PyTorch's
#   ZeroRedundancyOptimizer) `step()` ends by syncing the updated shards (`_sync_params`): 0;
# - xla: the compiler schedules the gather with the forward's matmuls: 1 (assumed).
# Every GPU layout that names no stack runs as Megatron's, the gather hidden.
DP_GATHER_IN_FORWARD = {  # stack -> (ZeRO-1, ZeRO-2)
    "megatron": (True, True),
    "deepspeed": (False, False),
    "pytorch-fsdp": (False, True),
    "xla": (True, True),
}


def dp_gather_in_forward(stack_code, zero):
    """Each layout's default `gather_overlap` (1: the ZeRO-1/2 weight gather hidden behind the next
    forward) by its stack (`stack_code`, index into STACKS) and ZeRO stage (`DP_GATHER_IN_FORWARD`)."""
    import numpy as np

    table = np.asarray([DP_GATHER_IN_FORWARD[s] for s in STACKS], dtype=np.float64)
    return table[np.asarray(stack_code, dtype=np.int64), (np.asarray(zero) >= 2).astype(np.int64)]


# Where a step's gradients are reduced below ZeRO-3 (the all-reduce at ZeRO 0, the reduce-scatter at
# ZeRO 1-2) and, under hybrid sharding, across the replicas: in the last microbatch's backward, each
# bucket as it fills (1), or after the backward, exposed (0).  `grad_overlap` names it for a layout.
# - megatron: Megatron-Core's `overlap_grad_reduce` and Apex's `overlap_grad_sync` (NeMo's
#   distributed_fused_adam), which NeMo's and Megatron-Bridge's recipes turn on: 1 (Megatron-LM's own
#   default is off, and its 2021-2023 `--DDP-impl local` reduced after the pipeline flush,
#   `train_step` calling the all-reduce once `forward_backward_func` returned: such runs say
#   `grad_overlap=0`);
# - deepspeed: ZeRO's `overlap_comm` "Attempts to overlap the reduction of the gradients with
#   backward computation" defaults to `stage == ZeroStageEnum.weights`, on at ZeRO-3 only
#   (deepspeed/runtime/zero/config.py, `overlap_comm_valid`): at ZeRO-2 its hooks reduce each
#   bucket on the compute stream, blocking; at ZeRO-1 no backward hook reduces ("Since none of the
#   backward hooks are triggered by stage 1, there is no overlapping", microsoft/DeepSpeed#1246),
#   nor at ZeRO-0 (the engine's all-reduce at the accumulation boundary): exposed either way, 0;
# - pytorch-fsdp: DDP's and FSDP's hooks reduce each bucket or unit as its gradients are ready: 1;
# - xla: the compiler schedules the reduction with the backward's matmuls: 1 (assumed; PaLM's
#   cross-pod reduction over Pathways was not overlapped, Chowdhery et al. 2022 Sec. 4, and MaxText's
#   TPU v4 scripts make only the all-gathers asynchronous, so their reduction across slices blocks
#   (inferred): those rows say `grad_overlap=0`).
DP_REDUCE_IN_BACKWARD = {"megatron": 1.0, "deepspeed": 0.0, "pytorch-fsdp": 1.0, "xla": 1.0}

# Whether the stack's interleaved schedule posts its steady-phase pipeline sends beside the next
# chunk's compute (`pp_overlap` names it for a layout; `steptime.pipeline_exposed_s`): Megatron-Core's
# overlap_p2p_comm, on by default with virtual stages (Megatron-LM of 2021-2022 blocked on every
# send: its rows say `pp_overlap=0`); the other stacks' sends are taken as exposed.
PP_SENDS_OVERLAPPED = {"megatron": 1.0, "deepspeed": 0.0, "pytorch-fsdp": 0.0, "xla": 0.0}


DP_BUCKET_FLOOR_PARAMS = {"megatron": 4e7, "deepspeed": 5e8, "pytorch-fsdp": 0.0, "xla": float("inf")}
DP_BUCKET_PARAMS_PER_RANK = {"megatron": 1e6, "deepspeed": 0.0, "pytorch-fsdp": 0.0, "xla": 0.0}
DP_BUCKET_MIB = {"megatron": 0.0, "deepspeed": 0.0, "pytorch-fsdp": 25.0, "xla": 0.0}


def dp_buckets(params, lay, group, layers):
    """Collectives one chip's `params` gradients are reduced in per step (at least one where it has
    any), the stack's data-parallel group being `group` ranks and `layers` on the chip: the stack's
    buckets (above), `lay.bucket_mb` MiB of gradients each where the layout sets it, or at ZeRO-3
    (and PyTorch FSDP at ZeRO-2) one per gather group."""
    import numpy as np

    mib = np.where(lay.bucket_mb > 0, lay.bucket_mb, by_stack(DP_BUCKET_MIB, lay.stack))
    rule = np.maximum(
        by_stack(DP_BUCKET_FLOOR_PARAMS, lay.stack), by_stack(DP_BUCKET_PARAMS_PER_RANK, lay.stack) * group
    )
    buckets = np.ceil(params / np.where(mib > 0, mib * 2**20 / lay.grad_bytes, rule))
    # Megatron without the overlap reduces its whole buffer at once
    buckets = np.where((lay.stack == MEGATRON) & (lay.grad_overlap == 0) & (lay.bucket_mb == 0), 1.0, buckets)
    units = layers * by_stack(ZERO3_GATHERS_PER_LAYER, lay.stack)
    grouped = (lay.zero == 3) | ((lay.stack == PYTORCH_FSDP) & (lay.zero == 2) & (lay.bucket_mb == 0))
    return np.where(params > 0, np.maximum(np.where(grouped, units, buckets), 1.0), 0.0)


# 1: under sequence parallelism the stack saves the all-gathered (whole-sequence) inputs of the QKV
# and FFN matmuls for their weight gradients.  PyTorch's DTensor tensor parallelism (torchtitan's
# plan: SequenceParallel norms, ColwiseParallel(input_layouts=Shard(1)) projections) redistributes
# the sharded input to Replicate before F.linear, and autograd saves the linear's input, the
# gathered tensor (torch/distributed/tensor/parallel/style.py, ColwiseParallel._prepare_input_fn).
# With Float8, torchtitan's plan uses torchao's Float8ColwiseParallel and PrepareFloat8ModuleInput,
# which cast to fp8 before the all-gather (torchao/float8/float8_tensor_parallel.py: "the float8
# cast happens before the all-gather (i.e. Shard -> Replicate)"): the gathered input is kept at 1
# byte (torchtitan's parallelize_llama choosing these styles under Float8 is assumed for its
# December 2024 rows).
# Megatron's sequence parallelism saves the shard and all-gathers it again in the backward
# (Korthikanti et al. 2022, Sec. 4.2.2; megatron/core/tensor_parallel/layers.py,
# LinearWithGradAccumulationAndAsyncCommunication), as do Megatron-DeepSpeed's layers; XLA's
# choice is its compiler's (0: as Megatron, assumed).
SP_SAVES_GATHERED_INPUTS = {"megatron": 0.0, "deepspeed": 0.0, "pytorch-fsdp": 1.0, "xla": 0.0}


# DeepSpeed's ZeRO-3 hands each collective a Python list of world-size views into one flat buffer
# (deepspeed/runtime/zero/partition_parameters.py, `_allgather_param`, 2021:
# `torch.distributed.all_gather(partitions, partitions[self.rank], ...)`; its gradient
# reduce-scatter likewise), and PyTorch's ProcessGroupNCCL turns a list into a flat buffer and
# copies every rank's chunk out (in) with a kernel of its own (torch/csrc/distributed/c10d/
# ProcessGroupNCCL.cpp, allgather: `outputTensors[i][j].copy_(outputFlattened[i][j], true)`):
# a kernel per rank per collective and the gathered bytes once more through HBM.  FSDP's flat
# parameters (`_all_gather_base` / `all_gather_into_tensor`) and XLA gather into one buffer.
ZERO3_COPY_PER_RANK = {"megatron": 0.0, "deepspeed": 1.0, "pytorch-fsdp": 0.0, "xla": 0.0}


def by_stack(table: dict, code):
    """`table`'s value for each layout's stack (`code`: index into STACKS, an array)."""
    import numpy as np

    return np.asarray([table[s] for s in STACKS])[np.asarray(code, dtype=np.int64)]


# Fused (flash) attention kernels reach their own fraction of the 16-bit peak, by kernel and chip
# generation, at long sequences and 128-wide heads, forward and backward apart (causal FLOPs
# counted as executed, the masked half skipped):
# - FlashAttention-2 on A100: up to 73% forward and 63% backward (Dao 2023, arXiv:2307.08691,
#   Sec. 1: "up to 73% of the theoretical max throughput in the forward pass, and up to 63% of the
#   theoretical max throughput in the backward pass"; until 2026-12-07 73% both ways, read from the
#   abstract's "50-73%");
# - on H100 SXM (989 TFLOP/s), Shah et al. 2024, FlashAttention-3 (arXiv:2407.08608), Fig. 4
#   (forward, head dim 128, causal, 16k: FlashAttention-2 335, cuDNN 539, FlashAttention-3 616
#   TFLOP/s; cuDNN 9.1.1, their Appendix C.1) and the backward figure, which is non-causal (head
#   dim 128, 16k: FlashAttention-2 322, cuDNN 516, FlashAttention-3 561 TFLOP/s), times the causal
#   over non-causal backward rate of the same kernels and shape measured on a Hopper GPU by
#   NVIDIA's cuDNN frontend benchmark (NVIDIA/cudnn-frontend benchmark/benchmark_results.csv,
#   commit 505fcfe; bf16, 16 heads of 128, 16k: cuDNN 497.7 against 538.5, PyTorch's SDPA flash
#   backend, FlashAttention-2, 305.2 against 308.9; FlashAttention-3 has no such pair: left
#   as published); FlashAttention-3 is written for Hopper (no figure elsewhere);
# - on B200 (2,250 TFLOP/s dense bf16), NVIDIA's cuDNN frontend training benchmark
#   (NVIDIA/cudnn-frontend benchmark/sdpa_benchmark_training/artifacts/
#   sdpa_bf16_benchmark_results_NVIDIA_B200.csv, commit bb37575; bf16, head dim 128, causal,
#   128 query and 8 KV heads, 16k): cuDNN (PyTorch's cuDNN backend) 1,332 forward and 1,075
#   backward, FlashAttention-2 (the flash-attn package) 425 and 337 TFLOP/s, counted as above
#   (its `flops()`: causal halved, backward 2.5x the forward).
# A layout names its kernel (`attn=flash2`, `attn=cudnn`, `attn=flash3`, `attn=cudnn-9.19`) or
# takes its stack's: PyTorch's SDPA flash backend (torchtitan, its context-parallel ring attention)
# is FlashAttention-2; Megatron/NeMo on Hopper and Blackwell use Transformer Engine's cuDNN fused
# attention (assumed on Blackwell as on Hopper) and the FlashAttention-2 figure stands for them on
# Ampere.  NeMo's launcher disabled TE's cuDNN attention (NVTE_FUSED_ATTN=0) until August 2024, so
# rows of its earlier containers may name `attn=flash2` (NeMo's long-sequence table does).  Other
# pairs (TPU splash attention, DeepSpeed, cuDNN on Ampere) keep the matmul model (NaN below).  The
# Hopper figures are the libraries of mid-2024 (Shah et al.: cuDNN 9.1.1, FlashAttention 2.5.8),
# which every validation row is predicted with.  A layout on a current
# stack names `attn=cudnn-9.19`: NVIDIA's cuDNN frontend benchmark with cuDNN 9.19 on an H200
# (benchmark/sdpa_benchmark_training/results/h200_919_only_cudnn/llama3.1_20260227_034703.csv,
# commit df73764; bf16, 64 query and 8 KV heads of 128, causal, 16k): 673 TFLOP/s forward and 579
# backward, 1.25x and 1.21x cuDNN 9.1.1's (Hopper only: with no B200 figure at that version it
# runs as matmuls there, like FlashAttention-3).
ARCH = {
    "a100": "ampere",
    "h100": "hopper",
    "h200": "hopper",
    "gh200": "hopper",
    "b200": "blackwell",
    "gb200": "blackwell",
}


def generation(chip: str) -> str | None:
    """The GPU generation of a chip profile's name (`h100-sxm` -> hopper), None for other chips."""
    return ARCH.get(chip.split("-")[0])


# A fused kernel's rate also depends on the sequence it runs over: at short sequences each query
# tile's key/value loop is short, and the causal diagonal and each tile's prologue and epilogue
# weigh more.  The published sweeps (causal, 128-wide heads, bf16, TFLOP/s forward and backward,
# counted as above), as a factor on each kernel's 16k rate:
# - Hopper, FlashAttention-2 as PyTorch's SDPA flash backend (what torchtitan calls) and cuDNN:
#   NVIDIA's cuDNN frontend benchmark (NVIDIA/cudnn-frontend benchmark/benchmark_results.csv, commit
#   505fcfe; 16 heads, 16k tokens a call up to 16k: batch 4 at 4k; batch 1 beyond);
# - Hopper, cuDNN 9.19: its H200 run (benchmark/sdpa_benchmark_training/results/h200_919_only_cudnn/
#   llama3.1_20260227_034703.csv, commit df73764; 64 query and 8 KV heads, batch 1);
# - Blackwell, FlashAttention-2 (the flash-attn package) and cuDNN (PyTorch's cuDNN backend): the
#   B200 training benchmark (benchmark/sdpa_benchmark_training/artifacts/
#   sdpa_bf16_benchmark_results_NVIDIA_B200.csv, commit bb37575; 128 query and 8 KV heads, batch 1).
# The batch-1 sweeps (H200, B200) time one call at a time from Python, so their shortest calls (a
# tenth to a third of a millisecond below 4k) count host dispatch with the kernel; their points
# start at 4k, where the Hopper sweep's do (16k tokens a call).
# Linear in log2(sequence) between the points, held beyond them; taken at the queries a rank's
# call computes, s / cp: under context parallelism a ring's steps are a causal square of s / cp and
# non-causal blocks of s / cp by s / (2 cp) (Transformer Engine's, PyTorch's), the same key loop
# per query tile; Llama 3's all-gather call runs the rank's queries against every key, and is
# taken at s / cp too (its longer loop unpublished).  Measured at the boost clock like the 16k
# rates, so the sustained-clock factor applies to both alike.  Where no sweep is published
# (FlashAttention-2 on Ampere and FlashAttention-3) the matmul model's roll-off stands in
# (`compute.attention_s`).
ATTENTION_SWEEP_SEQ = 16384  # the length the peak fractions below are given at
ATTENTION_SEQ_RATES = {  # (kernel, generation) -> (sequences, forward TFLOP/s, backward TFLOP/s)
    ("flash2", "hopper"): (
        (4096, 8192, 16384, 32768, 65536),
        (314.06, 325.14, 324.77, 345.30, 342.65),
        (248.76, 277.44, 305.18, 317.28, 323.16),
    ),
    ("cudnn", "hopper"): (
        (4096, 8192, 16384, 32768, 65536),
        (542.32, 572.86, 586.82, 577.35, 567.02),
        (443.60, 463.54, 497.68, 499.66, 503.81),
    ),
    ("cudnn-9.19", "hopper"): (
        (4096, 8192, 16384, 32768),
        (591.0, 644.0, 673.0, 688.0),
        (474.0, 541.0, 579.0, 581.0),
    ),
    ("flash2", "blackwell"): (
        (4096, 8192, 16384, 32768, 65536, 131072),
        (342.99, 399.93, 425.13, 435.76, 441.29, 443.74),
        (273.48, 318.00, 336.64, 345.63, 348.98, 348.25),
    ),
    ("cudnn", "blackwell"): (
        (4096, 8192, 16384, 32768, 65536, 131072),
        (855.68, 1171.28, 1332.42, 1419.00, 1382.33, 1355.42),
        (701.27, 942.51, 1074.78, 1108.69, 1073.06, 1047.84),
    ),
}


def attention_head_dim_factor(kernel: str, head_dim, backward: bool = False):
    """`kernel`'s rate at `head_dim` over its rate at 128 (ATTENTION_HEAD_DIM_FACTOR)."""
    import numpy as np

    forward, bwd = ATTENTION_HEAD_DIM_FACTOR[kernel]
    x = np.log2(np.maximum(np.asarray(head_dim, dtype=float), 1.0))
    points = np.log2(ATTENTION_HEAD_DIMS)
    fwd = np.interp(x, points, forward)
    if not backward:
        return fwd
    return np.where(x > points[1], fwd, np.interp(x, points[:2], bwd))


def _swept(kernel: str, arch: str, backward: bool) -> float:
    """A sweep's TFLOP/s at `ATTENTION_SWEEP_SEQ` (one of its points)."""
    seqs, forward, bwd = ATTENTION_SEQ_RATES[kernel, arch]
    return (bwd if backward else forward)[seqs.index(ATTENTION_SWEEP_SEQ)]


H100_PEAK_TFLOPS = 989.0
ATTENTION_KERNELS = ("flash2", "cudnn", "flash3", "cudnn-9.19")
ATTENTION_PEAK_FRACTION = {  # (forward, backward)
    ("flash2", "ampere"): (0.73, 0.63),
    # the backward made causal by the sweep's causal 16k rate over the same kernel's non-causal one
    ("flash2", "hopper"): (335 / H100_PEAK_TFLOPS, 322 * _swept("flash2", "hopper", True) / 308.87 / H100_PEAK_TFLOPS),
    ("cudnn", "hopper"): (539 / H100_PEAK_TFLOPS, 516 * _swept("cudnn", "hopper", True) / 538.46 / H100_PEAK_TFLOPS),
    ("flash3", "hopper"): (616 / H100_PEAK_TFLOPS, 561 / H100_PEAK_TFLOPS),
    **{
        (k, arch): tuple(_swept(k, arch, b) / peak for b in (False, True))
        for k, arch, peak in (
            ("cudnn-9.19", "hopper", H100_PEAK_TFLOPS),
            ("flash2", "blackwell", B200_PEAK_TFLOPS),
            ("cudnn", "blackwell", B200_PEAK_TFLOPS),
        )
    },
}
ATTENTION_RATE_SOURCE = {  # where each (kernel, generation) rate above comes from, for the ledger
    ("flash2", "ampere"): "Dao 2023 (arXiv:2307.08691), Sec. 1: up to 73% (forward) and 63% (backward) "
    "of the A100's peak",
    ("flash2", "hopper"): "Shah et al. 2024 (arXiv:2407.08608), Figs. 5-6, FlashAttention 2.5.8; backward made "
    "causal by NVIDIA's cuDNN frontend benchmark",
    ("cudnn", "hopper"): "Shah et al. 2024 (arXiv:2407.08608), Figs. 5-6, cuDNN 9.1.1; backward made causal by "
    "NVIDIA's cuDNN frontend benchmark",
    ("flash3", "hopper"): "Shah et al. 2024 (arXiv:2407.08608), Figs. 5-6",
    ("cudnn-9.19", "hopper"): "NVIDIA's cuDNN frontend benchmark, cuDNN 9.19 on an H200 (2026)",
    ("flash2", "blackwell"): "NVIDIA's cuDNN frontend training benchmark on a B200 (flash-attn package)",
    ("cudnn", "blackwell"): "NVIDIA's cuDNN frontend training benchmark on a B200 (PyTorch's cuDNN backend)",
}
STACK_ATTENTION_KERNEL = {  # (stack, chip generation) -> the kernel it runs when the layout names none
    ("megatron", "ampere"): "flash2",
    ("megatron", "hopper"): "cudnn",
    ("pytorch-fsdp", "ampere"): "flash2",
    ("pytorch-fsdp", "hopper"): "flash2",
    ("megatron", "blackwell"): "cudnn",
    ("pytorch-fsdp", "blackwell"): "flash2",
}


# Kernel benchmarks run in bursts at the boost clock; a power-saturated training run holds the
# chip's sustained clock.  The published attention fractions above are scaled by the chip's
# sustained matmul fraction over the burst fraction of the chip they were measured on (the A100
# SXM's, H100 SXM's and B200's above).  An H100 SXM at 700 W sustains 70.6% of its peak against
# that 80.3% burst: 0.88x the published rates; a B200, 63.4% against 77.8%: 0.81x.
ATTENTION_BURST_FRACTION = {
    "ampere": A100_BURST_FRACTION,
    "hopper": H100_BURST_FRACTION,
    "blackwell": B200_BURST_FRACTION,
}


def attention_sustained(chip: str, relative: float) -> float:
    """The factor on a published fused-attention rate for `chip` in a long training run: the chip's
    sustained matmul fraction (`relative` x the reference's) over the measuring chip's burst one."""
    arch = generation(chip)
    if arch is None:
        return 1.0
    return relative * REFERENCE_SUSTAINED_FRACTION / ATTENTION_BURST_FRACTION[arch]


def attention_kernel(stack_code, kernel_code, chip: str):
    """Each layout's fused-attention kernel on `chip` as an index into ATTENTION_KERNELS: the one the
    layout names (`kernel_code`: 0 none, else 1 + its index) or its stack's; -1 where neither."""
    import numpy as np

    arch = generation(chip)
    stack_kernel = [STACK_ATTENTION_KERNEL.get((s, arch)) for s in STACKS]
    by_stack = np.asarray([ATTENTION_KERNELS.index(k) if k else -1 for k in stack_kernel])
    named = np.asarray(kernel_code, dtype=np.int64) - 1
    return np.where(named >= 0, named, by_stack[np.asarray(stack_code, dtype=np.int64)])


# A fused kernel's rate depends on the head dimension: its factor on the 128-wide rate, from the
# same H100 figures of Shah et al. 2024 (arXiv:2407.08608) at 16k (transcribed in viktor-shcherb/
# msc_thesis references/2024-12-flashattention-3/analysis.md, its Key Results tables): forward,
# causal, Fig. 5 (b, d, f), head dims 64 / 128 / 256: FlashAttention-2 299 / 335 / 298, cuDNN
# 388 / 539 / 509, FlashAttention-3 473 / 616 / 642 TFLOP/s; backward, Fig. 6, non-causal, head
# dims 64 / 128: 291 / 322, 433 / 516, 474 / 561.  Linear in log2(head dim) between the points,
# held beyond them (the kernels stop at 256); the backward above 128 (no backward figure) takes
# the forward's factor.  Measured on Hopper with the libraries of mid-2024 (cuDNN 9.1.1,
# FlashAttention 2.5.8), the same as the 128-wide rates; applied on Ampere and Blackwell as well,
# an assumption that NVIDIA's B200 training loop questions for cuDNN (`benchmarks/bench_predict.py
# attention`: its 64-wide attention ran 1.3x slower than this predicts).
ATTENTION_HEAD_DIMS = (64.0, 128.0, 256.0)
ATTENTION_HEAD_DIM_FACTOR = {  # kernel -> (forward at 64 / 128 / 256, backward at 64 / 128)
    "flash2": ((299 / 335, 1.0, 298 / 335), (291 / 322, 1.0)),
    "cudnn": ((388 / 539, 1.0, 509 / 539), (433 / 516, 1.0)),
    "flash3": ((473 / 616, 1.0, 642 / 616), (474 / 561, 1.0)),
}
ATTENTION_HEAD_DIM_FACTOR["cudnn-9.19"] = ATTENTION_HEAD_DIM_FACTOR["cudnn"]  # no full-causal 64-wide figure at 9.19


def attention_seq_factor(stack_code, kernel_code, chip: str, backward: bool, seq):
    """The fused-attention kernel's rate at `seq` over its 16k rate for each layout on `chip`, from
    its published sweep (`ATTENTION_SEQ_RATES`), NaN where none was published (the kernel the layout
    names, else its stack's, as `attention_fraction`)."""
    import numpy as np

    arch = generation(chip)
    kernel = attention_kernel(stack_code, kernel_code, chip)
    x = np.log2(np.maximum(np.asarray(seq, dtype=float), 1.0))
    out = np.nan
    for i, k in enumerate(ATTENTION_KERNELS):
        sweep = ATTENTION_SEQ_RATES.get((k, arch))
        if sweep is not None:
            seqs, rates = np.log2(sweep[0]), np.asarray(sweep[1 + int(backward)])
            factor = np.interp(x, seqs, rates) / np.interp(np.log2(ATTENTION_SWEEP_SEQ), seqs, rates)
            out = np.where(kernel == i, factor, out)
    return out


def attention_fraction(stack_code, kernel_code, chip: str, backward: bool, head_dim):
    """The fused-attention kernel's fraction of the 16-bit peak for each layout on `chip`, forward
    or backward, at `head_dim`: the kernel the layout names (`kernel_code`: 0 none, else 1 + its
    index in ATTENTION_KERNELS) or its stack's; NaN where no published figure (the matmul model
    applies)."""
    import numpy as np

    arch = generation(chip)
    kernel = attention_kernel(stack_code, kernel_code, chip)
    out = np.nan
    for i, k in enumerate(ATTENTION_KERNELS):
        rate = ATTENTION_PEAK_FRACTION.get((k, arch), (np.nan, np.nan))[int(backward)]
        out = np.where(kernel == i, rate * attention_head_dim_factor(k, head_dim, backward), out)
    return out


# An eager PyTorch layer runs each element-wise op as its own kernel, each reading and writing
# HBM: RMSNorm as pow, mean, rsqrt, two multiplies (5 passes where a fused kernel makes 1), RoPE
# as casts, a complex multiply and views (4 against 1), SiLU then the gate product (2 against 1),
# while residual adds are one pass either way; over a Llama block about twice the traffic of the
# fused kernels that Megatron/Transformer Engine, torch.compile and XLA emit.  Counted, not fitted.
UNFUSED_ELEMENTWISE_FACTOR = 2.0

# The loss's element-wise passes over the last stage's logits, per logit, as (values at the
# compute width a, values at the loss's working width w: fp32 where it upcasts), forward and
# backward, counted from Megatron-Core's vocab-parallel cross entropy
# (megatron/core/tensor_parallel/cross_entropy.py and fusions/fused_cross_entropy.py):
# - fused (its jit-fused steps; torch.compile and XLA assumed alike): forward the upcast copy with
#   the row maximum (read a, write w), exp(x - max) in place (2w), the row sum (w), the
#   normalisation in place (2w); backward the gradient scaled in place (2w) and cast back (w + a):
#   2a + 9w, 40 bytes per bf16 logit;
# - unfused (each op its own kernel: eager PyTorch, Megatron without `cross_entropy_loss_fusion`):
#   the maximum (w) and the in-place subtraction (2w) apart: 2a + 12w, 52 bytes.
# Counted, not fitted; the gather of the target logit and the per-row all-reduces are negligible.
# The loss counts as fused where the layers' element-wise kernels are (`fused`); which loss a run
# used is mostly not published.  Megatron-LM without `cross_entropy_loss_fusion` (its default),
# torchtitan's compiled runs of December 2024 (the loss left eager) and NeMo Automodel's eager loss
# move 3 working-width values more per logit than counted (about 0.5% of those torchtitan and Automodel
# steps, about 4% of the model zoo's PP 32 step, whose last stage holds two layers); Transformer
# Engine's Triton loss (`cross_entropy_fusion_impl=te`, transformer_engine/pytorch/triton/
# cross_entropy.py: an online-softmax pass, then the gradient written over the logits in the
# backward pass) moves 3 values at 16 bits, 6 bytes.  The fused count is of the current file, whose
# separate in-place steps avoid a copy-back that earlier compiled versions paid (its own note).
LOSS_PASSES = {True: ((1, 6), (1, 3)), False: ((1, 9), (1, 3))}  # fused -> (forward, backward)

# fp8 linear layers (Transformer Engine, torchao Float8Linear) cast each 16-bit input to fp8 with
# a per-tensor scale: read the input once for its maximum, once to cast, write the 1-byte copy,
# 2.5 passes of the 16-bit bytes (counted from the delayed/current scaling recipes).
FP8_CAST_PASSES = 2.5

# ---- context-parallel ring attention, by software stack (read from each stack's code) ---------

# Where K and V are repeated to every query head before the attention kernel, the ring moves
# query-head-wide K and V: torchtitan's Llama (torchtitan/models/llama/model.py,
# `Attention.forward`: `keys = repeat_kv(xk, self.n_rep)`, `values = repeat_kv(xv, self.n_rep)`,
# then `F.scaled_dot_product_attention(xq, xk, xv, is_causal=True)`), 4x the KV heads' bytes for
# Llama 3 8B, 16x for 405B under TP 8.  Megatron/Transformer Engine and XLA pass the KV heads.
CP_KV_AT_QUERY_HEADS = {"megatron": 0.0, "deepspeed": 0.0, "pytorch-fsdp": 1.0, "xla": 0.0}

# How a context-parallel rank gets the other ranks' K and V (`cp_comm` in a layout names one; this
# is each stack's when it names none; see `glamsim.predict.ring`):
# - "allgather": the whole sequence's K and V gathered before the attention, exposed (Llama 3's
#   all-gather CP, Dubey et al. 2024 Sec. 3.3.2: "the all-gather communication latency is exposed
#   in the critical path");
# - "allgather-overlap": PyTorch's ring attention (torch/distributed/tensor/experimental/
#   _attention.py: `_ContextParallelOptions` defaults `enable_load_balance=True`,
#   `rotate_method=ALL_GATHER`; `_AllGatherRotater` gathers once, issued before the first, local
#   block and waited for at the second step; the backward creates a new gather rotater and passes
#   the fp32 K/V gradients on with `_RotateMethod.ALL_TO_ALL` after every step, waiting for the
#   last after the loop).  torchtitan 9dec370 runs it with
#   `--experimental.context_parallel_rotate_method` default 'allgather' ("all-gather all kv shards
#   on ranks after the first sub-SDPA computation", pytorch/torchtitan#728, 2024-12-11) and leaves
#   load balancing at its default (round-robin chunks r and 2 cp - 1 - r, pytorch/pytorch#132442):
#   every step is 1 / cp of the rank's attention; compiled, every collective is waited for at once
#   (`glamsim.predict.ring`);
# - "p2p": Transformer Engine's ring, what Megatron-Core runs (its only mode until `cp_comm_type`,
#   TE PR #1060, 2024-07-30, and its default after: Megatron-Core passes "p2p" when none is set).
#   `AttnFuncWithCP` (transformer_engine/pytorch/attention.py, early 2024, read at the
#   erhoo82/TransformerEngine snapshot 23d4acd): K and V packed in one buffer, each of the cp
#   steps posts the send of the current chunk to rank + 1 and the receive of the next before it
#   computes (`flash_attn_p2p_communicate`), load-balanced 2 x cp chunks; the backward sends each
#   chunk's K/V with the previous step's dK/dV in one bf16 message to rank - 1 (the first step K/V
#   only, the last step the previous dK/dV only), each posted before its step's kernel.
# DeepSpeed and XLA: the exposed gather, assumed (not read from their code; DeepSpeed's own
# sequence parallelism, Ulysses, is all-to-all over heads, not modelled).
CP_COMMS = ("allgather", "allgather-overlap", "p2p")
CP_COMM = {"megatron": "p2p", "deepspeed": "allgather", "pytorch-fsdp": "allgather-overlap", "xla": "allgather"}


def cp_comm(stack_code, named_code):
    """Each layout's context-parallel exchange as an index into CP_COMMS: the one it names
    (`named_code` 1 + index), else its stack's (`CP_COMM`)."""
    import numpy as np

    default = by_stack({s: float(CP_COMMS.index(CP_COMM[s])) for s in STACKS}, stack_code)
    return np.where(np.asarray(named_code) > 0, np.asarray(named_code) - 1.0, default)


# HBM bytes a ring moves outside the attention kernels, by exchange (the ring's own code), per
# element of the rank's attention output (query-width terms) or of one of its K and V
# (key/value-width terms, fewer under grouped-query attention), each op one kernel reading its
# inputs and writing its output: (forward per step, forward once per layer, backward per step,
# backward once), each a (query-width, key/value-width) pair; a layer's merges cost cp x per step
# + once.  `MERGE_BYTES_EAGER` op by op, `MERGE_BYTES_FUSED` where the stack compiles them.
# PyTorch's ring attention (`allgather-overlap`; `_SDPAMerger` with `convert_to_f32=True`, and the
# backward's fp32 accumulators), counted from `_templated_ring_attention` and its backward; its
# K and V move at the query heads' width (torchtitan repeats them before SDPA).  Eager:
# forward 38 + 8 = the step's output cast to fp32 (read 2, write 4) + the merge
# `out - sigmoid(block_lse - lse) * (out - block_out)` as three fp32 kernels (8 + 4, 4 + 4,
# 8 + 4; the log-sum-exp terms are per row, 1 / head_dim of this) + the K/V copy for the next send
# (`torch.cat`, read and write 2 + 2 for K and V);
# backward 10 + 50 = the step's bf16 gradients added into the fp32 Q, K and V accumulators (read
# 4 + 2, write 4 each; `_partial_update` adds into half of two of them and concatenates them again:
# 36 on the busiest rank, 26 of it K and V) + the fp32 K/V gradients concatenated for the send
# (read and write 8 + 8) + the K/V copy (8).
# Compiled (`fused=1`: torchtitan compiles each block with fullgraph=True, so the ring is traced
# into the graph, pytorch/pytorch#123276, and inductor fuses each chain of point-wise ops into one
# kernel, writes concatenations in place and drops the unused K/V copies of the gather rotater):
# forward 10 = the step's bf16 output read (2) and the fp32 running output read and written (4 + 4);
# backward 10 + 20 = the three fp32 accumulators read and written with the step's bf16 gradients
# (4 + 2 + 4 each).
# Transformer Engine's P2P ring (`p2p`; `AttnFuncWithCP`, erhoo82/TransformerEngine 23d4acd,
# early 2024, counted op by op for the causal load-balanced bshd case by a helper reading it; rank
# r of cp, averaged over r = (cp - 1) / 2, where PyTorch's counts are the busiest rank's: TE's
# busiest, r = 0, moves about 5% more merge bytes than the average):
# forward, per rank 13 cp + r + 3 query-width (the bf16 output zeroed, 2; the half-query copies
# of steps after r, `.contiguous()`, 2 each; the output corrections after the loop,
# `flash_attn_fwd_out_correction`: a bf16 x fp32 product written in fp32 and added, 14 per full
# step, 11 per half step whose log-sum-exp view stays fp64) and 8 + 4 r key/value-width (the K/V
# packing, `torch.cat`, 8; the half-chunk copies of steps 1..r, 4 each): 13.5 cp + 2.5 and
# 2 cp + 6; the log-sum-exp corrections in fp64 are per row (1 / head dim of this; left out).  The
# two corrections are `jit_fuser` functions, torch.compile'd by default (NVTE_TORCH_COMPILE=1): one
# kernel each, about 6 and 3 instead of 14 and 11: 5.5 cp + 2.5 query-width when fused.
# Backward, the cuDNN path, per rank 9 cp - 3 r - 5 query-width (the q/out/dout half copies, the
# bf16 dq adds) and 20 cp - 6 r + 4 key/value-width (the K/V copy into the send buffer, the dK/dV
# adds in the receive buffer, the `torch.cat` of dk and dv): 7.5 cp - 3.5 and 17 cp + 7, plain
# tensor ops, fused or not.  An exposed gather (`allgather`): one attention call, no merges.
MERGE_BYTES_EAGER = {
    "allgather": ((0, 0), (0, 0), (0, 0), (0, 0)),
    "allgather-overlap": ((38, 8), (0, 0), (10, 50), (0, 0)),
    "p2p": ((13.5, 2), (2.5, 6), (7.5, 17), (-3.5, 7)),
}
MERGE_BYTES_FUSED = {
    "allgather": ((0, 0), (0, 0), (0, 0), (0, 0)),
    "allgather-overlap": ((10, 0), (0, 0), (10, 20), (0, 0)),
    "p2p": ((5.5, 2), (2.5, 6), (7.5, 17), (-3.5, 7)),
}

# ---- MoE layers, by software stack (counted from each stack's code, not fitted) -------------

# How a stack moves tokens to their experts and back.  1: GShard's one-hot dispatch and combine
# einsums (Lepikhin et al. 2020, arXiv:2006.16668, Sec. 2.2 and Algorithm 2: `einsum("GSEC,GSM->
# EGCM")` and back), matmuls of [E C, G] x [G, h] per routing group, what GSPMD/Lingvo (GLaM) and
# DeepSpeed-MoE (`deepspeed/moe/sharded_moe.py`: `einsum("sec,sm->ecm", dispatch_mask, input)`)
# execute; 0: gather/scatter memory passes (Megatron-Core's `permute`/`unpermute` in
# `megatron/core/transformer/moe/moe_utils.py`, MegaBlocks' `padded_gather`/`padded_scatter`,
# Gale et al. 2023, arXiv:2211.15841, Sec. 5.1; Tutel's fast encode/decode kernels, Hwang et al.
# 2023, arXiv:2206.03382, Sec. 3; torch index_select / scatter_add in PyTorch MoE layers).
MOE_EINSUM_DISPATCH = {"megatron": 0.0, "deepspeed": 1.0, "pytorch-fsdp": 0.0, "xla": 1.0}

# Gather/scatter passes per direction when expert parallelism spreads the experts: Megatron-Core's
# all-to-all dispatcher permutes the tokens by expert before the all-to-all and sorts the received
# chunks by local expert after it ("Permutation 2: Sort tokens by local expert",
# `MoEAlltoAllTokenDispatcher` in `megatron/core/transformer/moe/token_dispatcher.py`,
# `sort_chunks_by_idxs`), and mirrors both on the way back: 2 passes with ep > 1 and more than
# one local expert, 1 otherwise.  The other stacks sort once per direction.
MOE_SORT_AFTER_ALLTOALL = {"megatron": 1.0, "deepspeed": 0.0, "pytorch-fsdp": 0.0, "xla": 0.0}

# What an overlapped expert all-to-all (`a2a_overlap=1`) hides behind.  1: the matmuls of another
# microbatch (Megatron-Core's `--overlap-moe-expert-parallel-comm`, `moe_a2a_overlap` in
# Megatron-Bridge's recipes: the forward of one microbatch and the backward of another scheduled
# together, each one's all-to-all under the other's compute, so the whole layer's matmuls are the
# budget); 0: the expert matmuls of the same microbatch (Tutel's adaptive pipelining, Hwang et al.
# 2023, arXiv:2206.03382: the dispatch split into chunks, each chunk's all-to-all overlapping the
# previous chunk's expert computation).
MOE_A2A_OVERLAP_WHOLE_MICROBATCH = {"megatron": 1.0, "deepspeed": 0.0, "pytorch-fsdp": 0.0, "xla": 0.0}

# Streaming multiprocessors DeepEP's dispatch and combine kernels occupy (`a2a_dedup=1`, its
# deduplicating dispatch): 20, DeepEP's own default (`Buffer.num_sms = 20`, deep_ep/buffer.py) and
# Megatron-Core's (`TransformerConfig.moe_deepep_num_sms`, "Number of SMs to use for DeepEP",
# megatron/core/transformer/transformer_config.py; the model zoo's Qwen3-235B config does not set
# it).  While an overlapped all-to-all (`a2a_overlap=1`) runs, the compute beside it has the chip's
# other SMs only: it loses 20 / SMs of its rate for as long as the transfer lasts (H100: 20 of
# 132, 15%), which costs time where the compute outlasts the all-to-all.  NCCL's all-to-all and
# tensor-parallel overlap kernels also take SMs; how many is not in a stored config: not counted.
DEEPEP_SMS = 20.0

# HBM bytes per token and expert of the router's element-wise work, forward: the fp32 logits read
# by the softmax and its probabilities written (4 + 4), read again by top-k and by the
# load-balancing loss (4 + 4): 16 bytes (Switch/GShard routers run in fp32, Fedus et al. 2021,
# arXiv:2101.03961, Sec. 2.4 "selective precision"; Megatron-Core's `moe_router_dtype=fp32`).
MOE_ROUTER_BYTES_PER_EXPERT = 16.0


CALIBRATED = (
    "MATMUL_PEAK_FRACTION",
    "MATMUL_HALF_DIM",
    "ELEMENTWISE_PASSES",
    "LINK_EFFICIENCY",
)
FIXED = ("FP8_TO_16BIT_MATMUL", "WALL_CLOCK_GOODPUT", "KERNEL_SLOT_S")

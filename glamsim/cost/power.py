"""Power per chip from what a step does: the system power model.

power = fixed                                               where a fixed power is known (given --power-w,
                                                            a published measured system power, or TDP x
                                                            fraction with --power-model tdp)
      = min(TDP, idle + compute_w x u_c + memory_w x u_m)   otherwise (--power-model system):
        + host                                              the board, then the host share

u_c is the tensor-core utilisation (FLOPs / (chips x dense peak x time)) and u_m the HBM bandwidth
utilisation (bytes / (chips x bandwidth x time)) of the step, each in [0, 1].  `compute_w` and
`memory_w` are the board watts above idle that full tensor-core and full HBM activity draw
(chip profile fields `compute_power_w`, `memory_power_w`, calibrated on Splitwise's published
phase powers: benchmarks/bench_power.py); the board never exceeds its TDP, as the power limiter
enforces.  So memory-bound decode sits at idle + memory_w x u_m and rises with batch as its
FLOPs grow, and matmul-bound prefill reaches TDP.  The host share is the reference server's
maximum power over its chips less the boards' TDP.  Training uses the same function with u_c =
MFU (its HBM traffic is not modelled: u_m = 0, a lower bound).  Every argument may be an array.
"""

from __future__ import annotations

from glamsim.cost.ops import NP

# the power curve's figures per chip, in `power_w`'s keyword order (cost functions take them as power_<name>)
CURVE = ("idle_w", "tdp_w", "compute_w", "memory_w", "host_w")


def power_w(compute_util, memory_util, fixed_w, idle_w, tdp_w, compute_w, memory_w, host_w, xp=NP):
    """Server-boundary power per chip (W): `fixed_w` where it is a number, else the board,
    min(tdp_w, idle_w + compute_w x compute_util + memory_w x memory_util), plus `host_w`.
    Utilisations are clipped to [0, 1].  `xp`: `glamsim.cost.ops.PY` for one scenario of Python
    floats, `NP` for arrays.  The board alone is this minus `host_w`."""
    active = compute_w * xp.clip(compute_util, 0.0, 1.0) + memory_w * xp.clip(memory_util, 0.0, 1.0)
    board = idle_w + active
    board = xp.where(board > tdp_w, tdp_w, board)  # the power limiter (NaN stays NaN)
    return xp.where(xp.isnan(fixed_w), board + host_w, fixed_w)

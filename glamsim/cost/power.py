"""Power per chip as a function of load: the system power model.

power(load) = fixed                                   where a fixed power is known (given --power-w,
                                                      a published measured system power, or TDP x
                                                      fraction with --power-model tdp_fraction)
            = idle + (TDP - idle) x load + host       otherwise (--power-model system)

`load` is the busy fraction of the chip: in training the end-to-end MFU (predicted or given); in
serving, per phase, the busier of compute (FLOPs / (chips x peak x time)) and HBM (bytes / (chips
x bandwidth x time)).  The board curve is linear from idle to TDP (a documented convention, not a
measurement); the host share is the server's maximum power over its chips minus the boards' TDP
(vendor system specs, e.g. DGX H100 10.2 kW / 8 - 700 W = 575 W).  A chip without an idle figure
draws TDP at every load (an upper bound, said in the ledger); one without a host figure is the
board only.  Every argument may be a numpy array.
"""

from __future__ import annotations

from glamsim.cost.ops import NP


def power_w(load, fixed_w, idle_w, span_w, host_w, xp=NP):
    """Power per chip at `load`: `fixed_w` where it is a number, else idle + span x load + host
    (`xp`: `glamsim.cost.ops.PY` for one scenario of Python floats, `NP` for arrays)."""
    curve = idle_w + span_w * xp.clip(load, 0.0, 1.0) + host_w
    return xp.where(xp.isnan(fixed_w), curve, fixed_w)

"""Predict, don't ask: memory per chip, step time, MFU and HFU from a parallel layout.

numpy only (never JAX).  Modules, one concept each:
`layout` (the Layout and its compact string), `stage` (what one chip holds), `memory` (weights,
gradients, optimizer state, activations; the fit check), `compute` (op classes and matmul
shapes), `tiers` (link tiers and collective times), `collectives` (communication per parallel
dimension), `ring` (context-parallel ring attention: its overlapped K/V exchange and merges),
`steptime` (the breakdown, MFU, HFU), `efficiency` (the few calibrated constants), `estimate`
(one layout), `plan` (the vectorised search), `validation` (published runs), `cpu`
(the CPU check of the real JAX step).
"""

from glamsim.predict.estimate import evaluate, resolve_layout
from glamsim.predict.layout import Layout, check_layout, parse_layout

__all__ = ["Layout", "check_layout", "evaluate", "parse_layout", "resolve_layout"]

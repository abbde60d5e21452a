"""Experiments that train the JAX model and hand their measurements to the cost side as data:
`isoflop` (the IsoFLOP study of issue 26: tiny dense and MoE models at a few compute budgets, the law
fitted to their held-out losses).  This package sits above the trainer and the studies, below the
front door, which reaches it only inside `glamsim.api.isoflop` (JAX loads on that call, never on import).
"""

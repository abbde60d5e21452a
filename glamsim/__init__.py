"""glamsim: what a Mixture-of-Experts language model costs to train and serve, next to a dense one.

The names below are imported on first use, so that `import glamsim.<module>` (the command line,
the dashboard) loads only what that module needs: no numpy for the schemas, no pandas ever.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "Counts": "glamsim.accounting",
    "count": "glamsim.accounting",
    "published_deltas": "glamsim.accounting",
    "ConfigError": "glamsim.config",
    "ModelConfig": "glamsim.config",
    "load_model": "glamsim.config",
    "model_presets": "glamsim.config",
}
__all__ = [
    "ConfigError",
    "Counts",
    "ModelConfig",
    "count",
    "load_model",
    "model_presets",
    "published_deltas",
    "__version__",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

"""glamsim: what a Mixture-of-Experts language model costs to train and serve, next to a dense one.

The names below are imported on first use, so that `import glamsim.<module>` (the command line,
the dashboard) loads only what that module needs: no numpy for the schemas, no pandas ever.
"""

from __future__ import annotations

from glamsim.lazy import lazy_names

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

__getattr__, __dir__ = lazy_names(__name__, _LAZY)

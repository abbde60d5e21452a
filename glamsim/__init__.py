"""glamsim: what a Mixture-of-Experts language model costs to train and serve, next to a dense one."""

from glamsim.accounting import Counts, count, published_deltas
from glamsim.config import ConfigError, ModelConfig, load_model, model_presets

__version__ = "0.1.0"
__all__ = ["ConfigError", "Counts", "ModelConfig", "count", "load_model", "model_presets",
           "published_deltas", "__version__"]

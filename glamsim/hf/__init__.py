"""Hugging Face `config.json` files as `ModelConfig`s: the decoder families people run.

`read(path)` maps a local config.json of GPT-2, GPT-NeoX (Pythia), OPT, Llama 1/2/3, Mistral,
Mixtral, Qwen2, Qwen2-MoE, DeepSeek-MoE, Phi-3 or Gemma onto a `ModelConfig` by its `model_type`,
with one line per mapped field saying what it became (`glamsim count config.json --explain`).
Nothing is downloaded: the file is local.

Every key of the file is accounted for: mapped onto a field, known not to change parameters or
FLOPs (dropout, token ids, norm epsilons, rope scaling, sliding windows...: listed as such), or
refused in one line naming it.  A key that changes the count and that glamsim does not model
(latent attention's `kv_lora_rank`, DeepSeek-V3's `num_nextn_predict_layers`, OPT's
`word_embed_proj_dim` projections, an unknown activation...) is refused, and so is any key this
reader does not know, since it might change the count: never silently ignored.

`glamsim.config.load_model` sends every `.json` path here, so a config.json is accepted wherever a
model is (count, estimate, plan, compare, studies).  A `.json` file without `model_type` that holds
glamsim's own fields (`name`, `n_layers`, ...) is read as a ModelConfig.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from glamsim.architecture import ModelConfig, validate_model
from glamsim.hf.families import FAMILIES, read_dropout
from glamsim.hf.reader import KeyReader
from glamsim.readers import NAME_PATTERN, ConfigError, file_identity, parse_json, read_text, show


@dataclass(frozen=True)
class HFModel:
    """A config.json read as a ModelConfig, with one line per mapped field."""

    config: ModelConfig
    model_type: str
    explanations: tuple[str, ...]


# keys that change neither parameters nor FLOPs per token (training-time noise, token ids,
# numerical epsilons, generation defaults, bookkeeping, how positions are scaled or windowed)
def _name(data: dict, path: str) -> str:
    """A preset-style name: the last part of `_name_or_path`, else the folder of a `config.json`,
    else the file's stem; characters a name cannot hold become '-'."""
    p = Path(path)
    raw = data.get("_name_or_path")
    candidates = [
        raw.rstrip("/").rsplit("/", 1)[-1] if isinstance(raw, str) else "",
        p.resolve().parent.name if p.stem == "config" else p.stem,
        "hf-model",
    ]
    for c in candidates:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", c).lstrip("_.-")[:100]
        if name and re.fullmatch(NAME_PATTERN, name):
            return name
    return "hf-model"


def from_dict(data, where: str, name: str = "hf-model") -> HFModel:
    """Map parsed config.json data onto a ModelConfig (one-line ConfigError when it cannot)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object of fields, got {type(data).__name__}")
    if "model_type" not in data:
        if "n_layers" in data and "name" in data:  # glamsim's own fields, as JSON
            cfg = validate_model(data, where)
            return HFModel(cfg, "glamsim", ("glamsim ModelConfig fields: nothing mapped",))
        raise ConfigError(
            f"{where}: missing field 'model_type': not a Hugging Face config.json "
            f"(known model types: {', '.join(FAMILIES)})"
        )
    mt = data["model_type"]
    if not isinstance(mt, str) or mt not in FAMILIES:
        raise ConfigError(f"{where}: model_type={show(mt)}: not a family glamsim reads; known: {', '.join(FAMILIES)}")
    r = KeyReader(data, where, mt)
    family, read_family = FAMILIES[mt]
    r.lines.append(f"model_type={mt!r}: {family}")
    read_family(r)
    read_dropout(r)
    r.finish()
    fields = {
        "name": name,
        "description": f"Hugging Face config.json ({family}, model_type {mt})",
        "z_loss_weight": 0.0,
        **r.fields,
    }
    if fields.get("n_experts", 0) == 0:
        fields.pop("aux_loss_weight", None)
    try:
        cfg = validate_model(fields, where)
    except ConfigError as err:
        raise ConfigError(_name_hf_field(str(err), where, r.origin)) from None
    return HFModel(cfg, mt, tuple(r.lines))


def _name_hf_field(msg: str, where: str, origin: dict[str, str]) -> str:
    """Add the config.json key a refused glamsim field came from: 'd_model=-8: ... (hidden_size)'."""
    rest = msg.removeprefix(f"{where}: ")
    m = re.match(r"^([A-Za-z_]\w*)=", rest)
    if m and m.group(1) in origin:
        return f"{msg} (from {origin[m.group(1)]} in config.json)"
    return msg


_CACHE: dict[tuple, HFModel] = {}
MAX_CACHED = 256


def read(path: str | Path) -> HFModel:
    """A local config.json as an `HFModel`, parsed once per process while it is unchanged on disk."""
    s = str(path)
    key = file_identity(s)
    hit = _CACHE.get(key) if key is not None else None
    if hit is not None:
        return hit
    text = read_text(s, "hf-config")
    data = parse_json(text, s)
    out = from_dict(data, s, _name(data, s) if isinstance(data, dict) else "hf-model")
    if key is not None:
        if len(_CACHE) >= MAX_CACHED:
            _CACHE.clear()
        _CACHE[key] = out
    return out


def explain(path: str | Path) -> list[str]:
    """One line per mapped field of a config.json (what `glamsim count --explain` prints)."""
    return list(read(path).explanations)

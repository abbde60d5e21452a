"""MkDocs hook: tables generated at build time, so that the docs cannot drift from the code.

- `<!-- scenario-fields: shared|train|serve|quality -->` (docs/scenarios.md) becomes the table of that
  scenario's inputs, units, defaults, sources and ranges, from `glamsim.scenario`.
- `<!-- import-contracts -->` (docs/conventions.md) becomes the layers and the other import
  contracts, from `[tool.importlinter]` in pyproject.toml (what `lint-imports` enforces).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

MARKER = re.compile(r"<!-- scenario-fields: (shared|train|serve|quality) -->")
CONTRACTS = "<!-- import-contracts -->"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _range(meta: dict) -> str:
    b = meta.get("bounds") or {}
    parts = [f"{sym} {b[k]:g}" for k, sym in (("gt", ">"), ("ge", "≥"), ("le", "≤")) if k in b]
    return ", ".join(parts + (["uncertain"] if meta.get("uncertain") else []))


def _table(which: str) -> str:
    from glamsim.cost.quality.scenario import QualityScenario
    from glamsim.scenario import Scenario, ServingScenario, TrainingScenario

    shared = set(Scenario.inputs())
    cls = {"shared": TrainingScenario, "train": TrainingScenario, "serve": ServingScenario}.get(which, QualityScenario)
    names = [n for n in cls.inputs() if cls is QualityScenario or (n in shared) == (which == "shared")]
    rows = ["| field | unit | default | source of the default | range | what |", "|---|---|---|---|---|---|"]
    for n in names:
        meta, default = cls.meta(n), cls.model_fields[n].default
        shown = "–" if default is None else f"`{default}`"
        rows.append(f"| `{n}` | {meta['unit']} | {shown} | {meta['source']} | {_range(meta)} | {meta['help']} |")
    return "\n".join(rows)


def _modules(names) -> str:
    return ", ".join(f"`{n.strip()}`" for n in names)


def _layers(contract: dict) -> list[str]:
    """A layers contract as a table, bottom layer first: each layer's modules, and whether modules
    of one layer may import each other (`a : b`) or are independent (`a | b`)."""
    rows = ["| layer | modules | within the layer |", "|---|---|---|"]
    for i, layer in enumerate(reversed(contract["layers"]), 1):
        parts = re.split(r"\s*([:|])\s*", layer.strip())
        seps = set(parts[1::2])
        if len(seps) > 1:
            raise ValueError(f"pyproject.toml: layer {layer!r} mixes ':' and '|'")
        within = {":": "may import each other", "|": "independent of each other"}.get(next(iter(seps), ""), "")
        rows.append(f"| {i}{' (bottom)' if i == 1 else ''} | {_modules(parts[0::2])} | {within} |")
    return rows


def contracts_markdown(pyproject: Path = PYPROJECT) -> str:
    """Every import-linter contract of pyproject.toml, as Markdown: a table per layers contract
    (bottom first), a line per forbidden contract, and any import a contract lets through."""
    lint = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["importlinter"]
    out = []
    for c in lint["contracts"]:
        if c["type"] == "layers":
            out += [f"**{c['name'].replace('<-', '←')}**", "", *_layers(c), ""]
        elif c["type"] == "forbidden":
            verb = "never imports" if len(c["source_modules"]) == 1 else "never import"
            out += [f"**{c['name']}**: {_modules(c['source_modules'])} {verb} {_modules(c['forbidden_modules'])}.", ""]
        else:
            raise ValueError(f"pyproject.toml: contract type {c['type']!r} is not documented by docs/hooks.py")
        for rule in c.get("ignore_imports", []):
            src, _, dst = rule.partition("->")
            out += [f"Let through by this contract: `{src.strip()}` → `{dst.strip()}`.", ""]
    return "\n".join(out).rstrip() + "\n"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if CONTRACTS in markdown:
        markdown = markdown.replace(CONTRACTS, contracts_markdown())
    return MARKER.sub(lambda m: _table(m.group(1)), markdown)

"""MkDocs hook: the scenario tables of docs/scenarios.md are generated from `glamsim.scenario` at
build time (a marker `<!-- scenario-fields: shared|train|serve -->` becomes the table), so the
documented inputs, units, defaults, sources and ranges cannot drift from the code."""

from __future__ import annotations

import re

MARKER = re.compile(r"<!-- scenario-fields: (shared|train|serve) -->")


def _range(meta: dict) -> str:
    b = meta.get("bounds") or {}
    parts = [f"{sym} {b[k]:g}" for k, sym in (("gt", ">"), ("ge", "≥"), ("le", "≤")) if k in b]
    return ", ".join(parts + (["uncertain"] if meta.get("uncertain") else []))


def _table(which: str) -> str:
    from glamsim.scenario import Scenario, ServingScenario, TrainingScenario

    shared = set(Scenario.inputs())
    cls = {"shared": TrainingScenario, "train": TrainingScenario, "serve": ServingScenario}[which]
    names = [n for n in cls.inputs() if (n in shared) == (which == "shared")]
    rows = ["| field | unit | default | source of the default | range | what |", "|---|---|---|---|---|---|"]
    for n in names:
        meta, default = cls.meta(n), cls.model_fields[n].default
        shown = "–" if default is None else f"`{default}`"
        rows.append(f"| `{n}` | {meta['unit']} | {shown} | {meta['source']} | {_range(meta)} | {meta['help']} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:
    return MARKER.sub(lambda m: _table(m.group(1)), markdown)

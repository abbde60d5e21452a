"""Scripted scaling studies: YAML specs, vectorised sweeps, results, ledgers and figures.

    spec = load_spec("experts-sweep")          # a built-in study, or a path to your YAML
    run = run_study(spec, "runs/experts")      # results.parquet/.csv, ledger.json, figures
    run.results                                # one row per scenario (a DataFrame)

The names below are imported on first use, so that reading a spec does not load pandas.
"""

from __future__ import annotations

from glamsim.lazy import lazy_names

_LAZY = {
    "StudyRun": "glamsim.studies.runner",
    "run_study": "glamsim.studies.runner",
    "COLUMNS": "glamsim.studies.scenario",
    "StudySpec": "glamsim.studies.spec",
    "builtin_studies": "glamsim.studies.spec",
    "load_spec": "glamsim.studies.spec",
    "parse_spec": "glamsim.studies.spec",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)

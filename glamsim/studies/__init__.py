"""Scripted scaling studies: YAML specs, vectorised sweeps, results, ledgers and figures.

    spec = load_spec("experts-sweep")          # a built-in study, or a path to your YAML
    run = run_study(spec, "runs/experts")      # results.parquet/.csv, ledger.json, figures
    run.results                                # one row per scenario (a DataFrame)
"""

from glamsim.studies.runner import StudyRun, run_study
from glamsim.studies.scenario import Scenario
from glamsim.studies.spec import StudySpec, builtin_studies, load_spec, parse_spec

__all__ = ["Scenario", "StudyRun", "StudySpec", "builtin_studies", "load_spec", "parse_spec", "run_study"]

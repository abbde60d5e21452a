"""Test tiers.  `make test` runs everything (CI); `make test-fast` (`pytest -m "not slow"`) leaves out
the modules marked slow here: the JAX model (training, MoE, sharding on faked devices, XLA
measurement), the dashboard under AppTest and a real browser, the notebooks and the docs site.
The fast tier keeps every contract of the cost model and its faces: the one evaluation path
(tests/test_contracts.py), bad inputs of the cost commands and studies, the analytic counts."""

from __future__ import annotations

import os

import pytest

# GNU readline (imported with pdb by pytest) exports LINES and COLUMNS of the terminal into the
# process environment behind os.environ's back; every `glamsim` a test starts would inherit them and
# size its tables for that terminal instead of a pipe.  The commands run as a user pipes them.
for _name in ("COLUMNS", "LINES"):
    os.unsetenv(_name)

SLOW_MODULES = {
    # the JAX model and its measurement
    "test_bad_inputs_model.py",
    "test_measure_run.py",
    "test_measure_xla.py",
    "test_isoflop_run.py",
    "test_model_archs.py",
    "test_model_cli.py",
    "test_model_layers.py",
    "test_model_moe.py",
    "test_model_train.py",
    "test_model_transformer.py",
    "test_moe_dropless.py",
    "test_parallel.py",
    "test_parallel_devices.py",
    "test_predict_devices.py",
    # the dashboard, notebooks and the site
    "test_app_browser.py",
    "test_app_pages.py",
    "test_app_quality.py",
    "test_app_command.py",
    "test_bad_inputs_app.py",
    "test_notebooks.py",
    "test_docs.py",
}


# The longest modules, longest first (seconds of one run on this 2-core machine: 199, 128, 122, 76,
# 75, 63, 61, 53, 50, 47).  pytest-xdist's `--dist loadfile` hands the workers whole files in
# collection order, so a long file collected last (alphabetically: the notebooks, the faked
# devices) keeps one worker busy while the other idles; started first, the short ones fill the gaps.
LONGEST_FIRST = (
    "test_app_browser.py",
    "test_model_archs.py",
    "test_parallel_devices.py",
    "test_notebooks.py",
    "test_model_train.py",
    "test_moe_dropless.py",
    "test_app_pages.py",
    "test_bad_inputs_model.py",
    "test_measure_run.py",
    "test_model_moe.py",
)


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order


@pytest.fixture
def downloads(monkeypatch) -> dict:
    """file name -> the data of every download button the pages draw (CSV, JSON, text)."""
    from streamlit.delta_generator import DeltaGenerator

    got, draw = {}, DeltaGenerator.download_button

    def record(self, label, data, file_name=None, *args, **kwargs):
        got[file_name] = data
        return draw(self, label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", record)
    return got

"""The Python front door: one grid through `glamsim.api` and through the study runner gives the
same frame, and a row's single estimate agrees with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import glamsim.api as gs
from glamsim.config import ConfigError
from glamsim.studies.runner import run_study
from glamsim.studies.spec import parse_spec


def test_a_grid_through_the_front_door_equals_the_study_runners(tmp_path):
    fields = dict(
        model=["glam-8b-64e", "glam-8b-dense"], chip=["tpu-v4", "h100-sxm"], mfu=[0.3, 0.45], chips=256, tokens=1e11
    )
    front = gs.train(grid=True, **fields).frame
    spec = parse_spec(
        {
            "name": "g",
            "title": "g",
            "evaluate": ["training"],
            "base": {"chips": 256, "tokens": 1e11},
            "axes": {"model": fields["model"], "chip": fields["chip"], "mfu": fields["mfu"]},
        },
        "g.yaml",
    )
    study = run_study(spec, tmp_path, progress=False).results
    assert len(front) == len(study) == 8
    shared = [c for c in front.columns if c in study.columns]
    assert {"model", "chip", "mfu", "energy_mwh", "train_days", "cost_usd", "co2e_t"} <= set(shared)
    pd.testing.assert_frame_equal(
        front[shared].reset_index(drop=True), study[shared].reset_index(drop=True), check_dtype=False
    )


def test_lists_zip_scalars_broadcast_and_a_row_has_its_ledger():
    r = gs.serve(model=["glam-64b-64e", "gpt3-175b"], batch=[1, 32], chip="h100-sxm")
    assert list(r.frame["model"]) == ["glam-64b-64e", "gpt3-175b"] and list(r.frame["batch"]) == [1, 32]
    est = r.estimate(1)
    assert est["usd_per_million_tokens"] == pytest.approx(r.frame["usd_per_million_tokens"][1])
    led = {e["name"]: e for e in r.ledger(1)}
    assert led["batch"]["source"] == "user input" and led["batch"]["value"] == 32
    assert "results: 2 scenarios" in repr(r) and "<table" in r._repr_html_()
    with pytest.raises(ConfigError, match="lengths"):
        gs.train(mfu=[0.2, 0.3], chips=[256, 512, 1024])
    with pytest.raises(ConfigError, match="batch"):
        gs.train(batch=8)  # a serving field is not a training one
    assert np.all(gs.train(chips=np.array([256, 512]), mfu=0.3, model="glam-8b-64e").frame["chips"] == [256, 512])

"""The Python front door: one grid through `glamsim.api` and through the study runner gives the
same frame, and a row's single estimate agrees with it."""

from __future__ import annotations

from pathlib import Path

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
    led = r.ledger(1).set_index("name")  # a table: one row per input
    assert led.loc["batch", "source"] == "user input" and led.loc["batch", "value"] == 32
    assert "results: 2 scenarios" in repr(r) and "<table" in r._repr_html_()
    with pytest.raises(ConfigError, match="lengths"):
        gs.train(mfu=[0.2, 0.3], chips=[256, 512, 1024])
    with pytest.raises(ConfigError, match="batch"):
        gs.train(batch=8)  # a serving field is not a training one
    assert np.all(gs.train(chips=np.array([256, 512]), mfu=0.3, model="glam-8b-64e").frame["chips"] == [256, 512])


def test_the_context_used_is_shown_and_is_the_single_estimates():
    r = gs.train(model=["gpt3-175b", "glam-64b-64e", "gpt3-175b"], seq_len=[None, None, 4096], mfu=0.3)
    assert list(r.frame["resolved_seq_len"]) == [2048, 1024, 4096]  # the model's own unless given
    for i in range(3):
        led = dict(zip(r.ledger(i)["name"], r.ledger(i)["value"]))
        assert led["seq_len"] == r.frame["resolved_seq_len"][i]
        assert r.estimate(i).flops_total == pytest.approx(r.frame["flops_total"][i], rel=1e-12)


def test_none_in_a_list_is_that_rows_default_and_given_flops_skip_the_model():
    # GLaM from its architecture and tokens, GPT-3 from its published FLOPs: one call, zipped
    r = gs.train(
        model=["glam-64b-64e", "gpt3-175b"],
        chip=["tpu-v4", "v100"],
        chips=[1024, 10000],
        hours=[1230, 355.2],
        train_flops=[None, np.nan],
        tokens=600e9,
    )
    assert r.frame["train_flops"].isna().all()
    r = gs.train(
        model=["glam-64b-64e", None],  # given FLOPs need no model: as the single estimate, a model is refused
        chip=["tpu-v4", "v100"],
        chips=[1024, 10000],
        hours=[1230, 355.2],
        train_flops=[None, 3.14e23],
    )
    assert r.frame["flops_total"][1] == 3.14e23 and r.frame["flops_total"][0] > 3e23
    for i in range(2):
        assert r.estimate(i).energy_mwh == r.frame["energy_mwh"][i]
    with pytest.raises(
        ConfigError, match=r"^glamsim.api.train: scenario 2: train_flops=3.14e\+23: give train_flops or model"
    ):
        gs.train(model=["glam-64b-64e", "gpt3-175b"], hours=[1230, 355.2], train_flops=[None, 3.14e23])
    grid = gs.train(chip=["tpu-v4", "h100-sxm"], mfu=[None, 0.3], grid=True)
    assert len(grid) == 4 and list(grid.frame["mfu"][1::2]) == [0.3, 0.3] and grid.frame["mfu"][0] != 0.3


def test_a_measured_records_flops_ratio_sets_the_hfu_as_in_the_single_estimate(tmp_path):
    from badinput import tpu_record

    path = str(tpu_record().save(tmp_path / "tpu.json"))
    chip = ["tpu-v4", "h100-sxm", "h100-sxm", "h100-sxm"]
    r = gs.train(measured=path, chip=chip, mfu=[None, 0.3, 0.3, 0.3], hw_flops_ratio=[None, None, 1, 1.2])
    want = [0.42 * 1.05, 0.3 * 1.05, 0.3 * 1.0, 0.3 * 1.2]  # the record's ratio (1.05) unless one is given (1 too)
    assert list(r.frame["hfu"]) == pytest.approx(want)
    for i in range(4):
        est = r.estimate(i)
        assert (est.mfu, est.hfu) == pytest.approx((r.frame["mfu"][i], r.frame["hfu"][i]))


def test_names_and_unchanged_objects_are_accepted_and_ranges_get_a_clear_error():
    import glamsim
    from glamsim.profiles import load_chip

    by_name = gs.train(model="glam-8b-64e", chip="h100-sxm", mfu=0.3).frame
    by_object = gs.train(model=glamsim.load_model("glam-8b-64e"), chip=load_chip("h100-sxm"), mfu=0.3).frame
    pd.testing.assert_frame_equal(by_name, by_object)
    edited = glamsim.load_model("glam-8b-64e").replace(n_experts=32)
    with pytest.raises(ConfigError, match="not a built-in model as it stands"):
        gs.train(model=edited)
    with pytest.raises(ConfigError, match=r"range is for a single estimate.*mfu=\[0.2, 0.3, 0.4\]"):
        gs.train(mfu=(0.2, 0.3, 0.4))
    assert glamsim.published_deltas("gpt3-175b") == glamsim.published_deltas(glamsim.load_model("gpt3-175b"))


def test_short_repr_and_readable_html():
    one = gs.train(mfu=0.3)
    assert repr(one).startswith("<glamsim train results: 1 scenario;") and len(repr(one)) < 200
    html = gs.train(model=["glam-64b-64e", "gpt3-175b"], mfu=0.3, label=["GLaM", "GPT-3"])._repr_html_()
    assert "1.162T" in html and "174.6B" in html and "1,024" in html  # parameters in B/T, chips as integers
    assert "GLaM" in html and "GPT-3" in html


def test_hours_faster_than_the_peak_are_refused_as_in_the_single_estimate():
    """GPT-3's published 355.2 hours on 1,024 V100s (not its 10,000) would need MFU 3.95: refused
    in one line naming the hours and the scenario, like `estimate_training`."""
    from glamsim.config import ConfigError

    with pytest.raises(ConfigError) as err:
        gs.train(model="gpt3-175b", chip="v100", chips=[10000, 1024], hours=355.2)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("hours=355.2: implies MFU 3.9") and "scenario 2" in msg
    assert gs.train(model="gpt3-175b", chip="v100", chips=10000, hours=355.2).frame["mfu"].iloc[0] < 1


def test_a_profile_read_from_a_user_file_is_that_file_wherever_the_call_runs(tmp_path, monkeypatch):
    """A chip read from the user's folder keeps its path: the front door does not re-read a same-named
    file from the working folder (an A100 profile named like the user's renamed H100 here)."""
    from glamsim.config import ConfigError
    from glamsim.cost import estimate_training
    from glamsim.profiles import load_chip

    (tmp_path / "mine").mkdir()
    (tmp_path / "other").mkdir()
    shipped = Path(__file__).resolve().parent.parent / "hardware_profiles" / "chips"
    for folder, chip in (("mine", "h100-sxm"), ("other", "a100-80gb")):
        text = (shipped / f"{chip}.yaml").read_text().replace(f"name: {chip}", "name: mychip", 1)
        (tmp_path / folder / "mychip.yaml").write_text(text)
    c = load_chip(str(tmp_path / "mine" / "mychip.yaml"))
    monkeypatch.chdir(tmp_path / "other")
    one = estimate_training(chip=c, mfu=0.3).energy_mwh
    assert gs.train(chip=c, mfu=0.3).frame["energy_mwh"].iloc[0] == pytest.approx(one)
    with pytest.raises(ConfigError, match="not a built-in chip as it stands"):
        gs.train(chip=c.model_copy(update={"description": "edited"}))


def test_the_frame_keeps_the_typed_mfu_and_reports_the_wall_clock_one():
    """With exposed communication the frame's `mfu` stays the typed 0.3 (so row 0 re-estimates to the
    same energy) and `mfu_effective` is lower; studies refuse what the single estimate refuses."""
    from glamsim.config import ConfigError

    r = gs.train(model="glam-64b-64e", chips=1024, mfu=0.3, comm_overlap=0.5)
    assert r.frame["mfu"].iloc[0] == 0.3 and r.frame["mfu_effective"].iloc[0] < 0.3
    assert r.estimate(0).energy_mwh == pytest.approx(r.frame["energy_mwh"].iloc[0])
    for bad, start in (
        (dict(model="gpt3-175b", chips=1024, tokens=3e11, mfu=0.6, hw_flops_ratio=1.8), "hw_flops_ratio=1.8:"),
        (dict(train_flops=3.14e23, chips=1024, mfu=0.3, comm_overlap=0.5), "comm_overlap=0.5:"),
    ):
        with pytest.raises(ConfigError) as err:
            gs.train(**bad)
        assert str(err.value).startswith(start) and "\n" not in str(err.value)

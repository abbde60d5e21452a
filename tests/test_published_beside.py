"""A training estimate beside the published run of its model (gs.beside_published, the Home page's
table): the published figures are the papers', the estimate's the front door's, and the reason is the
estimate's own ledger entry."""

from __future__ import annotations

import pytest

import glamsim.api as gs


def test_glam_beside_its_published_run():
    df = gs.beside_published("glam-64b-64e")
    got = df.set_index("name")
    assert df.attrs["run"] == "glam-600b"
    assert got.loc["mfu", "published"] == 0.285  # Du et al. 2022, Sec. 6 (implied by 280B tokens in 574 h)
    assert got.loc["energy_mwh", "published"] == 456  # Du et al. 2022, Table 1
    assert got.loc["co2e_t", "published"] == 40.2  # Du et al. 2022, Sec. 6
    assert got.loc["train_days", "published"] == pytest.approx(574 * 600 / 280 / 24)  # 574 h for 280B of 600B tokens
    assert got.loc["pue", "published"] == 1.11 and got.loc["power_w", "published"] == 326
    assert "Table 1" in got.loc["energy_mwh", "source"]

    row = gs.train(model="glam-64b-64e")
    frame = row.frame.iloc[0]
    for k in ("mfu", "train_days", "energy_mwh", "co2e_t"):
        assert got.loc[k, "estimate"] == pytest.approx(frame[k], rel=1e-12)
    ledger = row.ledger(0).set_index("name")
    assert df.attrs["why"] == ledger.loc["published_run", "source"]
    assert "MFU 0.285 published" in df.attrs["why"]
    # the default datacenter is not the paper's Oklahoma one: its PUE and carbon intensity differ
    assert f"pue {ledger.loc['pue', 'value']:g} here, 1.11 in the run" in df.attrs["differs"]
    assert not any(line.startswith(("chips", "tokens", "power_w")) for line in df.attrs["differs"])


def test_a_typed_mfu_has_no_layout_to_explain_and_other_inputs_are_named():
    df = gs.beside_published("gpt3-175b", mfu=0.3)
    got = df.set_index("name")
    assert df.attrs["run"] == "gpt3" and df.attrs["why"] is None
    assert got.loc["energy_mwh", "published"] == 1287  # Patterson et al. 2021, Table 4
    assert got.loc["train_days", "published"] == pytest.approx(14.8)
    assert got.loc["mfu", "published"] is None
    assert "chips 1,024 here, 10,000 in the run" in df.attrs["differs"]
    assert "chip tpu-v4 here, v100 in the run" in df.attrs["differs"]


def test_a_model_without_a_published_run():
    df = gs.beside_published("glam-tiny", mfu=0.3, tokens=1e9, chips=8)
    assert df.attrs["run"] is None and df.empty

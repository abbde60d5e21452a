"""Embodied carbon of the boards and of their share of the host server, by hand."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest

from glamsim.cost import estimate_serving, estimate_training
from glamsim.profiles import load_chip


def test_training_embodied_is_board_plus_host_share_per_chip_hour():
    """A100 80 GB: BLOOM's 150 kg per GPU and 2,500 kg per 8-GPU host (312.5 per GPU), over 4 years
    x 8760 h at utilisation 0.5."""
    e = estimate_training(train_flops=1e22, chip="a100-80gb", chips=8, mfu=0.4, chip_lifetime_utilisation=0.5)
    hours = 4 * 8760 * 0.5
    assert e.embodied_boards_co2e_t == pytest.approx(e.chip_hours * 150 / hours / 1e3)
    assert e.embodied_host_co2e_t == pytest.approx(e.chip_hours * 312.5 / hours / 1e3)
    assert e.embodied_co2e_t == pytest.approx(e.chip_hours * 462.5 / hours / 1e3)
    assert e.ledger["host_embodied_kg_per_chip_hour"].value == pytest.approx(312.5 / hours)
    assert "BLOOM" in e.ledger["host_embodied_kgco2e"].source


def test_serving_embodied_per_million_tokens_is_board_plus_host():
    s = estimate_serving(model="gpt3-175b", chip="h100-sxm", chips=8, batch=16)
    chip_hours = s["serving_chips_used"] * s["decode_step_s"] / 16 * 1e6 / 3600  # per 1M tokens, busy all the time
    per_hour = 1 / (4 * 8760)
    assert s["embodied_boards_kgco2e_per_million_tokens"] == pytest.approx(chip_hours * 164 * per_hour)
    assert s["embodied_host_kgco2e_per_million_tokens"] == pytest.approx(chip_hours * 312.5 * per_hour)
    assert s["embodied_kgco2e_per_million_tokens"] == pytest.approx(chip_hours * (164 + 312.5) * per_hour)


def test_every_chip_profile_has_a_host_footprint_sourced_or_labelled_an_estimate():
    for path in glob.glob(str(Path(load_chip("h100-sxm").origin).parent / "*.yaml")):
        spec = load_chip(Path(path).stem).host_embodied_kgco2e
        assert spec is not None and spec.value > 0, path
        assert spec.source.startswith(("derived:", "estimate (glamsim)")), path


def test_a_chip_without_a_board_footprint_has_no_total_but_its_host_share():
    e = estimate_training(train_flops=1e22, chip="h200", chips=8, mfu=0.4)
    assert np.isnan(e.embodied_boards_co2e_t) and np.isnan(e.embodied_co2e_t)
    assert e.embodied_host_co2e_t == pytest.approx(e.chip_hours * 312.5 / (4 * 8760) / 1e3)

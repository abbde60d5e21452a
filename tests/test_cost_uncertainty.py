"""Uncertain inputs: output ranges over low/high corners and the tornado ranking, by hand."""

import pytest

from glamsim.config import ConfigError
from glamsim.cost.training import estimate_training
from glamsim.uncertain import parse_uncertain


def test_ranges_and_tornado_by_hand():
    # energy = FLOPs / (peak x mfu) / 3600 x power x pue / 1e6, cost = chip-hours x price
    flops, peak = 1e22, 2.75e14
    e = estimate_training(
        train_flops=flops,
        chip="tpu-v4",
        chips=64,
        mfu=(0.2, 0.4, 0.5),
        power_w=(300, 326, 400),
        pue=(1.1, 1.11, 1.2),
        price_per_chip_hour_usd=(1, 3, 4),
    )

    def energy(mfu, power, pue):
        return flops / (peak * mfu) / 3600 * power * pue / 1e6

    assert e.energy_mwh == pytest.approx(energy(0.4, 326, 1.11))
    assert e.ranges["energy_mwh"] == pytest.approx((energy(0.5, 300, 1.1), energy(0.2, 400, 1.2)))
    assert e.ranges["cost_usd"] == pytest.approx((flops / (peak * 0.5) / 3600 * 1, flops / (peak * 0.2) / 3600 * 4))
    rows = {r["input"]: r for r in e.tornado}
    assert rows["mfu"]["energy_mwh_swing"] == pytest.approx(energy(0.2, 326, 1.11) - energy(0.5, 326, 1.11))
    assert rows["pue"]["energy_mwh_swing"] == pytest.approx(energy(0.4, 326, 1.2) - energy(0.4, 326, 1.1))
    assert rows["price_per_chip_hour_usd"]["energy_mwh_swing"] == 0
    # swings relative to nominal energy: mfu 1.2, power 0.31, pue 0.09, price 0; cost: mfu 9 vs price 7.5 units
    assert [r["input"] for r in e.tornado][:2] == ["mfu", "power_w"]
    assert rows["price_per_chip_hour_usd"]["rank_cost_usd"] == 2 and rows["mfu"]["rank_cost_usd"] == 1
    assert rows["pue"]["rank_energy_mwh"] == 3


def test_certain_inputs_give_no_ranges():
    e = estimate_training(train_flops=1e22, chip="tpu-v4", chips=64, mfu=0.4)
    assert e.ranges == {} and e.tornado == []


@pytest.mark.parametrize("text, expect", [("0.4", 0.4), ("0.3,0.4,0.5", (0.3, 0.4, 0.5))])
def test_parse_uncertain(text, expect):
    assert parse_uncertain(text, "mfu") == expect


@pytest.mark.parametrize("text", ["0.5,0.4,0.6", "0.3,0.4", "abc"])
def test_parse_uncertain_refuses(text):
    with pytest.raises(ConfigError, match="mfu="):
        parse_uncertain(text, "mfu")

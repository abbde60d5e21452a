"""The Equal quality dashboard page under Streamlit's AppTest: its options table, cards and chart are
`glamsim.api.quality`'s for the same inputs, and a bad target is refused in one line."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import glamsim.api as gs
from glamsim.outputs import format_value

ROOT = Path(__file__).resolve().parents[1]
PAGE = "pages/7_Equal_quality.py"
sys.path.insert(0, str(ROOT / "app"))  # `import ui`, as `streamlit run app/Home.py` does


def open_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=90)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_page_shows_the_front_door_plan_for_the_same_inputs(downloads):
    at = open_page()
    at.multiselect(key="q_experts").set_value([8, 64]).run()
    at.selectbox(key="q_chip").set_value("a100-80gb").run()
    at.number_input(key="q_served_tokens").set_value(5e12).run()
    assert not at.exception, at.exception
    want = gs.quality(
        as_good_as="gpt3-175b",
        tokens=300e9,
        experts=[8, 64],
        chip="a100-80gb",
        served_tokens=5e12,
    )
    table = at.dataframe[0].value
    assert list(table.columns[1:4]) == ["dense", "MoE 8 experts", "MoE 64 experts"]
    by_label = table.set_index("quantity")
    for r in want.to_dict(orient="records"):
        col = by_label[r["option"]]
        assert col["training tokens"] == format_value("tokens", r["tokens"])
        assert col["parameters activated per token"] == format_value("params_active", r["params_active"])
        assert col["training cost (USD)"].startswith(format_value("train_cost_usd", r["train_cost_usd"]) + " (")
        assert col["training cost (USD)"].endswith(format_value("train_cost_usd", r["train_cost_high_usd"]) + ")")
        assert col["lifetime cost (USD)"] == format_value("total_cost_usd", r["total_cost_usd"])
        x = r["crossover_served_tokens"]
        shown = col["crossover with dense (served tokens)"]
        assert shown == format_value("crossover_served_tokens", x) if math.isfinite(x) else shown in ("", "-", "–")
    best = want.sort_values("total_cost_usd").iloc[0]
    cards = {m.label: m.value for m in at.metric}
    assert cards["cheapest over 5T served tokens"] == best["option"]
    # the download carries every number of the plan and its ledger
    payload = json.loads(downloads["equal-quality.json"])
    got = {r["option"]: r for r in payload["rows"]}
    for r in want.to_dict(orient="records"):
        assert got[r["option"]]["total_cost_usd"] == pytest.approx(r["total_cost_usd"], rel=1e-12)
        assert got[r["option"]]["crossover_served_tokens"] == (
            pytest.approx(r["crossover_served_tokens"], rel=1e-12)
            if math.isfinite(r["crossover_served_tokens"])
            else None
        )
    assert {e["name"] for e in payload["ledger"]} >= {"target_loss", "chinchilla.alpha", "clark-sbase.E_max"}
    # the chart: each option's lifetime cost line passes through the plan's lifetime cost at its served tokens
    import pyarrow as pa

    data = pa.ipc.open_stream(at.get("vega_lite_chart")[0].proto.data.data).read_pandas()  # the chart's own rows
    at_served = data[data["served_tokens"] == 5e12].set_index("series")["total_cost_usd"]
    for r in want.to_dict(orient="records"):
        name = r["option"] + (" (dense baseline)" if r["n_experts"] == 0 else "")
        assert at_served[name] == pytest.approx(r["total_cost_usd"], rel=1e-9)


def test_a_target_below_the_irreducible_loss_is_refused_in_one_line():
    at = open_page()
    at.radio(key="q_mode").set_value("target_loss").run()
    at.number_input(key="q_target_loss").set_value(1.5).run()
    assert not at.exception
    assert [e.value for e in at.error] and "irreducible loss E=1.69" in at.error[0].value
    assert "\n" not in at.error[0].value

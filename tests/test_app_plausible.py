"""Unit slips on the dashboard (issue 25): the front door's plausibility rules (`glamsim.plausible`)
as one `st.warning` each beside the result, naming the widget; and the training page's regions
table equal, cell for cell, to what `glamsim estimate train --regions` prints for the same run."""

from __future__ import annotations

import pytest
from test_app_pages import open_page
from typer.testing import CliRunner

from glamsim.cli import app
from glamsim.plausible import plausibility
from glamsim.scenario import ServingScenario, TrainingScenario

CHIP = TrainingScenario.model_fields["chip"].default
DC = TrainingScenario.model_fields["datacenter"].default


def warnings_shown(at) -> list[str]:
    return [w.value.replace("\\", "") for w in at.warning]


def words(field: str, value: float) -> str:
    """What the rule says after `field=` (the front door's own line)."""
    (line,) = plausibility({field: value})
    return line.split("=", 1)[1]


@pytest.mark.parametrize(
    ("key", "value", "field", "widget"),
    [
        (f"t_power_{CHIP}", 2.0, "power_w", "Power per chip (W)"),
        (f"t_ci_{DC}", 365.0, "carbon_intensity_kg_per_kwh", "Carbon intensity (kgCO2e/kWh)"),
    ],
)
def test_training_page_warns_of_a_unit_slip_naming_the_widget_and_still_shows_the_result(key, value, field, widget):
    at = open_page("training")
    assert warnings_shown(at) == []  # the defaults are plausible
    at.number_input(key=key).set_value(value).run()
    assert not at.exception and not at.error
    assert warnings_shown(at) == [f"*{widget}* = {words(field, value)}"]
    assert len(at.metric) >= 5  # the estimate is still shown, as asked


def test_serving_page_warns_for_its_own_widget_and_a_more_inputs_field():
    at = open_page("serving")
    chip = ServingScenario.model_fields["chip"].default
    at.number_input(key=f"s_power_{chip}").set_value(6000.0).run()
    at.number_input(key="s_carbon_intensity_kg_per_kwh").set_value(400.0).run()
    assert not at.exception and not at.error
    assert warnings_shown(at) == [
        f"*carbon intensity (kgCO2e/kWh)* = {words('carbon_intensity_kg_per_kwh', 400)}",
        f"*Power per chip (W)* = {words('power_w', 6000)}",
    ]
    assert len(at.metric) >= 3


def test_equal_quality_page_warns_of_training_tokens_under_a_million():
    at = open_page("quality")
    at.number_input(key="q_tokens").set_value(300.0).run()
    assert not at.exception
    assert f"*Its training tokens* = {words('tokens', 300)}" in warnings_shown(at)


def test_training_pages_regions_table_is_what_the_command_line_prints():
    at = open_page("training")
    at.number_input(key="t_chips").set_value(512).run()
    at.checkbox(key="t_show_regions").check().run()
    assert not at.exception, at.exception
    shown = next(d.value for d in at.dataframe if "region" in d.value.columns)
    args = ["estimate", "train", "--chips", "512", "--mfu", "0.3", "--regions"]
    r = CliRunner().invoke(app, args, env={"COLUMNS": "400"})  # wide enough that no cell folds
    assert r.exit_code == 0, r.stderr
    printed = {}
    for line in r.stdout.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == len(shown.columns) and cells[0] in set(shown["datacenter"]):
            printed[cells[0]] = cells
    assert len(printed) == len(shown)  # every datacenter, each on one line
    for row in shown.to_dict("records"):
        assert printed[row["datacenter"]] == [str(v) for v in row.values()], row["datacenter"]
    assert list(printed) == list(shown["datacenter"])  # the same order: lowest carbon first

"""Every scenario field reaches every face: the command line, the dashboard, the study axes and the
Python front door.  A field added to `glamsim.scenario` and forgotten by a face fails here."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import typer
import typer.testing
from streamlit.testing.v1 import AppTest

import glamsim.api as gs
from glamsim.cli import app
from glamsim.config import ConfigError
from glamsim.scenario import SCENARIOS, ServingScenario, TrainingScenario
from glamsim.studies.scenario import COLUMNS, origin

PAGES = {"train": Path("app/pages/1_Training_what-if.py"), "serve": Path("app/pages/2_Serving_what-if.py")}
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "app"))  # `import ui`, as `streamlit run app/Home.py` does


@pytest.mark.parametrize("kind", ["train", "serve"])
def test_every_field_is_a_command_line_option(kind):
    group = typer.main.get_command(app).commands["estimate"]
    options = {o for p in group.commands[kind].params for o in p.opts}
    missing = [f for f in SCENARIOS[kind].inputs() if "--" + f.replace("_", "-") not in options]
    assert not missing, f"estimate {kind} lacks options for {missing}"


def test_every_field_is_a_study_column():
    for cls in (TrainingScenario, ServingScenario):
        for name in cls.inputs():
            col = f"serving_{name}" if cls is ServingScenario and name in ("chips", "mfu", "expert_parallel") else name
            assert col in COLUMNS, (cls.__name__, name)
            assert origin(col) == (cls, name) or name in TrainingScenario.model_fields, col


@pytest.mark.parametrize("kind", ["train", "serve"])
def test_every_field_is_a_front_door_keyword(kind):
    cls = SCENARIOS[kind]
    defaults = {n: cls.model_fields[n].default for n in cls.inputs() if cls.model_fields[n].default is not None}
    r = gs.evaluate(kind, **{k: v for k, v in defaults.items() if k != "measured"})
    assert len(r) == 1 and set(cls.inputs()) <= set(r.frame.columns)


def _page_map(path: Path) -> dict:
    tree = ast.parse((ROOT / path).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "ON_PAGE":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} declares no ON_PAGE")


def _widget_keys(at: AppTest) -> set[str]:
    keys = set()
    for kind in ("number_input", "selectbox", "slider", "checkbox", "text_input", "radio", "multiselect"):
        keys |= {w.key for w in at.get(kind) if w.key}
    return keys


@pytest.mark.parametrize("kind", ["train", "serve"])
def test_every_field_is_a_dashboard_input(kind):
    on_page = _page_map(PAGES[kind])
    fields = SCENARIOS[kind].inputs()
    assert set(on_page) <= set(fields), set(on_page) - set(fields)
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=60).run()
    at.switch_page(str(PAGES[kind].relative_to("app"))).run()
    assert not at.exception
    keys = _widget_keys(at)
    prefix = "t" if kind == "train" else "s"
    for name in fields:
        want = on_page.get(name, f"{prefix}_{name}")  # not on the page: in the "more inputs" expander
        if want is None:
            continue  # from the Measure page's record (tested in test_app_pages)
        assert any(k == want or (want.endswith("_") and k.startswith(want)) for k in keys), (name, want)


# ---- the Python face as a person reads it (issue 25, item 6) ---------------------------------


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("tokens", 600, "tokens=600: under a million"),
        ("carbon_intensity_kg_per_kwh", 365, "carbon_intensity_kg_per_kwh=365: above 2"),
        ("power_w", 0.7, "power_w=0.7: outside 10 W to 5 kW"),
        ("power_w", [300, 9000], "power_w=9000: outside 10 W to 5 kW"),
    ],
)
def test_a_unit_slip_gets_a_plausibility_warning(field, value, words):
    with pytest.warns(gs.PlausibilityWarning, match=words):
        r = gs.train(**{field: value}, mfu=0.3)
    assert len(r)  # answered as asked


def test_plausible_inputs_warn_nothing():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", gs.PlausibilityWarning)
        gs.train(tokens=6e11, carbon_intensity_kg_per_kwh=0.365, power_w=[300, 700], mfu=0.3)


@pytest.mark.parametrize("field", ["mfu", "mbu"])
def test_an_mfu_in_percent_is_refused_with_the_fraction_it_meant(field):
    kind = gs.train if field == "mfu" else gs.serve
    with pytest.raises(ConfigError, match=rf"{field}=30: a fraction from 0 to 1; 30% is {field}=0.3"):
        kind(**{field: 30})


@pytest.mark.parametrize(
    ("field", "typo", "meant"),
    [
        ("chip", "h100-sxn", "h100-sxm"),
        ("model", "glam-64b-64x", "glam-64b-64e"),
        ("datacenter", "us-ai-datacentre", "us-ai-datacenter"),
    ],
)
def test_a_misspelt_name_gets_did_you_mean(field, typo, meant):
    with pytest.raises(ConfigError, match=f"did you mean '{meant}'"):
        gs.train(**{field: typo})
    got = typer.testing.CliRunner().invoke(app, ["estimate", "train", f"--{field}", typo])
    assert got.exit_code == 2 and f"did you mean '{meant}'" in got.output


def test_results_html_shows_headline_outputs_first_and_the_ledger_is_a_frame():
    r = gs.train(chip=["tpu-v4", "h100-sxm"], mfu=0.3)
    assert r.shown_columns()[:5] == ["label", "train_days", "energy_mwh", "co2e_t", "cost_usd"]
    html = r._repr_html_()
    assert html.index("train_days") < html.index("power_model") and html.index("energy_mwh") < html.index(">chip<")
    led = r.ledger(1)
    assert list(led.columns) == ["name", "value", "unit", "source"]
    assert "h100-sxm" in led.set_index("name").loc["peak_flops", "source"]


def test_notebook_charts_render_offline():
    """Every notebook switches to the offline renderer before its first chart, and a glamsim chart
    drawn under it is an SVG, with no script to fetch (the default loads Vega from a CDN)."""
    import json

    import altair as alt
    import pandas as pd

    from glamsim import plots

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        code = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        first_chart = next(i for i, src in enumerate(code) if "plots.plot_" in src or "display(" in src)
        assert any("plots.offline_charts()" in src for src in code[: first_chart + 1]), path.name
    before = alt.renderers.active
    try:
        plots.offline_charts()
        df = pd.DataFrame({"batch": [1, 2, 4], "usd_per_million_tokens": [3.0, 2.0, 1.5], "model": ["m"] * 3})
        bundle = plots.plot_sweep(df, x="batch", y=["usd_per_million_tokens"], hue="model")._repr_mimebundle_()
        bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    finally:
        alt.renderers.enable(before)
    assert set(bundle) == {"image/svg+xml"} and bundle["image/svg+xml"].lstrip().startswith("<svg")
    assert "<script" not in bundle["image/svg+xml"]  # nothing to fetch, nothing to run

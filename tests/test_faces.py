"""Every scenario field reaches every face: the command line, the dashboard, the study axes and the
Python front door.  A field added to `glamsim.scenario` and forgotten by a face fails here."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import typer
from streamlit.testing.v1 import AppTest

import glamsim.api as gs
from glamsim.cli import app
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

"""Honest, consistent display (issue 25, item 3) on the training page and in the estimate's warnings:
one communication story with a predicted layout, one HFU with its definition, the published run's
MFU beside the predicted one, and no stray Python values in the page."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from glamsim.config import load_model
from glamsim.cost import estimate_training
from glamsim.outputs import format_value, label

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))


@pytest.fixture(scope="module")
def predicted() -> AppTest:
    """The training page as it opens: GLaM 64B/64E on 1,024 TPU v4, MFU predicted from the layout."""
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/1_Training_what-if.py").run()
    assert not at.exception and not at.error
    return at


def rows(at: AppTest):
    return at.dataframe[0].value.set_index("quantity")


def test_one_hfu_per_run_with_its_definition(predicted):
    est = estimate_training()  # the page's defaults: the predicted layout sets the HFU
    cards = {m.label: m.value for m in predicted.metric}
    assert cards["Predicted HFU"] == f"{est.prediction['hfu']:.3f}"
    assert rows(predicted).loc[label("hfu"), "glam-64b-64e"] == format_value("hfu", est.hfu)
    assert est.hfu == pytest.approx(est.prediction["hfu"])  # the table's HFU is the layout's, not another
    assert any("HFU: the FLOPs the chips execute" in c.value and "below the MFU" in c.value for c in predicted.caption)


def test_communication_is_what_the_predicted_layout_exposes(predicted):
    est = estimate_training()
    p = est.prediction
    exposed = sum(v for k, v in p["breakdown"].items() if k.endswith("_exposed_s"))
    t = rows(predicted)
    # the cost model tells the layout's story on every face: its exposed time, inside the hours
    assert est.layout_comm_exposed_hours == pytest.approx(est.train_hours * exposed / p["step_s"])
    assert t.loc[label("layout_comm_exposed_hours"), "glam-64b-64e"] == format_value(
        "layout_comm_exposed_hours", est.layout_comm_exposed_hours
    )
    assert t.loc[label("comm_hours"), "glam-64b-64e"] == "-"  # no second, contradicting total
    assert t.loc[label("comm_exposed_hours"), "glam-64b-64e"] == "0"  # nothing charged on top of the MFU
    assert any("what that layout exposes" in c.value for c in predicted.caption)


def test_no_advice_that_counts_communication_twice():
    # H100 x 2,048: the cost model's own all-to-all estimate exceeds the compute time, but the predicted
    # MFU already includes what the layout exposes: no "give --comm-overlap < 1" advice
    assert not [w for w in estimate_training(chip="h100-sxm", chips=2048).warnings if "comm-overlap" in w]
    typed = estimate_training(chip="h100-sxm", chips=2048, mfu=0.3)  # a typed MFU: the advice stays
    assert any("comm-overlap" in w for w in typed.warnings)


def test_the_published_runs_mfu_stands_beside_the_predicted_one(predicted):
    cards = {m.label: m.value for m in predicted.metric}
    assert cards["Published run's MFU"] == "0.285"  # GLaM on 1,024 TPU v4 (Du et al. 2022), in the ledger
    source = estimate_training().ledger["published_run"].source
    assert source.startswith("published run glam_v4")
    assert any("glam\\_v4" in i.value or "glam_v4" in i.value for i in predicted.info)


def test_a_typed_mfu_prints_no_stray_none(predicted):
    predicted.radio(key="t_mfu_mode").set_value("typed").run()
    assert not predicted.exception
    texts = [m.value for m in predicted.markdown] + [c.value for c in predicted.caption]
    assert not [t for t in texts if "None" in t], "a Python value printed by Streamlit's magic"
    assert "Predicted HFU" not in {m.label for m in predicted.metric}
    predicted.radio(key="t_mfu_mode").set_value("predicted").run()


def test_layouts_that_fit_for_every_model_and_one_to_use():
    """Issue 25, item 2: the planner's ranked layouts for the main, baseline and compared models, with
    memory and time breakdowns (as glamsim.api.layouts), and the main model's pick used by the estimate."""
    import glamsim.api as gs

    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/1_Training_what-if.py").run()
    at.multiselect(key="t_compare").set_value(["glam-8b-64e"])
    at.checkbox(key="t_show_layouts").check().run()
    assert not at.exception and not at.error
    tabs = [t.label for t in at.tabs if any(type(k).__name__ == "Dataframe" for k in t.children.values())]
    assert tabs == ["glam-64b-64e", "gpt3-175b", "glam-8b-64e"]  # one tab of layouts per model
    for name in ("glam-64b-64e", "gpt3-175b", "glam-8b-64e"):
        want = gs.layouts(name, "tpu-v4", 1024, top=8)
        got = next(
            df.value for df in at.dataframe if "layout" in df.value and list(df.value["layout"]) == list(want["layout"])
        )
        assert "memory per chip (GB)" in got and "weights (GB)" in got and "compute" in got
    # software keys under More inputs reach the search, as `glamsim plan --software`
    keys = "stack=pytorch-fsdp,fused=1"
    at.text_input(key="t_software").set_value(keys).run()
    assert not at.exception and not at.error
    want = list(gs.layouts("glam-64b-64e", "tpu-v4", 1024, top=8, software=keys)["layout"])
    assert "stack=pytorch-fsdp" in want[0]
    assert any(list(df.value["layout"]) == want for df in at.dataframe if "layout" in df.value)
    second = want[1]
    at.selectbox(key="t_layout_pick").set_value(second).run()
    at.button(key="t_layout_use").click().run()
    assert not at.exception and not at.error
    assert at.text_input(key="t_layout").value == second and not at.text_input(key="t_software").value
    shown = [m.value for m in at.markdown if m.value.startswith("Layout: `")]
    assert shown and second.split(",")[0] in shown[0]


def test_a_published_run_in_another_precision_names_its_peak_on_the_card():
    """Llama 2 7B on 8 H100 in bf16 beside NeMo's fp8 run: the card shows 776 / 1,979 = 0.392 and
    says it is of the fp8 peak; GLaM's note (same precision) keeps the plain label."""
    from ui_results import published_mfu_cards

    note = estimate_training(model=load_model("llama-2-7b"), tokens=1e9, chip="h100-sxm", chips=8).ledger
    assert published_mfu_cards(note["published_run"].source) == [
        {"label": "Published run's MFU (fp8 peak)", "value": f"{776 / 1979:.3f}"}
    ]
    glam = estimate_training().ledger["published_run"].source
    assert published_mfu_cards(glam) == [{"label": "Published run's MFU", "value": "0.285"}]
    assert published_mfu_cards(None) == []

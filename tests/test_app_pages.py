"""Every dashboard page under Streamlit's AppTest: the numbers shown equal what the glamsim API returns
for the same inputs, uploads are validated, random widget values never crash a page, the cost pages
never import JAX, and a tiny measurement carries into the training what-if."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from glamsim.accounting import count
from glamsim.config import data_dir, load_model
from glamsim.cost import estimate_serving, estimate_training
from glamsim.cost.report import num
from glamsim.cost.reproduce import reproduce
from glamsim.formatting import fmt
from glamsim.outputs import format_value, label
from glamsim.profiles import load_chip
from glamsim.scenario import ServingScenario, TrainingScenario
from glamsim.studies import builtin_studies

ROOT = Path(__file__).resolve().parents[1]
HOME = str(ROOT / "app" / "Home.py")
PAGES = {
    "training": "pages/1_Training_what-if.py",
    "serving": "pages/2_Serving_what-if.py",
    "scaling": "pages/3_Scaling_explorer.py",
    "measure": "pages/4_Measure_here.py",
    "paper": "pages/5_Paper_check.py",
    "profiles": "pages/6_Profiles.py",
    "quality": "pages/7_Equal_quality.py",
}
sys.path.insert(0, str(ROOT / "app"))  # `import ui`, as `streamlit run app/Home.py` does


def charts(at: AppTest) -> list:
    """The interactive (Vega-Lite) charts on the page: `glamsim.plots` charts drawn by `ui.figure`."""
    return list(at.get("vega_lite_chart"))


def spec(chart) -> dict:
    return json.loads(chart.proto.spec)


def open_page(name: str | None, typed_mfu: bool = True) -> AppTest:
    """A page after its first run; the training page with a typed MFU (its tests type one) unless
    `typed_mfu=False` (the predicted utilisation, the page's default)."""
    at = AppTest.from_file(HOME, default_timeout=60)
    at.run()
    if name:
        at.switch_page(PAGES[name]).run()
    if name == "training" and typed_mfu:
        at.radio(key="t_mfu_mode").set_value("typed").run()
    assert not at.exception, at.exception
    return at


def table(at: AppTest, i: int = 0):
    return at.dataframe[i].value


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def unescape(v):
    """A cell of a plain table (st.table renders Markdown, so the page escapes it) as shown."""
    return re.sub(r"\\(.)", r"\1", v) if isinstance(v, str) else v


def cell(key: str, value, low=None, high=None) -> str:
    """A results-table cell as the dashboard writes it: the registry's format, a range beside its nominal."""
    text = format_value(key, value)
    return text if low is None else f"{text} ({format_value(key, low)} – {format_value(key, high)})"


# ---- training ---------------------------------------------------------------------------------


def test_training_page_shows_the_api_estimate_with_ranges():
    at = open_page("training")
    at.selectbox(key="t_model").set_value("glam-8b-64e")
    at.selectbox(key="t_baseline").set_value("glam-8b-dense")
    at.selectbox(key="t_chip").set_value("a100-80gb")
    at.selectbox(key="t_dc").set_value("us-average")
    at.number_input(key="t_chips").set_value(256)
    at.number_input(key="t_tokens").set_value(100.0)
    at.checkbox(key="t_ranged").check()
    at.run()
    for key, (lo, nom, hi) in (("t_mfu", (0.3, 0.4, 0.5)), ("t_pue_us-average", (1.1, 1.2, 1.5))):
        for suffix, v in (("_lo", lo), ("", nom), ("_hi", hi)):
            at.number_input(key=key + suffix).set_value(v)
    # no range: low = high = nominal (power starts empty on the A100: it follows the load)
    for key in ("t_price_a100-80gb", "t_ci_us-average"):
        for suffix in ("_lo", "_hi"):
            at.number_input(key=key + suffix).set_value(at.number_input(key=key).value)
    at.run()
    assert not at.exception and not at.error
    common = dict(
        tokens=1e11, chip="a100-80gb", chips=256, mfu=(0.3, 0.4, 0.5), pue=(1.1, 1.2, 1.5), datacenter="us-average"
    )
    moe, dense = (estimate_training(model=m, **common) for m in ("glam-8b-64e", "glam-8b-dense"))
    shown = metrics(at)
    assert shown["Training days"] == format_value("train_days", moe.train_days)
    assert shown["Energy, facility (MWh)"] == format_value("energy_mwh", moe.energy_mwh)
    assert shown["Cost ($)"] == format_value("cost_usd", moe.cost_usd)
    t = table(at).set_index("quantity")
    for q in ("train_days", "energy_mwh", "co2e_t", "flops_total"):  # rows: the output registry's labels
        assert t.loc[label(q), "glam-8b-64e"] == cell(q, getattr(moe, q), *moe.ranges.get(q, ())), q
        assert t.loc[label(q), "glam-8b-dense"] == cell(q, getattr(dense, q), *dense.ranges.get(q, ())), q
    # chip-hours are ranged too: by MFU alone (the other inputs do not move them)
    fast, slow = (estimate_training(model="glam-8b-64e", **{**common, "mfu": m}) for m in (0.5, 0.3))
    assert t.loc[label("chip_hours"), "glam-8b-64e"] == cell(
        "chip_hours", moe.chip_hours, fast.chip_hours, slow.chip_hours
    )
    assert t.loc[label("compute_hours"), "glam-8b-64e"] == cell(
        "compute_hours", moe.compute_hours, fast.compute_hours, slow.compute_hours
    )
    assert len(charts(at)) == 1  # the tornado
    statement = at.code[0].value  # the paragraph from glamsim.cost.report for the same estimate
    assert f"consumes {num(moe.energy_mwh)} MWh" in statement and "range 0.3 to 0.5" in statement
    assert "price per chip hour usd" in statement  # power: none typed, it follows the load (system model)


def test_datacenter_pick_list_is_grouped_shows_sources_and_sets_the_carbon():
    """Country grids, then cloud regions, then single datacenters, each option with its intensity;
    the chosen profile's figures and sources under it; its grid sets CO2e as the API computes it."""
    at = open_page("training")
    pick = at.selectbox(key="t_dc")
    groups = [o.split(" · ")[0] for o in pick.options]
    assert groups == sorted(groups, key=["Country grid", "Cloud region", "Datacenter"].index)
    assert "Cloud region · gcp-europe-north1 (Google Cloud, Finland) · 0.0393 kg/kWh" in pick.options
    assert "Country grid · world-average (World) · 0.436 kg/kWh" in pick.options
    pick.set_value("gcp-europe-north1")
    at.selectbox(key="t_chip").set_value("a100-80gb")
    at.run()
    assert not at.exception and not at.error
    shown = " ".join(c.value for c in at.caption)
    assert "region-carbon-info" in shown and "0.03932 kgCO2e/kWh" in shown and "PUE 1.1" in shown
    assert at.number_input(key="t_ci_gcp-europe-north1").value == pytest.approx(0.03932)
    model = at.selectbox(key="t_model").value
    e = estimate_training(
        model=model,
        tokens=at.number_input(key="t_tokens").value * 1e9,
        chip="a100-80gb",
        chips=at.number_input(key="t_chips").value,
        mfu=at.number_input(key="t_mfu").value,
        datacenter="gcp-europe-north1",
    )
    t = table(at).set_index("quantity")
    assert t.loc[label("co2e_t"), model] == cell("co2e_t", e.co2e_t)  # 39.32 g/kWh x the run's MWh


def test_training_page_predicts_the_mfu_from_the_layout_by_default():
    """No typed MFU: the page shows glamsim.predict's layout, MFU and HFU (the API's for the same
    inputs), a memory bar against the usable HBM and the step-time breakdown."""
    at = open_page("training", typed_mfu=False)
    assert at.radio(key="t_mfu_mode").value == "predicted" and not at.error
    est = estimate_training(model="glam-64b-64e", tokens=6e11, chip="tpu-v4", chips=1024)
    shown = metrics(at)
    assert shown["Predicted MFU"] == f"{est.mfu:.3f}"
    out = est.to_dict()  # its range, under the level the ledger gives it (GLaM on TPU v4: validated, 80%)
    assert shown["MFU, 80% range"] == f"{out['mfu_low']:.3f}–{out['mfu_high']:.3f}"
    days = [format_value("train_days", out[f"train_days_at_mfu_{end}"]) for end in ("high", "low")]
    assert shown["Days, MFU 80% range"] == "–".join(days)
    assert any(est.prediction["layout"] in m.value for m in at.markdown)
    assert shown["Training days"] == format_value("train_days", est.train_days)
    titles = [
        " ".join(spec(c)["title"]) if isinstance(spec(c)["title"], list) else str(spec(c).get("title"))
        for c in charts(at)
    ]
    assert any("Memory per chip" in t for t in titles) and any("step goes" in t for t in titles)
    at.text_input(key="t_layout").set_value("tp=4,fsdp=256,ep=64,recompute=full").run()  # a layout of one's own
    assert not at.exception and not at.error
    own = estimate_training(
        model="glam-64b-64e", tokens=6e11, chip="tpu-v4", chips=1024, layout="tp=4,fsdp=256,ep=64,recompute=full"
    )
    assert metrics(at)["Predicted MFU"] == f"{own.mfu:.3f}"
    # the layout's newer keys refused in one line naming the key and value (a GLaM chunk has 64 layers)
    for bad, named in (("recompute_layers=99", "recompute_layers=99"), ("cp_comm=ring", "cp_comm='ring'")):
        at.text_input(key="t_layout").set_value(f"tp=4,fsdp=256,ep=64,recompute=full,{bad}").run()
        assert not at.exception and at.error and named in at.error[0].value and "\n" not in at.error[0].value


def test_training_page_charges_exposed_communication():
    at = open_page("training")
    at.slider(key="t_overlap").set_value(0.0).run()
    assert not at.exception and not at.error
    exposed = estimate_training(model="glam-64b-64e", tokens=6e11, chip="tpu-v4", chips=1024, comm_overlap=0.0, mfu=0.3)
    hidden = estimate_training(model="glam-64b-64e", tokens=6e11, chip="tpu-v4", chips=1024, mfu=0.3)
    assert exposed.train_days > hidden.train_days  # the all-to-alls and all-reduce now add time
    assert metrics(at)["Training days"] == format_value("train_days", exposed.train_days)
    assert metrics(at)["Energy, facility (MWh)"] == format_value("energy_mwh", exposed.energy_mwh)


def test_training_page_edits_the_architecture_and_reports_bad_edits_in_one_line():
    at = open_page("training")
    at.number_input(key="t_n_experts_glam-64b-64e").set_value(32).run()
    cfg = load_model("glam-64b-64e").replace(n_experts=32)
    est = estimate_training(model=cfg, tokens=6e11, chip="tpu-v4", chips=1024, mfu=0.3)
    t = table(at).set_index("quantity")
    shown = t.loc[label("params_total"), "glam-64b-64e (n_experts=32)"]
    assert shown == format_value("params_total", count(cfg).params_total) and shown.endswith("B")  # not "G"
    assert metrics(at)["Energy, facility (MWh)"] == format_value("energy_mwh", est.energy_mwh)
    # capacity padding: hardware FLOPs (HFU) move with the capacity factor, model FLOPs (time) do not
    at.number_input(key="t_capacity_factor_glam-64b-64e").set_value(4.0).run()
    c4 = count(cfg.replace(capacity_factor=4.0))
    t = table(at).set_index("quantity")
    assert t.loc[label("hfu"), "glam-64b-64e (n_experts=32, capacity_factor=4)"] == format_value(
        "hfu", 0.3 * c4.flops_per_token_train_hardware / c4.flops_per_token_train
    )
    assert metrics(at)["Energy, facility (MWh)"] == format_value("energy_mwh", est.energy_mwh)
    at.number_input(key="t_top_k_glam-64b-64e").set_value(40).run()
    assert not at.exception
    assert len(at.error) == 1 and "top_k=40" in at.error[0].value and "\n" not in at.error[0].value


def test_a_typed_value_is_the_nominal_of_its_range():
    at = open_page("training")
    at.number_input(key="t_mfu").set_value(0.25).run()
    at.checkbox(key="t_ranged").check().run()  # low / high start at -20% / +20% of the value shown
    assert [at.number_input(key=k).value for k in ("t_mfu_lo", "t_mfu", "t_mfu_hi")] == [0.2, 0.25, 0.3]
    at.number_input(key="t_mfu").set_value(0.5).run()  # untouched ends follow their nominal value
    assert (at.number_input(key="t_mfu_lo").value, at.number_input(key="t_mfu_hi").value) == (0.4, 0.6)
    at.number_input(key="t_mfu_lo").set_value(0.1).run()  # ... until the user sets them
    at.number_input(key="t_mfu").set_value(0.45).run()
    assert (at.number_input(key="t_mfu_lo").value, at.number_input(key="t_mfu_hi").value) == (0.1, 0.54)
    assert not at.error

    at = open_page("serving")  # the bandwidth utilisation typed after ticking: 0.48 / 0.6 / 0.72, not refused
    at.checkbox(key="s_ranged").check().run()
    at.number_input(key="s_mbu").set_value(0.6).run()
    assert not at.exception and not at.error
    assert [at.number_input(key=k).value for k in ("s_mbu_lo", "s_mbu", "s_mbu_hi")] == [0.48, 0.6, 0.72]
    mfu = ServingScenario.model_fields["mfu"].default  # the scenario's default, -20% / +20% around it
    assert [at.number_input(key=k).value for k in ("s_mfu_lo", "s_mfu", "s_mfu_hi")] == [
        float(f"{mfu * f:.12g}") for f in (0.8, 1, 1.2)
    ]
    at.number_input(key="s_mfu").set_value(1.0).run()  # the ideal roofline: high capped at 1
    assert [at.number_input(key=k).value for k in ("s_mfu_lo", "s_mfu", "s_mfu_hi")] == [0.8, 1.0, 1.0]
    for key in ("s_power_tpu-v4", "s_price_tpu-v4"):  # no range: low = high = nominal
        for suffix in ("_lo", "_hi"):
            at.number_input(key=key + suffix).set_value(at.number_input(key=key).value)
    at.run()
    est = estimate_serving(model="glam-64b-64e", mbu=(0.48, 0.6, 0.72), mfu=(0.8, 1.0, 1.0))
    assert metrics(at)["J / token (facility)"] == format_value("joules_per_token", est["joules_per_token"])
    t = table(at).set_index("quantity")
    lo, hi = est.ranges["joules_per_token"]
    assert t.loc[label("joules_per_token"), "glam-64b-64e"] == cell("joules_per_token", est["joules_per_token"], lo, hi)
    fast, slow = (estimate_serving(model="glam-64b-64e", mbu=b, mfu=f) for b, f in ((0.72, 1.0), (0.48, 0.8)))
    assert t.loc[label("request_latency_s"), "glam-64b-64e"] == cell(  # latency is ranged too
        "request_latency_s", est["request_latency_s"], fast["request_latency_s"], slow["request_latency_s"]
    )


def test_no_experts_makes_the_model_dense():
    at = open_page("training")
    at.number_input(key="t_n_experts_glam-64b-64e").set_value(0).run()
    assert not at.exception and not at.error
    dense = load_model("glam-64b-64e").dense_twin()  # no top-k, no MoE layers
    est = estimate_training(model=dense, tokens=6e11, chip="tpu-v4", chips=1024, mfu=0.3)
    t = table(at).set_index("quantity")
    name = "glam-64b-64e (n_experts=0: dense)"
    assert t.loc[label("params_total"), name] == format_value("params_total", count(dense).params_total)
    assert metrics(at)["Energy, facility (MWh)"] == format_value("energy_mwh", est.energy_mwh)


def test_a_chip_without_a_price_says_so(downloads):
    at = open_page("training")
    at.selectbox(key="t_chip").set_value("h200").run()
    assert not at.exception and not at.error
    assert metrics(at)["Cost ($)"] == "n/a"
    assert any("n/a — the profile has no public price; enter one" in i.value for i in at.info)
    at.checkbox(key="t_ranged").check().run()  # the sensitivity chart offers what it can draw: no cost
    assert at.radio(key="t_tornado_out").options == ["energy", "CO2e"]
    at.number_input(key="t_price_h200").set_value(10.0).run()  # a typed price is used
    est = estimate_training(model="glam-64b-64e", chip="h200", price_per_chip_hour_usd=10.0, mfu=0.3)
    assert metrics(at)["Cost ($)"] == format_value("cost_usd", est.cost_usd) and not at.info

    at = open_page("serving")
    priced = len(charts(at))
    at.selectbox(key="s_chip").set_value("h200").run()
    assert not at.exception and not at.error
    assert metrics(at)["$ / 1M tokens"] == "n/a"
    assert any("no public price" in i.value for i in at.info)
    assert 0 < len(charts(at)) < priced  # the charts are drawn without their empty dollar panels


def test_sensitivity_of_co2():
    at = open_page("training")
    at.checkbox(key="t_ranged").check().run()
    at.radio(key="t_tornado_out").set_value("co2e_t").run()
    assert not at.exception and not at.error and len(charts(at)) == 1


def test_every_download_carries_its_scenario(downloads):
    at = open_page("training")
    at.number_input(key="t_chips").set_value(256).run()
    csv = downloads["training-estimate.csv"]
    assert "scenario: chips,256,256,scenario.chips" in csv and "scenario: model,glam-64b-64e,gpt3-175b" in csv
    payload = json.loads(downloads["training-estimate.json"])
    assert payload["scenarios"]["glam-64b-64e"]["chips"] == 256
    est = estimate_training(**{k: v for k, v in payload["scenarios"]["glam-64b-64e"].items() if k != "sources"})
    assert payload["glam-64b-64e"]["energy_mwh"] == pytest.approx(est.energy_mwh)  # the scenario recomputes it
    assert '"chips": 256' in downloads["training-estimate.txt"]

    at = open_page("serving")
    at.number_input(key="s_batch").set_value(8).run()
    assert "scenario: batch,8,8,scenario.batch" in downloads["serving-estimate.csv"]
    assert json.loads(downloads["serving-estimate.json"])["scenarios"]["gpt3-175b"]["batch"] == 8


def test_any_number_of_models_side_by_side():
    at = open_page("training")
    at.multiselect(key="t_compare").set_value(["glam-8b-64e", "glam-1.7b-64e"]).run()
    assert not at.exception and not at.error
    t = table(at).set_index("quantity")
    assert list(t.columns) == ["glam-64b-64e", "gpt3-175b", "glam-8b-64e", "glam-1.7b-64e"]
    small = estimate_training(model="glam-1.7b-64e", mfu=0.3)
    assert t.loc[label("energy_mwh"), "glam-1.7b-64e"] == format_value("energy_mwh", small.energy_mwh)

    at = open_page("serving")
    at.multiselect(key="s_compare").set_value(["glam-8b-64e"]).run()
    assert not at.exception and not at.error
    t = table(at).set_index("quantity")
    assert t.loc[label("serving_min_chips"), "glam-8b-64e"] == format_value(
        "serving_min_chips", estimate_serving(model="glam-8b-64e")["serving_min_chips"]
    )


def test_saved_scenarios_are_listed_and_load_back(downloads):
    at = open_page("training")
    at.number_input(key="t_chips").set_value(256).run()
    at.text_input(key="training_save_name").set_value("small fleet").run()
    at.button(key="training_save").click().run()
    at.number_input(key="t_chips").set_value(512)
    at.selectbox(key="t_chip").set_value("h100-sxm").run()
    assert at.number_input(key="t_chips").value == 512
    at.button(key="training_load").click().run()  # "small fleet" is picked
    assert not at.exception and not at.error
    assert at.number_input(key="t_chips").value == 256 and at.selectbox(key="t_chip").value == "tpu-v4"
    est = estimate_training(chips=256, mfu=0.3)
    assert metrics(at)["Energy, facility (MWh)"] == format_value("energy_mwh", est.energy_mwh)
    saved = json.loads(downloads["training-scenarios.json"])
    assert saved["small fleet"]["settings"]["t_chips"] == 256
    assert saved["small fleet"]["scenarios"]["glam-64b-64e"]["chips"] == 256


def test_settings_survive_a_page_change_and_come_from_the_url():
    at = open_page("training")
    at.number_input(key="t_chips").set_value(256)
    at.selectbox(key="t_chip").set_value("a100-80gb").run()
    at.switch_page(PAGES["serving"]).run()
    at.number_input(key="s_batch").set_value(8).run()
    at.switch_page(PAGES["training"]).run()
    assert at.number_input(key="t_chips").value == 256 and at.selectbox(key="t_chip").value == "a100-80gb"
    assert (at.query_params["t_chips"], at.query_params["t_chip"]) == ("256", "a100-80gb")  # the URL holds them
    at.switch_page(PAGES["serving"]).run()
    assert at.number_input(key="s_batch").value == 8

    fresh = AppTest.from_file(HOME, default_timeout=60)  # a shared link opens with its settings
    fresh.switch_page(PAGES["training"])
    fresh.query_params.update({"t_chips": "2048", "t_tokens": "300.0"})
    fresh.run()
    assert not fresh.exception and fresh.number_input(key="t_chips").value == 2048
    est = estimate_training(chips=2048, tokens=3e11)  # the page's default: the predicted MFU
    assert metrics(fresh)["Energy, facility (MWh)"] == format_value("energy_mwh", est.energy_mwh)


# ---- serving ----------------------------------------------------------------------------------


def test_serving_page_shows_the_api_estimate_for_both_models():
    at = open_page("serving")
    at.number_input(key="s_batch").set_value(8)
    at.number_input(key="s_prompt").set_value(512)
    at.number_input(key="s_gen").set_value(128)
    at.selectbox(key="s_chip").set_value("h100-sxm")
    at.selectbox(key="s_dc").set_value("glam-google-oklahoma")
    at.run()
    assert not at.exception and not at.error
    kw = dict(chip="h100-sxm", batch=8, prompt_len=512, gen_len=128, datacenter="glam-google-oklahoma")
    moe, dense = (estimate_serving(model=m, **kw) for m in ("glam-64b-64e", "gpt3-175b"))
    shown = metrics(at)
    assert shown["ms / token"] == fmt(moe["decode_step_s"] * 1e3)
    assert shown["tokens/s/chip"] == format_value("decode_tokens_per_s_per_chip", moe["decode_tokens_per_s_per_chip"])
    assert shown["J / token (facility)"] == format_value("joules_per_token", moe["joules_per_token"])
    assert shown["$ / 1M tokens"] == format_value("usd_per_million_tokens", moe["usd_per_million_tokens"])
    assert shown["fewest chips"] == format_value("serving_min_chips", moe["serving_min_chips"])
    t = table(at).set_index("quantity")
    for key in ("serving_min_chips", "decode_weight_bytes_per_step", "kgco2e_per_million_tokens"):
        assert t.loc[label(key), "glam-64b-64e"] == format_value(key, moe[key])
        assert t.loc[label(key), "gpt3-175b"] == format_value(key, dense[key])
    # latency-throughput, cost and energy against batch, four against the TPOT target, memory, experts read
    assert len(charts(at)) == 9

    at.number_input(key="s_chips").set_value(2).run()  # too few chips: one line, no traceback
    assert not at.exception and "chips=2" in at.error[0].value


# ---- scaling, paper check, home -----------------------------------------------------------------


def test_scaling_explorer_charts_a_builtin_study_and_refuses_a_bad_file():
    at = open_page("scaling")
    assert not at.error and not at.image  # the study's own figure is drawn live, not its saved PNG
    assert len(charts(at)) == 2  # the study's figure and the custom chart
    assert len(table(at)) == 88  # the serving study: 2 models x 11 batch sizes x 4 prompt lengths
    at.radio(key="x_source").set_value("upload a results file").run()
    at.file_uploader(key="x_upload").set_value(("results.parquet", b"not parquet", "application/octet-stream"))
    at.run()
    assert not at.exception and at.error[0].value.startswith("results.parquet: cannot read results")
    csv = b"model,batch,usd_per_million_tokens\na,1,3.0\na,2,2.0\nb,1,5.0\nb,2,4.0\n"
    at.file_uploader(key="x_upload").set_value(("r.csv", csv, "text/csv")).run()
    assert not at.exception and not at.error and len(charts(at)) == 1
    # two rows per model (batch 1 and 2): the bars are their mean, and the chart says so
    (subtitle,) = [" ".join(spec(c)["title"]["subtitle"]) for c in charts(at)]
    assert "mean of 2 rows with the same model" in subtitle and "batch" in subtitle


def test_paper_check_shows_the_reproduction_table():
    at = open_page("paper")
    rows = reproduce()
    t = at.table[0].value.map(unescape)  # a plain table: long sources and notes wrap, never cut
    assert list(t.index.map(unescape)) == [r["check"] for r in rows]
    assert list(t["glamsim"]) == [fmt(r["glamsim"]) for r in rows]
    assert list(t["published"]) == [fmt(r["published"]) for r in rows]
    # a row without a published value is an implied figure: nothing to pass or fail
    assert list(t["ok"]) == ["-" if r["published"] is None else "yes" if r["ok"] else "NO" for r in rows]
    # the scaling-law rows at equal quality: a factor either way, and where each law extrapolates
    assert list(t["tolerance"]) == [r["tolerance_label"] for r in rows]
    assert (
        t.loc["Switch-Base 64E vs T5-Base: speedup to T5-Base's quality (steps, equal FLOPs per token)", "tolerance"]
        == "×/÷2"
    )
    assert (
        "outside chinchilla"
        in t.loc["Chinchilla Approach 3, compute-optimal params at Gopher's budget", "extrapolates"]
    )
    checked = [r for r in rows if r["published"] is not None]
    assert metrics(at)["Checks within tolerance"] == f"{sum(r['ok'] for r in checked)} of {len(checked)}"


def test_paper_check_shows_every_published_run_with_its_error_interval_and_note():
    """The second table: one row per published run of `glamsim.api.validation()`, its error as the
    API gives it, and the row's note (NVIDIA's regression report beside the dropless Qwen3-30B rows)."""
    import glamsim.api as gs

    at = open_page("paper")
    rows = gs.validation().set_index("id")
    t = at.table[1].value.map(unescape)
    assert list(t.index.map(unescape)) == list(rows.index)
    assert list(t["error"]) == [f"{100 * e:+.1f}%" for e in rows["rel_error"]]
    assert "issue #1998" in t.loc["nemo-qwen3-30b-16-fp8", "note"]
    assert t.loc["megatron21-t1-1.7b", "note"] == ""  # no note: an empty cell


def test_paper_check_opens_one_published_run_as_the_command_line_does():
    """The drill-down below the table: a chosen run's step-time items and memory per chip, the
    figures `glamsim validate-predictions --run ID` prints (both from `glamsim.api.validation`)."""
    import glamsim.api as gs

    at = open_page("paper")
    at.selectbox(key="p_run").set_value("llama3_8k").run()
    assert not at.exception
    (row,) = gs.validation(run="llama3_8k").to_dict("records")
    items = at.table[2].value.map(unescape)
    for k, v in row["breakdown"].items():
        assert items.loc[k.removesuffix("_s").replace("_", " "), "seconds"] == f"{v:.4g}"
    memory = at.table[3].value.map(unescape)
    assert memory.loc["total", "GB"] == f"{row['memory']['total'] / 1e9:.1f}" == "83.7"
    assert memory.loc["usable", "GB"] == "81.2"  # a published run counted over the usable bytes: tight
    assert any("tight: needs 83.7 GB" in m.value and "may run out of memory" in m.value for m in at.markdown)
    # the coverage and the tolerance, as `--run` prints them
    assert any("outside its ±15%" in m.value and "covering the published figure" in m.value for m in at.markdown)
    assert not any("regression report" in c.value for c in at.caption)  # a run nobody reported
    assert not any("network between servers" in m.value or "server or slice" in m.value for m in at.markdown)
    at.selectbox(key="p_run").set_value("nemo-qwen3-30b-16-fp8").run()
    assert any("Its publisher's regression report" in c.value and "#1998" in c.value for c in at.caption)
    at.selectbox(key="p_run").set_value("ibm-fsdp-7b-96-h100").run()  # a run on its own, thinner network
    assert any("network between servers: 12.5 GB/s one way a chip, the run's own" in m.value for m in at.markdown)


def test_home_links_every_page_and_compares_glam_with_gpt3():
    at = open_page(None)
    assert len(at.get("page_link")) == len(PAGES)
    t = table(at).set_index("quantity")
    glam = estimate_training()  # Home compares at the scenario defaults, as every page starts
    assert t.loc["training energy (MWh)", "glam-64b-64e"] == format_value("energy_mwh", glam.energy_mwh)
    assert t.loc["parameters (total)", "gpt3-175b"] == "174.6B"
    assert len(charts(at)) == 1
    at.switch_page(PAGES["training"]).run()  # the training page starts from the same scenario
    assert metrics(at)["Energy, facility (MWh)"] == format_value("energy_mwh", glam.energy_mwh)


def test_home_puts_glams_published_run_beside_its_figures_and_says_why():
    at = open_page(None)
    t = table(at, 1).set_index("quantity")
    glam = estimate_training()
    assert t.loc["MFU", "the paper's run"] == "0.285"  # Du et al. 2022, Sec. 6: 280B tokens in 574 h
    assert t.loc["facility energy (MWh)", "the paper's run"] == "456"  # Du et al. 2022, Table 1
    assert t.loc["training time (days)", "the paper's run"] == format_value("train_days", 574 * 600 / 280 / 24)
    assert t.loc["MFU", "glamsim, these defaults"] == format_value("mfu", glam.mfu)
    assert t.loc["facility energy (MWh)", "glamsim, these defaults"] == format_value("energy_mwh", glam.energy_mwh)
    assert t.loc["PUE (ratio)", "the paper's run"] == "1.11"
    text = " ".join(m.value for m in at.markdown)
    assert glam.ledger["published_run"].source in text  # the reason is the estimate's own ledger entry
    assert "pue 1.1 here, 1.11 in the run" in text


def test_training_page_shows_the_runs_carbon_in_every_region_with_sourced_equivalents():
    at = open_page("training")
    at.number_input(key="t_chips").set_value(512).run()
    at.checkbox(key="t_show_regions").check().run()
    assert not at.exception, at.exception
    t = next(d.value for d in at.dataframe if "region" in d.value.columns).set_index("datacenter")
    est = estimate_training(mfu=0.3, chips=512)  # the page's typed MFU at its default
    mwh = est.chip_hours * est.ledger["power_w"].value / 1e6  # the same run, at the chips
    t_fr = mwh * 1.58 * 0.06739  # france-average: PUE 1.58, 0.06739 kg/kWh (its profile)
    assert t.loc["france-average", label("co2e_t")] == format_value("co2e_t", t_fr)
    assert t.loc["france-average", label("energy_mwh")] == format_value("energy_mwh", mwh * 1.58)
    assert t.loc[est.scenario.datacenter, label("co2e_t")] == format_value("co2e_t", est.co2e_t)
    vehicles = next(c for c in t.columns if c.startswith("passenger vehicles"))
    assert vehicles.endswith("(about)")  # the EPA's 'about 4.6 t' is marked an estimate
    assert t.loc["france-average", vehicles] == f"{t_fr / 4.6:.2g}"
    assert len(t) == len(list((ROOT / "glamsim/data/hardware_profiles/datacenters").glob("*.yaml")))
    assert any("EPA-420-F-23-014" in c.value for c in at.caption)


# ---- profiles: upload, validation, use on another page ------------------------------------------


def test_uploaded_profile_is_validated_and_used_by_the_training_page():
    src = (data_dir("hardware_profiles") / "chips" / "tpu-v4.yaml").read_text()
    at = open_page("profiles")
    bad = src.replace("name: tpu-v4", "name: mine\ncolour: red")
    at.file_uploader(key="pr_upload").set_value(("bad.yaml", bad.encode(), "application/yaml")).run()
    assert not at.exception
    assert len(at.error) == 1 and "bad.yaml: unknown key 'colour'" in at.error[0].value
    mine = src.replace("name: tpu-v4", "name: my-tpu").replace("value: 3.22", "value: 1.5")
    at.file_uploader(key="pr_upload").set_value(("mine.yaml", mine.encode(), "application/yaml")).run()
    assert not at.exception and not at.error and "my-tpu" in at.success[0].value
    assert "my-tpu" in list(table(at)["name"])

    at.switch_page(PAGES["training"]).run()
    at.radio(key="t_mfu_mode").set_value("typed")
    at.selectbox(key="t_chip").set_value("my-tpu").run()
    path = Path(at.session_state["profiles_dir"]) / "chips" / "my-tpu.yaml"
    est = estimate_training(model="glam-64b-64e", tokens=6e11, chip=load_chip(path), chips=1024, mfu=0.3)
    assert est.cost_usd == pytest.approx(est.chip_hours * 1.5)
    assert metrics(at)["Cost ($)"] == format_value("cost_usd", est.cost_usd)


# ---- random widget values, JAX-free cost pages ------------------------------------------------


def _random_value(w, rng: random.Random):
    if w.type == "number_input":
        p, v = w.proto, w.value
        lo, hi = (p.min if p.has_min else None), (p.max if p.has_max else None)
        if v is None:
            return None
        if lo is not None and hi is not None:
            x = rng.uniform(lo, hi)
        else:
            x = v * 10 ** rng.uniform(-1.5, 1.5) if v else rng.uniform(0, 10)
            x = max(x, lo) if lo is not None else x
        return int(round(x)) if isinstance(v, int) else x
    if w.type == "checkbox":
        return rng.random() < 0.5
    return None


@pytest.mark.parametrize("page", ["training", "serving", "scaling", "paper", "profiles", "measure", "quality"])
def test_random_widget_values_never_crash_a_page(page):
    rng = random.Random(sum(map(ord, page)))
    at = open_page(page)
    for _ in range(4):
        widgets = [*at.number_input, *at.checkbox, *at.selectbox]
        for w in rng.sample(widgets, min(3, len(widgets))):
            if w.type == "selectbox":
                w.select_index(rng.randrange(len(w.options)))
            else:
                v = _random_value(w, rng)
                if v is not None:
                    w.set_value(v)
        at.run()
        assert not at.exception, at.exception
        for e in at.error:  # bad combinations are reported in one line
            assert "\n" not in e.value and "Traceback" not in e.value


def test_cost_pages_never_import_jax():
    script = f"""
import sys
sys.path.insert(0, {str(ROOT / "app")!r})
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({HOME!r}, default_timeout=60)
at.run()
for page in {list(PAGES.values())!r}:
    at.switch_page(page).run()
    assert not at.exception, (page, at.exception)
print("jax" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


# ---- measure here: one tiny measurement, carried into the training what-if ----------------------


def test_measure_page_runs_a_tiny_measurement_and_carries_it_to_training():
    at = open_page("measure")
    at.number_input(key="m_batch").set_value(2)
    at.number_input(key="m_seq_glam-tiny").set_value(32)
    at.number_input(key="m_steps").set_value(2)
    at.button(key="m_run").click().run(timeout=240)
    assert not at.exception and not at.error
    rec = at.session_state["measurement"]
    assert (rec.model, rec.batch, rec.seq_len, rec.steps) == ("glam-tiny", 2, 32, 2)
    shown = metrics(at)
    assert shown["MFU"] == fmt(rec.mfu) and shown["XLA / model FLOPs"] == fmt(rec.hardware_to_model_flops)
    flops = table(at).set_index("count")["flops_per_step"]
    assert flops.iloc[0] == fmt(rec.xla_flops_per_step) and flops.iloc[1] == fmt(rec.model_flops_per_step)
    payload = json.loads(rec.model_dump_json())
    assert payload["record_schema"] == "glamsim.measurement/1"

    at.switch_page(PAGES["training"]).run()  # a typed MFU on the training page (kept across pages)
    at.radio(key="t_mfu_mode").set_value("typed").run()
    at.switch_page(PAGES["measure"]).run()
    at.button(key="m_use").click().run()
    if at.get("page_link"):  # Streamlit could not switch pages itself here: the link the page offers
        at.switch_page(PAGES["training"]).run()
    assert not at.exception
    assert at.checkbox(key="use_measurement").value is True
    # measured on a CPU, not a TPU v4: only the hardware/model FLOPs ratio carries over (as HFU)
    assert "not used" in at.info[0].value
    t = table(at).set_index("quantity")
    assert t.loc[label("hfu"), "glam-64b-64e"] == format_value("hfu", 0.3 * rec.hardware_to_model_flops)


def test_the_explorers_default_chart_averages_nothing_and_names_every_category():
    """Each built-in study's default custom chart is its first figure's view (x, series, filters):
    one row per point, no mean over rows that differ (GPT-3's published run beside today's chips),
    and a bar chart names every category (none dropped for overlap)."""
    at = open_page("scaling")
    for name in builtin_studies():
        at.selectbox(key="x_study").set_value(name).run()
        assert not at.exception and not at.error, name
        custom = spec(charts(at)[-1])
        subtitle = " ".join(custom.get("title", {}).get("subtitle") or [])
        assert "mean of" not in subtitle and "max of" not in subtitle, (name, subtitle)
        layers = [custom, *custom.get("layer", []), *custom.get("vconcat", []), *custom.get("hconcat", [])]
        for part in layers:
            x = (part.get("encoding") or {}).get("x") or {}
            if x.get("type") == "nominal":
                assert x["axis"]["labelOverlap"] is False, name


def test_every_number_widget_is_labelled_in_words_with_its_unit():
    """Every number input on the training and serving pages: plain words (no field name's
    underscores or unit abbreviations such as `gb`, `kwh`, `ms` outside the unit) and the unit its
    scenario field declares, in parentheses."""
    raw = re.compile(r"\b(gb|kwh|usd|ms|us|num|len|seqs|hw|grad|comm)\b")
    for page, cls, prefix in (
        ("training", TrainingScenario, "t_"),
        ("serving", ServingScenario, "s_"),
    ):
        at = open_page(page)
        for w in at.get("number_input"):
            words, _, unit = w.label.partition(" (")
            assert "_" not in words and not raw.search(words), (page, w.key, w.label)
            field, declared = w.key.removeprefix(prefix), ""
            if field in cls.model_fields:
                declared = cls.meta(field)["unit"]
            if declared and "/" not in declared and not declared.startswith("fraction"):  # ratios name themselves
                # the declared unit in parentheses, or in the words of a scaled widget ("tokens (billions)")
                stated = f"{words} {unit}".lower()
                assert unit.rstrip(")") == declared or declared.lower() in stated, (page, w.key, w.label)

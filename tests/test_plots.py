"""The shared plotting module: Vega-Lite specs (labels with units, scales, tooltips, the dense
baseline, explicit aggregation), saving as PNG and SVG, and tornado tables."""

from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest

from glamsim import plots
from glamsim.cost.bundles import Hardware, Site, TrainingRun, routed
from glamsim.cost.training import training_costs
from glamsim.cost.uncertainty import tornado
from glamsim.outputs import label


@pytest.mark.parametrize(
    "column, text",
    [
        ("energy_mwh", "facility energy (MWh)"),
        ("decode_step_s", "decoding step (s)"),
        ("kv_cache_gb_full_context", "KV cache at full context (GB)"),
        ("prefill_s", "prefill time (s)"),
        ("hbm_bandwidth_gb_per_s", "HBM bandwidth (GB/s)"),
        ("price_per_chip_hour_usd", "price (USD per chip-hour)"),
        ("prompt_len", "prompt length (tokens)"),
        ("serving_mfu", "serving MFU (fraction of dense peak)"),
        ("mfu", "MFU"),
    ],
)
def test_labels_spell_out_units(column, text):
    assert plots.label(column) == text


# ---- reading specs ----


def units(node) -> list[dict]:
    """Every single view (a dict with a mark) of a spec, in order, whatever nests it."""
    if isinstance(node, dict):
        return ([node] if "mark" in node else []) + [u for v in node.values() for u in units(v)]
    if isinstance(node, list):
        return [u for v in node for u in units(v)]
    return []


def mark(unit: dict) -> str:
    return unit["mark"] if isinstance(unit["mark"], str) else unit["mark"]["type"]


def values(spec: dict) -> pd.DataFrame:
    return pd.DataFrame(spec["data"]["values"])


def title(spec: dict) -> str:
    return " ".join(spec["title"]["text"])


def subtitle(spec: dict) -> str:
    return " ".join(spec.get("title", {}).get("subtitle", []))


def filtered(unit: dict) -> str:
    return " ".join(t["filter"] for t in unit.get("transform", []) if "filter" in t)


SERVE = pd.DataFrame(
    {
        "model": ["moe"] * 4 + ["dense"] * 4,
        "batch": [1, 8, 64, 512] * 2,
        "usd_per_million_tokens": [10.0, 30.0, 60.0, 80.0, 40.0, 40.0, 40.0, 40.0],
        "prompt_len": [128] * 8,
    }
)


def test_plot_sweep_lines_scales_tooltips_and_baseline():
    spec = plots.plot_sweep(
        SERVE, "batch", "usd_per_million_tokens", hue="model", baseline="dense", title="T"
    ).to_dict()
    assert title(spec) == "T" and not subtitle(spec)  # one row per point: nothing aggregated, nothing said
    line, base, base_points = units(spec)
    assert mark(line) == "line" and line["mark"]["point"] and filtered(line) == "!datum.dense"
    x, y = line["encoding"]["x"], line["encoding"]["y"]
    assert x["scale"]["type"] == "log"  # 1..512 spans more than 30x
    assert "type" not in y["scale"] and y["scale"]["zero"] is True  # 10..80: linear from zero
    assert x["axis"]["title"] == label("batch") == "batch (sequences)"
    assert y["axis"]["title"] == label("usd_per_million_tokens") == "cost per 1M generated tokens (USD)"
    # the dense baseline: ink, dashed, a legend entry of its own
    assert mark(base) == "line" and base["mark"]["color"] == plots.INK == "black"
    dash = base["encoding"]["strokeDash"]
    assert dash["field"] == "baseline" and dash["scale"] == {"domain": ["dense (dense baseline)"], "range": [[6, 4]]}
    assert mark(base_points) == "point" and base_points["mark"]["color"] == plots.INK
    assert line["encoding"]["color"]["scale"]["domain"] == ["moe"]
    assert line["encoding"]["color"]["legend"]["orient"] == "top"  # above the plot, never over a line
    data = values(spec)
    np.testing.assert_array_equal(data.loc[data.series == "moe", "usd_per_million_tokens"], [10, 30, 60, 80])
    for unit in (line, base, base_points):  # every mark tells its values, with units
        tips = {t["title"] for t in unit["encoding"]["tooltip"]}
        assert label("usd_per_million_tokens") in tips and label("batch") in tips
    params = spec.get("params", []) + line.get("params", [])
    assert any(p["select"]["type"] == "interval" and p.get("bind") == "scales" for p in params)  # zoom, pan


def test_single_point_baseline_is_a_reference_rule_and_panels_per_y():
    df = pd.DataFrame(
        {
            "label": ["dense", "moe", "moe", "moe"],
            "n_experts": [0, 8, 64, 512],
            "params_total": [2e9, 5e9, 30e9, 200e9],
            "energy_mwh": [10, 11, 11, 12],
        }
    )
    spec = plots.plot_sweep(df, "n_experts", ["params_total", "energy_mwh"], hue="label", baseline="dense").to_dict()
    assert len(spec["hconcat"]) == 2
    p_line, p_rule, e_line, e_rule = units(spec)
    assert p_line["encoding"]["x"]["scale"]["type"] == "log"  # the dense n_experts=0 does not break the log axis
    assert p_line["encoding"]["y"]["scale"]["type"] == "log" and "type" not in e_line["encoding"]["y"]["scale"]
    assert mark(e_rule) == "rule" and "x" not in e_rule["encoding"]  # a rule across the whole sweep
    assert e_rule["encoding"]["strokeDash"]["scale"]["range"] == [[6, 4]]
    assert "'B'" in p_line["encoding"]["y"]["axis"]["labelExpr"]  # parameter counts in B, not G
    assert values(spec).set_index("series").loc["moe", "params_total"].tolist() == [5e9, 30e9, 200e9]


def test_plot_bars_values_missing_and_baseline():
    df = pd.DataFrame(
        {"chip": ["a", "a", "b", "b"], "model": ["moe", "dense"] * 2, "cost_usd": [1e6, 2e6, np.nan, 3e6]}
    )
    spec = plots.plot_bars(df, "chip", "cost_usd", hue="model", baseline="dense").to_dict()
    bars, text = units(spec)
    assert mark(bars) == "bar" and mark(text) == "text"
    enc = bars["encoding"]
    assert enc["x"]["sort"] == ["a", "b"] and enc["xOffset"]["field"] == "series"
    assert enc["y"]["axis"]["title"] == "cost at list price (USD)" and enc["y"]["scale"]["zero"] is True
    assert enc["color"]["scale"] == {
        "domain": ["moe", "dense (dense baseline)"],
        "range": [plots.PALETTE[0], plots.BASELINE_FILL],
    }  # the baseline grey
    assert enc["strokeDash"]["condition"] == {"test": "datum.dense", "value": [4, 2]}  # with a dashed outline
    assert enc["stroke"]["condition"]["value"] == plots.INK
    data = values(spec)
    assert data["cost_usd"].tolist()[:2] == [1e6, 2e6] and np.isnan(data["cost_usd"].iloc[2])
    assert data["cost_usd (label)"].tolist() == ["1M", "2M", "n/a", "3M"]  # printed on the bars
    assert text["encoding"]["text"]["field"] == "cost_usd (label)"
    assert {t["title"] for t in enc["tooltip"]} >= {"chip", "model", "cost at list price (USD)"}


def _oat_rows(fn, nominal: dict, ranges: dict) -> pd.DataFrame:
    rows = [{**nominal, "varied": "base"}]
    for k, vals in ranges.items():
        rows += [{**nominal, k: v, "varied": k} for v in vals]
    df = pd.DataFrame(rows)
    res = fn(**{k: df[k].to_numpy(float) for k in nominal})
    return df.assign(energy_mwh=res["energy_mwh"])


def test_sensitivity_table_matches_the_cost_models_tornado():
    bundles = (TrainingRun(3.5e23, 1024, 0.3), Hardware(2.75e14, 326.0), Site(1.11, 0.09, 3.0))
    fn = routed(training_costs, bundles)
    nominal = {"mfu": 0.3, "power_w": 326.0, "pue": 1.11}
    ranges = {"mfu": (0.2, 0.4), "power_w": (250.0, 400.0), "pue": (1.05, 1.6)}
    table = plots.sensitivity_table(_oat_rows(fn, nominal, ranges), "energy_mwh")
    ref = tornado(fn, {k: (lo, nominal[k], hi) for k, (lo, hi) in ranges.items()}, ["energy_mwh"])
    assert table["input"].tolist() == [r["input"] for r in ref]
    for got, want in zip(table.to_dict("records"), ref):
        for key in ("low", "nominal", "high", "energy_mwh_at_low", "energy_mwh_at_high", "energy_mwh_swing"):
            assert got[key] == pytest.approx(want[key], rel=1e-12)
    # hand check: energy = chip-hours x W x PUE; chip-hours = FLOPs / (peak x mfu) / 3600
    e = lambda mfu, w, pue: 3.5e23 / (2.75e14 * mfu) / 3600 * w * pue / 1e6  # noqa: E731
    row = table.set_index("input").loc["pue"]
    assert row["energy_mwh_at_high"] == pytest.approx(e(0.3, 326, 1.6))


def test_plot_tornado_largest_swing_on_top_and_nominal_rule():
    sens = pd.DataFrame(
        [
            {
                "input": "pue",
                "low": 1.0,
                "nominal": 1.1,
                "high": 1.5,
                "e_mwh_at_low": 90,
                "e_mwh_at_high": 140,
                "e_mwh_swing": 50,
            },
            {
                "input": "mfu",
                "low": 0.2,
                "nominal": 0.3,
                "high": 0.4,
                "e_mwh_at_low": 150,
                "e_mwh_at_high": 75,
                "e_mwh_swing": 75,
            },
            {
                "input": "price",
                "low": 1.0,
                "nominal": 2.0,
                "high": 3.0,
                "e_mwh_at_low": 100,
                "e_mwh_at_high": 100,
                "e_mwh_swing": 0,
            },
        ]
    )
    spec = plots.plot_tornado(sens, "e_mwh", base=100.0).to_dict()
    assert title(spec) == "What moves e (MWh)"
    bars, right, left, rule, note = units(spec)
    order = bars["encoding"]["y"]["sort"]
    assert order[0].startswith("MFU") and order[-1].startswith("price")  # largest swing on top
    assert bars["encoding"]["x"]["axis"]["title"] == "e (MWh)" and bars["encoding"]["x"]["scale"]["zero"] is False
    assert bars["encoding"]["x2"]["field"] == "value"
    assert mark(rule) == "rule" and rule["data"]["values"][0]["base"] == 100.0
    assert rule["encoding"]["strokeDash"]["scale"]["range"] == [[6, 4]] and rule["mark"]["color"] == plots.INK
    assert note["data"]["values"][0]["note"].startswith("no effect")
    assert all(u["encoding"].get("tooltip") for u in units(spec))


def test_experts_touched_and_save_png_and_svg(tmp_path):
    df = pd.DataFrame(
        {
            "batch": [1, 10, 100] * 2,
            "n_experts": [8] * 3 + [64] * 3,
            "experts_touched_fraction": [0.25, 0.9, 1.0, 0.03, 0.27, 0.96],
        }
    )
    chart = plots.plot_experts_touched(df)
    spec = chart.to_dict()
    line, every = units(spec)
    assert line["encoding"]["x"]["scale"]["type"] == "log"
    assert line["encoding"]["y"]["scale"]["domain"] == [0, 1.08]
    assert every["data"]["values"][0]["what"] == "every expert read" and mark(every) == "rule"
    assert line["encoding"]["color"]["legend"]["title"] == "experts per MoE layer"
    files = plots.save(chart, tmp_path / "touched")
    assert [f.name for f in files] == ["touched.png", "touched.svg"]
    png, svg = (f.read_bytes() for f in files)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    root = ElementTree.fromstring(svg)  # well-formed XML with an <svg> root and the axis title in it
    assert root.tag.endswith("svg") and b"share of experts read per step" in svg
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temporary file left


def test_energy_comparison_has_one_panel_per_quantity_and_a_caption():
    df = pd.DataFrame(
        {
            "chip": ["tpu-v4", "v100"],
            "model": ["glam", "gpt3"],
            "energy_mwh": [456.0, 1287.0],
            "co2e_t": [40.2, 552.1],
            "cost_usd": [4e6, 1.1e7],
        }
    )
    chart = plots.plot_energy_comparison(df, baseline="gpt3")
    spec = chart.to_dict()
    bars = [u for u in units(spec) if mark(u) == "bar"]
    assert [u["encoding"]["y"]["axis"]["title"] for u in bars] == [
        "facility energy (MWh)",
        "CO2e, market-based (net) (tCO2e)",
        "cost at list price (USD)",
    ]
    assert sorted(values(spec)["energy_mwh"]) == [456.0, 1287.0]
    captioned = plots.add_caption(chart, "n/a: no public price.").to_dict()
    assert title(captioned) == "Training energy, carbon and cost"  # the title stays on top
    assert captioned["vconcat"][-1]["data"]["values"][0]["line"] == "n/a: no public price."


# ---- what the Scaling explorer draws from a whole results table ----

STUDY = pd.DataFrame(
    {  # two models x two prompt lengths x three batch sizes, and a dense row at n_experts = 0
        "model": ["moe"] * 6 + ["dense"] * 6,
        "n_experts": [64] * 6 + [0] * 6,
        "batch": [1, 8, 64] * 4,
        "prompt_len": [128] * 3 + [2048] * 3 + [128] * 3 + [2048] * 3,
        "usd_per_million_tokens": [10.0, 5.0, 2.0, 12.0, 7.0, 4.0, 20.0, 4.0, 1.0, 22.0, 6.0, 3.0],
    }
)


def test_numeric_x_with_several_models_is_coloured_by_model_never_a_zigzag():
    spec = plots.plot_sweep(STUDY, "batch", "usd_per_million_tokens").to_dict()  # no hue given
    line = units(spec)[0]
    assert line["encoding"]["color"]["field"] == "series" and line["encoding"]["color"]["legend"]["title"] == "model"
    assert "Coloured by model" in subtitle(spec)
    data = values(spec)
    for _, g in data.groupby("series"):  # one point per x in each line: the line only moves forward
        assert g["batch"].is_unique and g["batch"].is_monotonic_increasing
    assert data.loc[data.dense, "series"].unique().tolist() == ["dense (dense baseline)"]


def test_several_rows_per_x_are_aggregated_and_the_chart_says_so():
    spec = plots.plot_sweep(STUDY, "batch", "usd_per_million_tokens", hue="model").to_dict()
    assert "mean of 2 rows with the same batch (sequences) and model" in subtitle(spec)
    assert "differ in prompt length (tokens)" in subtitle(spec)
    moe = values(spec).query("series == 'moe'")
    assert moe["usd_per_million_tokens"].tolist() == [11.0, 6.0, 3.0] and moe["rows"].tolist() == [2, 2, 2]
    spec = plots.plot_sweep(STUDY, "batch", "usd_per_million_tokens", hue="model", agg="max").to_dict()
    assert "max of 2 rows" in subtitle(spec)
    assert values(spec).query("series == 'moe'")["usd_per_million_tokens"].tolist() == [12.0, 7.0, 4.0]
    # bars: every row counts (not the first per category), and the subtitle says how
    spec = plots.plot_bars(STUDY, "model", "usd_per_million_tokens").to_dict()
    assert "Each bar is the mean of 6 rows with the same model" in subtitle(spec)
    assert values(spec)["usd_per_million_tokens"].tolist() == pytest.approx([40 / 6, 56 / 6])


def test_facet_splits_rows_instead_of_aggregating():
    spec = plots.plot_sweep(STUDY, "batch", "usd_per_million_tokens", hue="model", facet="prompt_len").to_dict()
    assert spec["facet"]["column"]["field"] == "prompt_len" and spec["facet"]["column"]["title"] == label("prompt_len")
    assert "mean" not in subtitle(spec) and len(spec["data"]["values"]) == 12  # every row its own point


def test_dense_model_is_not_joined_into_the_moe_line_at_x_zero():
    df = pd.DataFrame(
        {"model": ["dense", "moe", "moe", "moe"], "n_experts": [0, 8, 64, 512], "energy_mwh": [9.8, 10.7, 10.7, 10.8]}
    )
    spec = plots.plot_sweep(df, "n_experts", "energy_mwh").to_dict()  # no hue, no baseline named
    line, rule = units(spec)
    assert filtered(line) == "!datum.dense" and mark(rule) == "rule" and "x" not in rule["encoding"]
    data = values(spec)
    assert data.loc[~data.dense, "n_experts"].tolist() == [8, 64, 512]  # the line starts at the first MoE model
    assert data.loc[data.dense, "series"].tolist() == ["dense (dense baseline)"]


def test_ratio_axes_do_not_start_at_zero():
    assert plots.is_ratio("glam_over_gpt3") and plots.is_ratio("XLA FLOPs / analytic FLOPs")
    assert not plots.is_ratio("energy_mwh") and not plots.is_ratio("experts_touched_fraction")
    df = pd.DataFrame(
        {
            "case": ["a", "a", "b", "b"],
            "kind": ["model", "hardware"] * 2,
            "XLA FLOPs / analytic FLOPs": [1.02, 1.31, 1.01, 1.12],
        }
    )
    spec = plots.plot_bars(df, "case", "XLA FLOPs / analytic FLOPs", hue="kind").to_dict()
    dots = units(spec)[0]
    assert mark(dots) == "point" and dots["encoding"]["y"]["scale"]["zero"] is False  # dots, not cut bars
    sweep = plots.plot_sweep(
        pd.DataFrame({"batch": [1, 2, 4], "glam_over_gpt3": [0.9, 1.1, 1.3]}), "batch", "glam_over_gpt3"
    ).to_dict()
    assert units(sweep)[0]["encoding"]["y"]["scale"]["zero"] is False


def test_field_names_that_vega_would_misread_are_renamed():
    df = pd.DataFrame({"step": [1, 2, 3], "model.loss (nats)": [3.0, 2.0, 1.5]})
    spec = plots.plot_sweep(df, "step", "model.loss (nats)").to_dict()
    y = units(spec)[0]["encoding"]["y"]
    assert y["field"] == "model_loss (nats)" and y["axis"]["title"] == label("model.loss (nats)")
    assert values(spec)["model_loss (nats)"].tolist() == [3.0, 2.0, 1.5]

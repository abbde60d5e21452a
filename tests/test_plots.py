"""The shared plotting module: labels with units, scales, the dense baseline, tornado tables."""

from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from glamsim import plots
from glamsim.cost.training import training_costs
from glamsim.cost.uncertainty import tornado


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("column, text", [
    ("energy_mwh", "energy (MWh)"),
    ("decode_step_s", "decoding step (s)"),
    ("kv_cache_gb_full_context", "KV cache at full context (GB)"),
    ("prefill_s", "prefill time (s)"),
    ("hbm_bandwidth_gb_per_s", "HBM bandwidth (GB/s)"),
    ("price_per_chip_hour_usd", "price (USD per chip-hour)"),
    ("prompt_len", "prompt length (tokens)"),
    ("serving_mfu", "serving MFU (fraction of dense peak)"),
    ("mfu", "MFU"),
])
def test_labels_spell_out_units(column, text):
    assert plots.label(column) == text


SERVE = pd.DataFrame({
    "model": ["moe"] * 4 + ["dense"] * 4,
    "batch": [1, 8, 64, 512] * 2,
    "usd_per_million_tokens": [10.0, 30.0, 60.0, 80.0, 40.0, 40.0, 40.0, 40.0],
    "prompt_len": [128] * 8,
})


def test_plot_sweep_lines_scales_and_baseline():
    fig = plots.plot_sweep(SERVE, "batch", "usd_per_million_tokens", hue="model", baseline="dense", title="T")
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"  # 1..512 spans more than 30x
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0  # 10..80: linear from zero
    assert ax.get_xlabel() == "batch (sequences)" and ax.get_ylabel() == "cost per 1M generated tokens (USD)"
    lines = {line.get_label(): line for line in ax.get_lines()}
    base = lines["dense (dense baseline)"]
    assert base.get_linestyle() == "--" and base.get_color() == "black"
    np.testing.assert_array_equal(lines["moe"].get_ydata(), [10, 30, 60, 80])
    assert fig._suptitle.get_text() == "T"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["moe", "dense (dense baseline)"]


def test_single_point_baseline_is_a_reference_line_and_panels_per_y():
    df = pd.DataFrame({"label": ["dense", "moe", "moe", "moe"], "n_experts": [0, 8, 64, 512],
                       "params_total": [2e9, 5e9, 30e9, 200e9], "energy_mwh": [10, 11, 11, 12]})
    fig = plots.plot_sweep(df, "n_experts", ["params_total", "energy_mwh"], hue="label", baseline="dense")
    ax_p, ax_e = fig.axes[:2]
    assert ax_p.get_xscale() == "log"  # the dense n_experts=0 does not break the log axis
    assert ax_p.get_yscale() == "log" and ax_e.get_yscale() == "linear"
    base = [ln for ln in ax_e.get_lines() if ln.get_label().startswith("dense")][0]
    assert list(base.get_ydata()) == [10, 10]  # axhline across the sweep
    assert ax_p.yaxis.get_major_formatter()(2e11, 0) == "200B"  # parameter counts in B


def test_plot_bars_values_missing_and_baseline():
    df = pd.DataFrame({"chip": ["a", "a", "b", "b"], "model": ["moe", "dense"] * 2,
                       "cost_usd": [1e6, 2e6, np.nan, 3e6]})
    fig = plots.plot_bars(df, "chip", "cost_usd", hue="model", baseline="dense")
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [1e6, 0.0, 2e6, 3e6]  # moe bars (a, b), then dense bars
    texts = [t.get_text() for t in ax.texts]
    assert "n/a" in texts and "3M" in texts
    assert ax.patches[2].get_hatch() == "//"
    assert ax.get_ylabel() == "cost at list price (USD)"


def _oat_rows(fn, nominal: dict, ranges: dict) -> pd.DataFrame:
    rows = [{**nominal, "varied": "base"}]
    for k, vals in ranges.items():
        rows += [{**nominal, k: v, "varied": k} for v in vals]
    df = pd.DataFrame(rows)
    res = fn(**{k: df[k].to_numpy(float) for k in nominal})
    return df.assign(energy_mwh=res["energy_mwh"])


def test_sensitivity_table_matches_the_cost_models_tornado():
    fn = partial(training_costs, 3.5e23, 1024, 2.75e14, carbon_intensity_kg_per_kwh=0.09, price_per_chip_hour_usd=3.0)
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


def test_plot_tornado_largest_swing_on_top_and_nominal_line():
    sens = pd.DataFrame([
        {"input": "pue", "low": 1.0, "nominal": 1.1, "high": 1.5, "e_mwh_at_low": 90, "e_mwh_at_high": 140,
         "e_mwh_swing": 50},
        {"input": "mfu", "low": 0.2, "nominal": 0.3, "high": 0.4, "e_mwh_at_low": 150, "e_mwh_at_high": 75,
         "e_mwh_swing": 75},
        {"input": "price", "low": 1.0, "nominal": 2.0, "high": 3.0, "e_mwh_at_low": 100, "e_mwh_at_high": 100,
         "e_mwh_swing": 0},
    ])
    fig = plots.plot_tornado(sens, "e_mwh", base=100.0)
    ax = fig.axes[0]
    ticks = [t.get_text().split("\n")[0] for t in ax.get_yticklabels()]
    assert ticks[-1].startswith("MFU") and ticks[0] == "price"  # top = last tick
    assert any("no effect" in t.get_text() for t in ax.texts)
    vline = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"][0]
    assert list(vline.get_xdata()) == [100.0, 100.0]
    assert ax.get_xlabel() == "e (MWh)"


def test_experts_touched_and_save(tmp_path):
    df = pd.DataFrame({"batch": [1, 10, 100] * 2, "n_experts": [8] * 3 + [64] * 3,
                       "experts_touched_fraction": [0.25, 0.9, 1.0, 0.03, 0.27, 0.96]})
    fig = plots.plot_experts_touched(df)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_ylim() == (0, 1.08)
    assert "every expert read" in [ln.get_label() for ln in ax.get_lines()]
    files = plots.save(fig, tmp_path / "touched")
    assert [f.name for f in files] == ["touched.png", "touched.svg"]
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in files[1].read_bytes()[:500]


def test_energy_comparison_has_one_panel_per_quantity():
    df = pd.DataFrame({"chip": ["tpu-v4", "v100"], "model": ["glam", "gpt3"], "energy_mwh": [456.0, 1287.0],
                       "co2e_t": [40.2, 552.1], "cost_usd": [4e6, 1.1e7]})
    fig = plots.plot_energy_comparison(df, baseline="gpt3")
    assert [ax.get_ylabel() for ax in fig.axes[:3]] == ["energy (MWh)", "CO2e, net (tCO2e)", "cost at list price (USD)"]
    assert sorted(p.get_height() for p in fig.axes[0].patches if p.get_height()) == [456.0, 1287.0]

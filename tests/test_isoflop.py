"""The IsoFLOP study's grid, plan and report (glamsim.cost.quality.isoflop, no JAX) and its command line's bad
inputs, against hand-derived expectations.  Training the grid is tested in test_isoflop_run.py (slow tier)."""

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from glamsim.config import ConfigError
from glamsim.cost.quality import isoflop as iso
from glamsim.cost.quality import laws as L


def test_parameter_counts_of_the_default_widths_by_hand():
    # width 32, 2 layers, heads of 16 (2 heads), d_ff 128, byte vocabulary tied:
    # embedding 256*32 = 8,192; attention q, k, v, o 4*32*32 = 4,096; relative bias 32 buckets x 2 heads = 64;
    # two RMSNorms 64; gated FFN 3*32*128 = 12,288; final norm 32
    attn, norms = 4 * 32 * 32 + 32 * 2, 2 * 32
    dense_layer = attn + norms + 3 * 32 * 128
    dense = 8192 + 2 * dense_layer + 32
    # GLaM's placement: layer 1 is MoE, 8 experts of 2 matrices (2*32*128), top-2 active, router 32*8
    moe_active = attn + norms + 2 * (2 * 32 * 128) + 32 * 8
    moe_total = attn + norms + 8 * (2 * 32 * 128) + 32 * 8
    p = iso.plan(iso.IsoflopGrid())
    d32 = p[(p["d_model"] == 32)].set_index("family")
    assert d32.loc["dense", "params_active"].iloc[0] == dense == 41_248
    assert d32.loc["moe-8e", "params_active"].iloc[0] == 8192 + dense_layer + moe_active + 32 == 45_600
    assert d32.loc["moe-8e", "params_total"].iloc[0] == 8192 + dense_layer + moe_total + 32


def test_plan_rows_steps_and_compute():
    grid = iso.IsoflopGrid()
    p = iso.plan(grid)
    assert len(p) == len(grid.budgets) * len(grid.widths) * (1 + len(grid.experts)) == 30
    assert p["key"].is_unique
    # steps = round(C / (6 N x batch x seq)); the compute 6 N D the run gets is within half a step of C
    one_step = 6 * p["params_active"] * grid.batch_size * grid.seq_len
    assert (p["steps"] == (p["budget_flops"] / one_step).round()).all()
    assert ((p["compute_flops"] - p["budget_flops"]).abs() <= one_step / 2).all()
    assert (p["tokens"] == p["steps"] * grid.batch_size * grid.seq_len).all()
    # the widest model at the smallest budget: 7.5e10 / (6 x 148,032 x 1,024) = 82.5 -> 82 steps
    assert p.loc[(p["d_model"] == 64) & (p["family"] == "dense"), "steps"].min() == 82


def test_a_run_key_changes_with_what_its_loss_depends_on():
    base = iso.plan(iso.IsoflopGrid())["key"]
    assert (iso.plan(iso.IsoflopGrid(seed=1))["key"] != base).all()
    assert (iso.plan(iso.IsoflopGrid(learning_rate=0.005))["key"] != base).all()
    # adding a budget keeps the keys of the runs the two grids share
    more = iso.plan(iso.IsoflopGrid(budgets=(*iso.IsoflopGrid().budgets, 6e11)))["key"]
    assert set(base) < set(more)


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"widths": (20,)}, "multiples of 16"),
        ({"budgets": (1e11, 1e11)}, "repeated"),
        ({"experts": (1,)}, "at least 2 experts"),
        ({"budgets": (1e3,)}, "less than one step"),
        ({"budgets": (1e14,), "widths": (16,)}, "more than 200,000"),
        ({"n_layers": 1}, "places no MoE layer"),
        ({"template": "no-such-model"}, "no-such-model"),
        ({"budgets": ()}, "budgets"),
    ],
)
def test_bad_grids_refused_in_one_line(fields, words):
    with pytest.raises(ConfigError) as err:
        iso.plan(iso.as_grid(**fields))
    assert words in str(err.value) and "\n" not in str(err.value)


def synthetic_runs(widths=(16, 32, 64, 128, 256), budgets=(3e10, 1e11, 3e11, 1e12, 3e12), boost=2.0):
    """Runs of a plan whose losses follow a known dense law; the MoE family is worth `boost` x its
    activated parameters (a routed model as an effective parameter count)."""
    grid = iso.IsoflopGrid(widths=widths, budgets=budgets)
    runs = iso.plan(grid)
    n_eff = runs["params_active"] * np.where(runs["n_experts"] > 0, boost, 1.0)
    runs["val_loss"] = L.dense_loss(TRUE, n_eff, runs["tokens"])
    return runs


TRUE = {"E": 1.0, "A": 30.0, "B": 60.0, "alpha": 0.35, "beta": 0.3}


def test_report_rows_line_up_with_the_runs():
    runs = synthetic_runs()
    rep = iso.report(runs, n_bootstrap=0)
    # one coefficient row per family and coefficient, each counting that family's runs
    co = rep["coefficients"]
    assert list(co["family"].unique()) == ["dense", "moe-8e"]
    assert (co.groupby("family")["n_points"].first() == runs.groupby("family").size()).all()
    assert set(co["coefficient"]) == {"E", "A", "B", "alpha", "beta", "a"}
    # one advantage row per MoE budget, its best losses the minima of the runs at that budget
    adv = rep["advantage"]
    assert list(adv["budget_flops"]) == sorted(runs["budget_flops"].unique())
    for _, row in adv.iterrows():
        at = runs[runs["budget_flops"] == row["budget_flops"]]
        assert row["dense_best_loss"] == at.loc[at["family"] == "dense", "val_loss"].min()
        assert row["moe_best_loss"] == at.loc[at["family"] == "moe-8e", "val_loss"].min()
    # published values beside each coefficient, from the law files
    alpha = co[(co["family"] == "dense") & (co["coefficient"] == "alpha")].iloc[0]
    assert (alpha["chinchilla"], alpha["besiroglu"]) == (0.34, 0.3478)


def test_report_recovers_a_known_law_and_its_compute_advantage():
    runs = synthetic_runs()
    rep = iso.report(runs, n_bootstrap=0)
    fit = rep["fits"]["dense"]["fit"]
    assert fit["alpha"] == pytest.approx(TRUE["alpha"], rel=0.05)
    assert fit["beta"] == pytest.approx(TRUE["beta"], rel=0.05)
    assert fit["a"] == pytest.approx(0.3 / 0.65, rel=0.05)
    assert fit["rms_log_residual"] < 1e-3 and rep["fits"]["dense"]["note"] == ""  # the law's own losses
    for _, row in rep["advantage"].iterrows():
        assert row["advantage_fitted"] > 1  # a routed model worth 2x its parameters needs less compute
        assert row["loss_gap"] > 0
    # law against law, by the closed forms (Hoffmann et al. 2022, Eq. 4): the MoE family follows the dense law
    # at 2N, so its compute-optimal loss at C is the dense law's with A' = A / 2^alpha
    coefs = [TRUE[k] for k in ("E", "A", "B", "alpha", "beta")]
    moe = [coefs[0], coefs[1] / 2 ** coefs[3], *coefs[2:]]
    for _, row in rep["advantage"].iterrows():
        n, d = L.optimum_for_compute(*moe, row["budget_flops"])
        moe_loss = moe[0] + moe[1] / n ** moe[3] + moe[2] / d ** moe[4]
        want = L.compute_for_loss(*coefs, moe_loss) / row["budget_flops"]
        assert row["advantage_fitted"] == pytest.approx(want, rel=0.1)


def test_measured_advantage_on_the_dense_frontier_by_hand():
    # dense best losses 3.0, 2.8, 2.6 at 1e10, 2e10, 4e10: 0.2 per doubling of compute.  The MoE's 2.7 at 2e10
    # is reached by dense at 1e10 x 2^((3.0 - 2.7) / 0.2) = 2^1.5 x 1e10: an advantage of 2^0.5; its 2.5 at 4e10
    # lies past the last budget, along the last segment: 4e10 x 2^0.5, again 2^0.5
    rows = []
    for fam, experts, losses in (("dense", 0, (3.0, 2.8, 2.6)), ("moe-8e", 8, (2.95, 2.7, 2.5))):
        for budget, loss in zip((1e10, 2e10, 4e10), losses):
            rows.append({"family": fam, "n_experts": experts, "budget_flops": budget, "val_loss": loss})
    rows.append({"family": "dense", "n_experts": 0, "budget_flops": 4e10, "val_loss": 2.9})  # a worse width
    adv = iso.advantages(pd.DataFrame(rows), {}).set_index("budget_flops")
    assert adv.loc[2e10, "advantage_measured"] == pytest.approx(2**0.5)
    assert adv.loc[4e10, "advantage_measured"] == pytest.approx(2**0.5)
    assert adv.loc[1e10, "advantage_measured"] == pytest.approx(2 ** (0.05 / 0.2))
    assert adv["advantage_fitted"].isna().all()  # no fits given
    # a frontier that does not fall: no advantage can be read off it
    assert math.isnan(iso.frontier_compute([1e10, 2e10], [2.0, 2.0], 1.9))


def test_a_law_that_misses_its_runs_is_flagged():
    runs = synthetic_runs()
    runs["val_loss"] *= np.where(runs["steps"] > runs["steps"].median(), 0.9, 1.0)  # a drop the form cannot follow
    rep = iso.report(runs, n_bootstrap=0)
    assert rep["fits"]["dense"]["fit"]["rms_log_residual"] > iso.POOR_FIT_RMS
    assert "unidentified" in rep["fits"]["dense"]["note"]


def test_a_family_with_too_few_runs_is_reported_unfitted():
    runs = synthetic_runs(widths=(16, 32), budgets=(1e11, 1e12))  # 4 runs per family
    rep = iso.report(runs, n_bootstrap=0)
    assert rep["fits"]["dense"]["fit"] is None and "needs 5" in rep["fits"]["dense"]["note"]
    assert rep["coefficients"]["fitted"].isna().all()
    adv = rep["advantage"]
    assert len(adv) == 2 and adv["advantage_fitted"].isna().all() and (adv["loss_gap"] > 0).all()
    js = iso.report_json(rep)  # NaN as null: plain JSON
    assert js["advantage"][0]["advantage_fitted"] is None


def test_published_advantage_is_clarks_law_and_says_it_extrapolates():
    r = iso.published_advantage(8, 1e20)
    assert 1 < r["advantage"] < 3
    tiny = iso.published_advantage(8, 3e11)
    assert "outside clark-sbase's fitted range" in tiny["extrapolates"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["study", "isoflop", "--widths", "20"], "multiples of 16"),
        (["study", "isoflop", "--widths", "32,x"], "comma-separated"),
        (["study", "isoflop", "--budgets", "1e3"], "less than one step"),
        (["study", "isoflop", "--force"], "--force"),
        (["study", "experts-sweep", "--widths", "32"], "isoflop study only"),
    ],
)
def test_command_line_bad_inputs_one_line_before_jax(args, words, tmp_path):
    from glamsim.cli import app

    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0]
    assert not (tmp_path / "o").exists()


def test_the_study_is_listed_with_the_built_in_ones():
    from glamsim.cli import app

    r = CliRunner().invoke(app, ["study", "--list", "--json"])
    assert r.exit_code == 0
    assert "isoflop" in r.output and '"scenarios": 30' in r.output

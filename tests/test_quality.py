"""Scaling laws and plans at equal quality (glamsim.cost.quality), against hand-derived expectations."""

import math

import pytest

from glamsim.config import ConfigError
from glamsim.cost.quality import laws as L
from glamsim.cost.quality.checks import checks
from glamsim.cost.quality.plan import plan
from glamsim.laws import load_law, scaling_laws


def test_every_law_carries_sources_and_ranges():
    laws = scaling_laws()
    assert {"chinchilla", "chinchilla-precise", "besiroglu", "clark-sbase", "krajewski"} <= set(laws)
    for law in laws.values():
        assert all(c.source for c in law.coefficients.values())
        assert law.valid and law.verified


def test_chinchilla_optimum_from_its_closed_form_by_hand():
    # Hoffmann et al. 2022, Eq. 4, worked by hand for C = 1e21 with E=1.69, A=406.4, B=410.7, a=.34, b=.28:
    # G = (0.34*406.4 / (0.28*410.7))^(1/0.62) = 1.34447; N* = G * (1e21/6)^(0.28/0.62); D* = C / (6 N*)
    law = load_law("chinchilla")
    g = (0.34 * 406.4 / (0.28 * 410.7)) ** (1 / 0.62)
    n_hand = g * (1e21 / 6) ** (0.28 / 0.62)
    n, d = L.optimum_for_compute(*L.dense_coefficients(law), 1e21)
    assert n == pytest.approx(n_hand, rel=1e-12)
    assert 6 * n * d == pytest.approx(1e21)
    # the inverse: the least compute reaching the optimum's own loss is that compute
    loss = float(L.dense_loss(law, n, d))
    assert L.dense_plan(law, loss)["compute"] == pytest.approx(1e21, rel=1e-9)


def test_law_at_a_published_point():
    # GPT-3 (175B params, 300B tokens) under the printed Approach 3 law, evaluated by hand
    law = load_law("chinchilla")
    hand = 1.69 + 406.4 / 175e9**0.34 + 410.7 / 300e9**0.28
    assert float(L.dense_loss(law, 175e9, 300e9)) == pytest.approx(hand, rel=1e-12)


def test_published_checks_within_tolerance():
    rows = checks()
    assert rows and all(r["ok"] for r in rows), [(r["check"], r["error"]) for r in rows if not r["ok"]]
    gopher = rows[0]
    assert gopher["glamsim"] == pytest.approx(40e9, rel=0.05)


def test_effective_params_identity_and_cutoff():
    clark = load_law("clark-sbase")
    assert float(L.effective_params(clark, 1e8, 1)) == pytest.approx(1e8, rel=1e-9)  # one expert: dense
    assert float(L.effective_params(clark, 1e8, 64)) > 1e8  # routing helps below the cutoff
    # rounded Table 3 puts the cutoff at 10^(-b/c) = 10^12: there N̄ = N for every E
    assert float(L.effective_params(clark, 1e12, 256)) == pytest.approx(1e12, rel=1e-9)


def test_moe_needs_less_compute_at_equal_quality_and_reaches_the_target():
    r = plan(target_loss=2.2, experts="8,64", mfu=0.4)
    dense, m8, m64 = r["rows"]
    assert dense["law_compute_flops"] > m8["law_compute_flops"] > m64["law_compute_flops"]
    law, clark = load_law("chinchilla"), load_law("clark-sbase")
    for row in r["rows"]:
        n_eff = (
            row["params_active"]
            if not row["n_experts"]
            else float(L.effective_params(clark, row["params_active"], row["n_experts"]))
        )
        assert float(L.dense_loss(law, n_eff, row["tokens"])) == pytest.approx(2.2, rel=1e-9)
        assert row["model"].n_experts == row["n_experts"]
        assert row["train_energy_low_mwh"] <= row["train_energy_mwh"] <= row["train_energy_high_mwh"]
        assert row["total_cost_usd"] == pytest.approx(row["train_cost_usd"] + row["serve_cost_usd"])
    # the built dense model is within 2% of the law's compute-optimal size
    assert dense["params_active"] == pytest.approx(L.dense_plan(law, 2.2)["params"], rel=0.02)


def test_crossover_is_where_lifetime_costs_meet():
    r = plan(as_good_as="gpt3-175b", tokens=300e9, experts="64", mfu=0.4)
    d, m = r["rows"]
    t = m["crossover_served_tokens"]
    if not math.isnan(t):
        cost = lambda row: row["train_cost_usd"] + row["serve_usd_per_million_tokens"] * t / 1e6  # noqa: E731
        assert cost(d) == pytest.approx(cost(m), rel=1e-9)


@pytest.mark.parametrize(
    "fields, words",
    [
        (dict(target_loss=1.5), "target_loss=1.5: at or below chinchilla's irreducible loss E=1.69"),
        (dict(target_loss=-1.0), "target_loss=-1.0"),
        (dict(target_loss=2.0, experts="0"), "experts='0': 0 experts: each count must be between 2 and 65536"),
        (dict(target_loss=2.0, dense_law="nope"), "dense_law='nope': unknown scaling law"),
        (dict(target_loss=2.0, routed_law="chinchilla"), "a dense law; this needs a routed law"),
        (dict(as_good_as="gpt3-175b"), "as_good_as='gpt3-175b': needs tokens"),
    ],
)
def test_bad_inputs_refused_in_one_line(fields, words):
    with pytest.raises(ConfigError, match=None) as err:
        plan(mfu=0.4, **fields)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_cli_quality_json_and_exit_code():
    import json

    from typer.testing import CliRunner

    from glamsim.cli import app

    ok = CliRunner().invoke(app, ["quality", "--target-loss", "2.3", "--experts", "64", "--mfu", "0.4", "--json"])
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.output)
    assert [r["n_experts"] for r in out["rows"]] == [0, 64]
    bad = CliRunner().invoke(app, ["quality", "--target-loss", "1.0"])
    assert bad.exit_code == 2


def test_front_door_frame():
    import glamsim.api as gs

    df = gs.quality(target_loss=2.3, experts=[8], mfu=0.4)
    assert list(df["n_experts"]) == [0, 8] and "ledger" in df.attrs


def test_every_quality_field_is_a_command_line_option_with_its_metadata():
    """`glamsim quality` is derived from `QualityScenario`: one option per field, its help carrying the
    field's unit and the default's source (as `estimate`'s options do)."""
    import typer

    from glamsim.cli import app
    from glamsim.cost.quality import QualityScenario

    cmd = typer.main.get_command(app).commands["quality"]
    params = {o: p for p in cmd.params for o in p.opts}
    for name in QualityScenario.inputs():
        p = params["--" + name.replace("_", "-")]
        meta = QualityScenario.meta(name)
        assert meta["help"] in p.help and meta["source"] in p.help, name


def _law_file(tmp_path, se: dict) -> str:
    """Besiroglu et al.'s law as a user file with other standard errors."""
    import yaml

    from glamsim.config import data_dir

    d = yaml.safe_load((data_dir("scaling_laws") / "besiroglu.yaml").read_text())
    d["name"] = "mine"
    for k, v in se.items():
        d["coefficients"][k]["se"] = v
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(d))
    return str(path)


def test_standard_errors_widen_a_law_into_a_range(tmp_path):
    """Besiroglu et al.'s published standard errors give a range around the law's own compute; standard
    errors of zero give that compute alone, and a law without them (Chinchilla's) adds no range."""
    from glamsim.accounting import count
    from glamsim.config import load_model
    from glamsim.cost.quality import laws as L
    from glamsim.laws import load_law

    ref = dict(as_good_as="gpt3-175b", tokens=300e9, experts=[64], mfu=0.4)
    only = plan(**ref, spread_laws=["besiroglu"], standard_errors=False)["rows"]
    wide = plan(**ref, spread_laws=["besiroglu"])["rows"]
    for a, b in zip(only, wide):
        assert b["law_compute_low_flops"] < a["law_compute_low_flops"] <= a["law_compute_high_flops"]
        assert b["law_compute_high_flops"] > a["law_compute_high_flops"]
    # zero standard errors: every draw is the law itself, so the range is what the law alone gives
    zero = _law_file(tmp_path, {k: 0.0 for k in ("E", "A", "B", "alpha", "beta")})
    on, off = (plan(**ref, spread_laws=[zero], standard_errors=se)["rows"] for se in (True, False))
    for a, b in zip(on, off):
        assert a["law_compute_low_flops"] == pytest.approx(b["law_compute_low_flops"], rel=1e-12)
        assert a["law_compute_high_flops"] == pytest.approx(b["law_compute_high_flops"], rel=1e-12)
    # ... and that is Besiroglu's own dense optimum at GPT-3's loss (by hand from the closed form), which
    # lies above Chinchilla's: the range's top, to the built shape's rounding
    b = load_law("besiroglu")
    n = float(count(load_model("gpt3-175b")).params_active)
    own = L.dense_plan(b, float(L.dense_loss(b, n, 300e9)))["compute"]
    assert own > off[0]["law_compute_flops"]
    assert off[0]["law_compute_high_flops"] == pytest.approx(own, rel=1e-3)
    chin = plan(**ref, spread_laws=["chinchilla"])["rows"][0]
    assert chin["law_compute_low_flops"] == chin["law_compute_high_flops"] == chin["law_compute_flops"]


def _synthetic(noise: float = 0.0):
    """Losses from a known law (not a shipped one) on a 5 x 5 grid of sizes and tokens, with optional
    multiplicative noise (seeded)."""
    import numpy as np

    truth = {"E": 1.5, "A": 50.0, "B": 300.0, "alpha": 0.35, "beta": 0.3}
    n, d = (x.ravel() for x in np.meshgrid(np.logspace(5, 7, 5), np.logspace(6, 9, 5)))
    loss = truth["E"] + truth["A"] / n ** truth["alpha"] + truth["B"] / d ** truth["beta"]
    loss = loss * np.exp(noise * np.random.default_rng(1).standard_normal(loss.size))
    return truth, n, d, loss


@pytest.mark.parametrize("use_scipy", [True, False])
def test_fit_recovers_a_known_law(use_scipy):
    """Hoffmann et al.'s Huber-on-log-loss fit, with scipy's L-BFGS-B or the numpy fallback, recovers the
    exponents and the irreducible loss of the law that generated the losses."""
    from glamsim.cost.quality.fit import fit_law

    truth, n, d, loss = _synthetic()
    f = fit_law(n, d, loss, use_scipy=use_scipy)
    assert f["alpha"] == pytest.approx(truth["alpha"], abs=0.005)
    assert f["beta"] == pytest.approx(truth["beta"], abs=0.005)
    assert f["E"] == pytest.approx(truth["E"], abs=0.005)


def test_fit_with_noise_and_its_bootstrap_interval():
    from glamsim.cost.quality.fit import bootstrap, fit_law

    truth, n, d, loss = _synthetic(noise=0.01)
    f = fit_law(n, d, loss)
    assert f["alpha"] == pytest.approx(truth["alpha"], abs=0.03)
    assert f["beta"] == pytest.approx(truth["beta"], abs=0.03)
    ci = bootstrap(n, d, loss, n=6, quantiles=(0.0, 1.0))
    assert ci["beta"][0] <= f["beta"] <= ci["beta"][1] and ci["beta"][1] - ci["beta"][0] < 0.1
    with pytest.raises(ValueError, match="at least 5 points"):
        fit_law(n[:4], d[:4], loss[:4])

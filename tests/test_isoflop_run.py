"""The IsoFLOP study trained for real (slow tier: it compiles the JAX model): a 2 x 2 grid (dense and 4 experts
at two budgets) of a few steps on a small corpus; its runs equal independent training runs, its files line up
with its runs, and a second call trains nothing."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import glamsim
import glamsim.api as gs
from glamsim.cost.quality import isoflop as iso

CORPUS = str(Path(glamsim.__file__).parent / "model")  # a few hundred KB of Python: quick to read
SMALL = dict(widths=(16,), experts=(4,), batch_size=2, seq_len=32, eval_batches=2, corpus=(CORPUS,))
ONE_STEP = 6 * 12_432 * 2 * 32  # the dense width-16 model (12,432 parameters) on one batch of 2 x 32 bytes
BUDGETS = (4 * ONE_STEP, 8 * ONE_STEP)


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("isoflop")
    return out, gs.isoflop(str(out), budgets=BUDGETS, bootstrap=0, **SMALL)


def test_a_fresh_grid_trains_every_run_and_writes_the_study(first):
    out, df = first
    assert (df.attrs["trained"], df.attrs["reused"]) == (4, 0)
    plan = iso.plan(iso.as_grid(budgets=BUDGETS, **SMALL))
    assert list(df["key"]) == list(plan["key"])  # the rows are the plan's runs, in its order
    assert list(df.loc[df["family"] == "dense", "steps"]) == [4, 8]
    assert df["val_loss"].between(0, math.log(256) + 1).all()
    assert (df["val_bpb"] == df["val_loss"] / math.log(2)).all()
    for name in ("runs.parquet", "runs.csv", "report.json", "ledger.json", "isoflop.png", "frontier.svg"):
        assert (out / name).is_file()
    csv = pd.read_csv(out / "runs.csv")
    assert list(csv["key"]) == list(df["key"]) and csv["val_loss"].tolist() == pytest.approx(df["val_loss"].tolist())
    ledger = json.loads((out / "ledger.json").read_text())
    assert ledger["n_runs"] == 4 and ledger["machine"]["backend"] == "cpu" and ledger["grid"]["widths"] == [16]


def test_report_rows_line_up_with_the_runs(first):
    out, df = first
    rep = json.loads((out / "report.json").read_text())
    assert [r["budget_flops"] for r in rep["advantage"]] == sorted(BUDGETS)
    for r in rep["advantage"]:
        at = df[df["budget_flops"] == r["budget_flops"]]
        assert r["dense_best_loss"] == pytest.approx(at.loc[at["family"] == "dense", "val_loss"].min())
        assert r["moe_best_loss"] == pytest.approx(at.loc[at["family"] == "moe-4e", "val_loss"].min())
    assert {(r["family"], r["n_points"]) for r in rep["coefficients"]} == {("dense", 2), ("moe-4e", 2)}
    assert all(f["fit"] is None for f in rep["fits"].values())  # two runs per family: too few to fit


def test_the_command_line_reads_the_same_runs(first):
    from typer.testing import CliRunner

    from glamsim.cli import app

    out, df = first
    args = ["study", "isoflop", "--out", str(out), "--budgets", ",".join(map(str, BUDGETS)), "--widths", "16"]
    args += ["--experts", "4", "--batch", "2", "--seq-len", "32", "--eval-batches", "2", "--corpus", CORPUS]
    r = CliRunner().invoke(app, [*args, "--bootstrap", "0", "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert (got["trained"], got["reused"]) == (0, 4)
    assert [x["val_loss"] for x in got["runs"]] == df["val_loss"].tolist()
    assert [x["budget_flops"] for x in got["report"]["advantage"]] == sorted(BUDGETS)


def test_a_run_equals_an_independent_training_run(first):
    """The shorter run is the prefix of its model's trajectory: the same loss as the trainer's own run of that
    many steps (glamsim.trainer.train, its own loop, jit and evaluation)."""
    from glamsim.model.data import load_corpus
    from glamsim.model.train import TrainConfig
    from glamsim.trainer import train

    _, df = first
    grid = iso.as_grid(budgets=BUDGETS, **SMALL)
    cfg = iso.shape(grid, 16, 0)
    tc = TrainConfig(steps=4, batch_size=2, seq_len=32, learning_rate=0.01, seed=0, eval_every=4, eval_batches=2)
    summary = train(cfg, tc, load_corpus([CORPUS]), progress=False)
    run = df[(df["family"] == "dense") & (df["steps"] == 4)].iloc[0]
    assert run["val_loss"] == pytest.approx(summary["val_loss"], rel=1e-5)


def test_a_second_call_trains_nothing_and_a_wider_grid_only_what_is_new(first):
    out, df = first
    again = gs.isoflop(str(out), budgets=BUDGETS, bootstrap=0, **SMALL)
    assert (again.attrs["trained"], again.attrs["reused"]) == (0, 4)
    assert again["val_loss"].tolist() == df["val_loss"].tolist()
    more = gs.isoflop(str(out), budgets=(*BUDGETS, 12 * ONE_STEP), bootstrap=0, **SMALL)
    assert (more.attrs["trained"], more.attrs["reused"]) == (2, 4)
    assert len(more) == 6 and len(json.loads((out / "report.json").read_text())["advantage"]) == 3


def test_a_damaged_run_is_trained_again_with_a_warning(first, tmp_path):
    out, df = first
    store = out / "runs.jsonl"
    lines = store.read_text().splitlines()
    store.write_text("\n".join(["{not json", *lines[1:]]) + "\n")
    warnings = []
    from glamsim.experiments.isoflop import run_isoflop

    r = run_isoflop(iso.as_grid(budgets=BUDGETS, **SMALL), out, n_bootstrap=0, progress=False, warn=warnings.append)
    assert r.trained == 1 and len(warnings) == 1 and "line 1" in warnings[0]
    assert r.runs["val_loss"].tolist() == pytest.approx(df["val_loss"].tolist(), rel=1e-6)  # deterministic

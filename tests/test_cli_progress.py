"""Progress and waiting on the command line (issue 25, item 5): `glamsim study` draws its bar on stderr,
only on a terminal or with --progress, and --json keeps stdout a clean document; `train` and `measure`
say what the first step waits for (XLA compiling) and how long it took on this machine before, from the
newest record of the model, or that no time is known."""

from __future__ import annotations

import json

from badinput import tpu_record
from typer.testing import CliRunner

from glamsim.cli import app
from glamsim.records import compile_note

RUNNER = CliRunner()


def test_study_progress_goes_to_stderr_and_json_stdout_stays_clean(tmp_path):
    args = ["study", "serving", "--json", "--out", str(tmp_path / "a"), "--progress"]
    r = RUNNER.invoke(app, args)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)  # stdout is the document alone
    assert doc["study"] == "serving" and doc["n_scenarios"] > 0
    assert "scenario" in r.stderr and "serving" in r.stderr  # tqdm's bar: the study's name, scenarios done
    quiet = RUNNER.invoke(app, ["study", "serving", "--json", "--out", str(tmp_path / "b")])
    assert quiet.exit_code == 0 and "scenario" not in quiet.stderr  # not a terminal, no flag: no bar
    assert json.loads(quiet.stdout)["n_scenarios"] == doc["n_scenarios"]


def test_compile_note_times_the_compile_from_the_newest_record(tmp_path):
    assert "no earlier record of glam-tiny" in compile_note("glam-tiny", 8, 128, tmp_path, 2)
    old, new = tpu_record(), tpu_record()
    old = old.model_copy(update={"created_at": "2025-06-01T00:00:00+00:00", "lower_s": 9.0, "compile_s": 30.0})
    new = new.model_copy(update={"lower_s": 1.5, "compile_s": 4.0})  # 2026-01-01: the newer
    other = new.model_copy(update={"batch": 4, "compile_s": 99.0, "created_at": "2026-02-01T00:00:00+00:00"})
    for name, rec in (("old.json", old), ("new.json", new), ("other.json", other)):
        rec.save(tmp_path / name)
    (tmp_path / "broken.json").write_text("{")  # skipped
    note = compile_note("glam-tiny", 8, 128, tmp_path, 2)
    assert "compiling glam-tiny's training step" in note and "5.5 s on TPU v4" in note and "new.json" in note
    assert "the same shape" in note  # the batch-4 record is newer but another shape
    assert "took 100.5 s" in compile_note("glam-tiny", 16, 128, tmp_path, 2)  # no same shape: the newest (1.5 + 99)
    assert "no earlier record of glam-small" in compile_note("glam-small", 8, 128, tmp_path)


def test_measure_says_what_it_compiles_before_the_first_step(monkeypatch, tmp_path):
    """The note is printed before the measurement starts (the measurement itself replaced here)."""
    import glamsim.measure.run as run

    def stop(*a, **k):
        raise SystemExit(0)

    monkeypatch.setattr(run, "measure", stop)
    monkeypatch.chdir(tmp_path)
    r = RUNNER.invoke(app, ["measure", "--model", "glam-tiny", "--steps", "1", "--warmup", "0"])
    assert "compiling glam-tiny's training step with XLA" in r.stderr
    assert "no earlier record of glam-tiny under runs/" in r.stderr


def test_train_says_what_it_compiles_before_the_first_step(monkeypatch, tmp_path):
    """`train` prints the note when the trainer is about to compile (the trainer replaced here by one
    that calls `announce` as the real one does, then stops), and not with --json."""
    import glamsim.trainer as trainer

    def stop(*args, announce=None, **kwargs):
        if announce is not None:
            announce()
        raise SystemExit(0)

    monkeypatch.setattr(trainer, "train", stop)
    monkeypatch.chdir(tmp_path)
    r = RUNNER.invoke(app, ["train", "--model", "glam-tiny", "--steps", "1"])
    assert "compiling glam-tiny's training step with XLA" in r.stderr
    assert "no earlier record of glam-tiny under runs/" in r.stderr
    quiet = RUNNER.invoke(app, ["train", "--model", "glam-tiny", "--steps", "1", "--json"])
    assert "compiling" not in quiet.stderr

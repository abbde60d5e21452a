"""One writer per study output (issue 24, item 4): another spec's results in `--out` are replaced
only with `--force`, which says what it replaces; a second writer of one folder is refused in one
line while the first is alive; a lock left by a writer that died is taken over."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from badinput import accepted, refused, snapshot

from glamsim.studies.io import LOCK

SPEC_A = "name: a\ntitle: t\nbase: {tokens: 1.0e+9}\naxes: {mfu: [0.2, 0.4]}\n"
SPEC_B = "name: b\ntitle: t\nbase: {tokens: 2.0e+9}\naxes: {mfu: [0.3]}\n"


def _run(tmp_path, spec: str, *extra):
    return accepted(["study", spec, "--out", "out", "--json", *extra], tmp_path)


def test_another_specs_results_are_replaced_only_with_force(tmp_path):
    (tmp_path / "a.yaml").write_text(SPEC_A)
    (tmp_path / "b.yaml").write_text(SPEC_B)
    _run(tmp_path, "a.yaml")
    before = snapshot(tmp_path / "out")
    line = refused(["study", "b.yaml", "--out", "out"], tmp_path, mentions=["--force", "study 'a'"])
    assert "another spec" in line
    assert snapshot(tmp_path / "out") == before  # nothing of a's results touched
    r = _run(tmp_path, "b.yaml", "--force")
    assert "replacing the results of another spec" in r.stderr and "study 'a'" in r.stderr
    assert json.loads(r.stdout)["study"] == "b" and json.loads(r.stdout)["n_scenarios"] == 1
    again = _run(tmp_path, "b.yaml")  # the same spec: recomputes its own, no --force needed
    assert json.loads(again.stdout)["n_scenarios"] == 1 and not (tmp_path / "out" / LOCK).exists()


def test_a_second_writer_is_refused_while_the_first_is_alive(tmp_path):
    (tmp_path / "a.yaml").write_text(SPEC_A)
    (tmp_path / "out").mkdir()
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "out" / LOCK).write_text(str(writer.pid))
        refused(
            ["study", "a.yaml", "--out", "out"],
            tmp_path,
            mentions=[f"process {writer.pid}", "writing this folder"],
        )
    finally:
        writer.kill()
        writer.wait()
    assert sorted(os.listdir(tmp_path / "out")) == [LOCK]  # nothing written beside the other's lock


def test_a_lock_left_by_a_writer_that_died_is_taken_over(tmp_path):
    (tmp_path / "a.yaml").write_text(SPEC_A)
    (tmp_path / "out").mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "out" / LOCK).write_text(dead.stdout.strip())  # as kill -9 leaves it
    r = _run(tmp_path, "a.yaml")
    assert json.loads(r.stdout)["n_scenarios"] == 2 and not (tmp_path / "out" / LOCK).exists()

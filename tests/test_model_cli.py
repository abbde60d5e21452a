"""`glamsim train` and `glamsim generate` as a user runs them, bad inputs included."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glamsim.cli import app

RUN = CliRunner()


def glamsim(*args):
    return RUN.invoke(app, [str(a) for a in args])


def one_line_error(result, text):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], result.stderr


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    """A small text corpus: a few stdlib modules."""
    d = tmp_path_factory.mktemp("corpus")
    (d / "a.txt").write_bytes(Path(csv.__file__).read_bytes() + Path(json.__file__).read_bytes())
    return d / "a.txt"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, text):
    """A glam-tiny run with checkpoints and a CSV log."""
    d = tmp_path_factory.mktemp("run")
    r = glamsim(
        "train",
        "--model",
        "glam-tiny",
        "--steps",
        4,
        "--batch",
        2,
        "--seq-len",
        32,
        "--eval-every",
        2,
        "--eval-batches",
        1,
        "--checkpoint-dir",
        d / "ck",
        "--checkpoint-every",
        2,
        "--log",
        d / "log.csv",
        "--corpus",
        text,
        "--json",
    )
    assert r.exit_code == 0, r.output
    return d, json.loads(r.stdout)


def test_train_writes_summary_log_and_checkpoints(trained):
    d, summary = trained
    assert summary["steps"] == 4 and summary["val_bpb"] < summary["val_bpb_start"]
    rows = list(csv.DictReader((d / "log.csv").open()))
    assert [r["step"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert rows[2]["val_bpb"] and not rows[1]["val_bpb"] and float(rows[4]["dropped_fraction"]) >= 0
    assert sorted(p.name for p in (d / "ck").iterdir() if p.name.isdigit()) == ["2", "4"]


def test_dense_twin_trains_with_the_same_command(tmp_path, text):
    r = glamsim(
        "train",
        "--model",
        "glam-tiny-dense",
        "--steps",
        2,
        "--batch",
        2,
        "--seq-len",
        32,
        "--corpus",
        text,
        "--eval-batches",
        1,
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["model"] == "glam-tiny-dense"


def test_generate_continues_a_prompt(trained):
    d, _ = trained
    r = glamsim(
        "generate", "--checkpoint", d / "ck", "--prompt", "def ", "--max-new-tokens", 6, "--temperature", 0, "--json"
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["prompt"] == "def " and len(out["completion"]) >= 2  # 6 bytes, some perhaps multi-byte


def test_bad_inputs_get_one_line_errors(tmp_path, trained, text):
    d, _ = trained
    one_line_error(glamsim("train", "--model", "glam-nope"), "model='glam-nope': unknown preset")
    one_line_error(
        glamsim("train", "--model", "glam-tiny", "--seq-len", 1000, "--corpus", text),
        "--seq-len=1000: longer than the context (128 tokens)",
    )
    (tmp_path / "empty").mkdir()
    one_line_error(glamsim("train", "--corpus", tmp_path / "empty", "--steps", 1), "no UTF-8 text found")
    one_line_error(
        glamsim("train", "--steps", 4, "--seq-len", 32, "--corpus", text, "--checkpoint-dir", d / "ck"),
        "already holds a run",
    )
    one_line_error(
        glamsim(
            "train",
            "--steps",
            4,
            "--seq-len",
            32,
            "--corpus",
            text,
            "--resume",
            "--checkpoint-dir",
            tmp_path / "nothing",
        ),
        "no checkpoint found",
    )
    one_line_error(glamsim("generate", "--checkpoint", tmp_path / "nothing", "--prompt", "x"), "no checkpoint found")
    one_line_error(
        glamsim("generate", "--checkpoint", d / "ck", "--prompt", "x", "--max-new-tokens", 200),
        "longer than the context",
    )


def test_non_utf8_prompt_bytes_are_refused():
    # real argv bytes, as a shell passes them
    r = subprocess.run(
        [sys.executable, "-m", "glamsim", "generate", "--checkpoint", "x", "--prompt", b"ab\xff"], capture_output=True
    )
    assert r.returncode == 2
    assert r.stderr.decode().strip() == "error: prompt: not valid UTF-8 text (bad bytes at position 2)"


def test_corrupted_checkpoint_is_an_error_not_a_fresh_start(tmp_path, text):
    ck = tmp_path / "ck"
    args = (
        "train",
        "--steps",
        2,
        "--batch",
        2,
        "--seq-len",
        32,
        "--eval-batches",
        1,
        "--corpus",
        text,
        "--checkpoint-dir",
        ck,
    )
    assert glamsim(*args).exit_code == 0
    for f in (ck / "2" / "state").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    one_line_error(
        glamsim("generate", "--checkpoint", ck, "--prompt", "x", "--max-new-tokens", 4), "step 2 is corrupted"
    )
    one_line_error(
        glamsim(*args[:2], 4, *args[3:], "--resume"), "no intact checkpoint to resume from: step 2 is corrupted"
    )

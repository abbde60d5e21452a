"""Bad inputs of the model-side commands (`train`, `generate`, `measure`, `runs`) and checkpoint
integrity: every refusal is one `error:` line, exit 2, nothing written, and (for all but a few
cases) no JAX compilation; damaged checkpoints are found, named and skipped on resume.

One tiny glam-tiny run (4 steps, checkpoints at steps 2 and 4) is shared by the checkpoint cases.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from badinput import accepted, refused, run

CORPUS = "<corpus>"  # replaced by the shared small text corpus
CK = "<checkpoint>"  # replaced by the shared trained checkpoint folder (steps 2 and 4)
TRAIN = [
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
]
MEASURE = ["measure", "--model", "glam-tiny", "--steps", 1, "--warmup", 0, "--batch", 1, "--seq-len", 8]
GENERATE = ["generate", "--checkpoint", CK, "--prompt", "def ", "--max-new-tokens", 4]


# ---- shared material ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A small text corpus: two stdlib modules (about 30 KB)."""
    d = tmp_path_factory.mktemp("corpus")
    (d / "a.txt").write_bytes(Path(csv.__file__).read_bytes() + Path(json.__file__).read_bytes())
    return d / "a.txt"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus) -> Path:
    """A finished glam-tiny run: checkpoints at steps 2 and 4 in `ck/`, metrics in `log.csv`."""
    d = tmp_path_factory.mktemp("trained")
    r = accepted(
        [*TRAIN, "--corpus", corpus, "--checkpoint-dir", "ck", "--checkpoint-every", 2, "--log", "log.csv", "--json"], d
    )
    assert r.stderr == "", r.stderr  # no orbax noise on a normal run (progress is off with --json)
    assert sorted(p.name for p in (d / "ck").iterdir()) == ["2", "4"]
    return d


def materials(folder: Path) -> None:
    """The files the cases point at, made before the command runs (so they are not 'written by it')."""
    (folder / "F").write_text("a file\n")
    (folder / "D").mkdir()
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.bin").write_bytes(bytes(range(128, 256)) * 4)  # no valid UTF-8 anywhere
    (folder / "short.txt").write_text("tiny\n")
    (folder / "bad.yaml").write_text("name: [unclosed\n")
    (folder / "escape.yaml").write_text(
        "name: ../../x\nn_layers: 2\nd_model: 8\nn_heads: 2\nd_ff: 16\nvocab_size: 256\nmax_seq_len: 16\n"
    )
    os.mkfifo(folder / "fifo")


def fill(args: list, corpus: Path, ck: Path | None = None) -> list:
    return [corpus if a == CORPUS else ck if a == CK else a for a in args]


# ---- cases refused before any work (no JAX compile) -----------------------------------------------

T = [*TRAIN, "--corpus", CORPUS]
TRAIN_CASES = [
    # model and options
    ([*T[:1], "--model", "glam-nope", *T[3:]], ["model='glam-nope'", "unknown preset"]),
    ([*T[:1], "--model", "bad.yaml", *T[3:]], ["bad.yaml", "malformed YAML"]),
    ([*T[:1], "--model", "missing.yaml", *T[3:]], ["missing.yaml", "cannot read"]),
    ([*T[:1], "--model", "escape.yaml", *T[3:]], ["name='../../x'"]),
    ([*T, "--dispatch", "foo"], ["--dispatch='foo'", "scatter"]),
    ([*T, "--dispatch", ""], ["--dispatch=''"]),
    ([*T, "--seq-len", 1000], ["--seq-len=1000", "context (128 tokens)"]),
    ([*T, "--seq-len", 0], ["--seq-len", "0"]),
    ([*T, "--steps", 0], ["--steps", "0"]),
    ([*T, "--batch", 0], ["--batch", "0"]),
    ([*T, "--batch", -3], ["--batch", "-3"]),
    ([*T, "--eval-every", 0], ["--eval-every"]),
    ([*T, "--eval-batches", 0], ["--eval-batches"]),
    ([*T, "--checkpoint-every", -1], ["--checkpoint-every"]),
    ([*T, "--warmup-steps", 0], ["--warmup-steps"]),
    ([*T, "--seed", -1], ["--seed", "-1"]),
    ([*T, "--seed", 2**32], ["--seed", "4294967296"]),
    ([*T, "--seed", 2**60], ["--seed"]),
    ([*T, "--seed", "x"], ["--seed=x", "valid integer"]),
    ([*T, "--lr", "inf"], ["--lr=inf", "finite"]),
    ([*T, "--lr", "nan"], ["--lr=nan"]),
    ([*T, "--lr", 0], ["learning_rate=0.0"]),
    ([*T, "--lr", -1], ["--lr", "-1"]),
    ([*T, "--lr", "1e-320"], ["--lr", "subnormal"]),
    ([*T, "--steps", "four"], ["--steps=four"]),
    ([*T, "--no-such-flag"], ["--no-such-flag"]),
    # outputs: checked before training
    ([*T, "--checkpoint-dir", "F"], ["--checkpoint-dir='F'", "not a folder"]),
    ([*T, "--checkpoint-dir", "F/sub"], ["--checkpoint-dir='F/sub'", "is a file"]),
    ([*T, "--checkpoint-dir", "/proc/glamsim-x"], ["--checkpoint-dir='/proc/glamsim-x'", "cannot write"]),
    ([*T, "--checkpoint-dir", "/proc"], ["--checkpoint-dir='/proc'", "cannot write"]),
    ([*T, "--checkpoint-dir", "fifo"], ["--checkpoint-dir='fifo'", "not a folder"]),
    ([*T, "--log", "D"], ["--log='D'", "is a folder"]),
    ([*T, "--log", "new/"], ["--log='new'", "is a folder"]),
    ([*T, "--log", "/proc/x/log.csv"], ["--log='/proc/x/log.csv'", "cannot write"]),
    ([*T, "--log", "F/log.csv"], ["--log='F/log.csv'", "is a file"]),
    ([*T, "--log", "fifo"], ["--log='fifo'", "not a regular file"]),
    ([*T, "--resume"], ["resume", "--checkpoint-dir"]),
    ([*T, "--resume", "--checkpoint-dir", "D"], ["checkpoint='D'", "no checkpoint found"]),
    ([*T, "--resume", "--checkpoint-dir", "nothing"], ["checkpoint='nothing'", "no such folder"]),
    # corpus
    ([*TRAIN, "--corpus", "missing.txt"], ["corpus='missing.txt'", "no such file"]),
    ([*TRAIN, "--corpus", "empty.txt"], ["corpus='empty.txt'", "no UTF-8 text"]),
    ([*TRAIN, "--corpus", "binary.bin"], ["corpus='binary.bin'", "no UTF-8 text"]),
    ([*TRAIN, "--corpus", "D"], ["corpus='D'", "no UTF-8 text"]),
    ([*TRAIN, "--corpus", "fifo"], ["corpus='fifo'", "not a regular file"]),
    ([*TRAIN, "--corpus", "short.txt"], ["corpus:", "seq_len+2=34"]),
    # mesh and cluster
    ([*T, "--mesh", "data=0"], ["mesh='data=0'", "positive integer"]),
    ([*T, "--mesh", "foo=2"], ["mesh='foo=2'", "AXIS=SIZE"]),
    ([*T, "--mesh", "data=x"], ["mesh='data=x'", "positive integer"]),
    ([*T, "--mesh", "data=2,data=2"], ["given twice"]),
    ([*T, "--mesh", "data"], ["mesh='data'"]),
    ([*T, "--mesh", "data=1000"], ["mesh='data=1000'", "needs 1000 devices"]),
    ([*T, "--coordinator", "nohostport", "--num-processes", 2, "--process-id", 0], ["coordinator='nohostport'"]),
    ([*T, "--num-processes", 0], ["--num-processes"]),
]


@pytest.mark.parametrize(
    "args,mentions",
    TRAIN_CASES,
    ids=lambda v: " ".join(map(str, v)) if isinstance(v, list) and v and v[0] == "train" else None,
)
def test_train_refuses(args, mentions, tmp_path, corpus):
    materials(tmp_path)
    refused(fill(args, corpus), tmp_path, mentions=mentions)


GENERATE_CASES = [
    (["generate", "--checkpoint", "nothing", "--prompt", "x"], ["checkpoint='nothing'", "no such folder"]),
    (["generate", "--checkpoint", "D", "--prompt", "x"], ["checkpoint='D'", "no checkpoint found"]),
    (["generate", "--checkpoint", "F", "--prompt", "x"], ["checkpoint='F'", "is a file"]),
    (["generate", "--checkpoint", "fifo", "--prompt", "x"], ["checkpoint='fifo'", "no checkpoint found"]),
    (["generate", "--prompt", "x"], ["--checkpoint"]),
    (["generate", "--checkpoint", CK], ["--prompt"]),
    ([*GENERATE, "--temperature", -1], ["--temperature", "-1"]),
    ([*GENERATE, "--temperature", "nan"], ["--temperature=nan"]),
    ([*GENERATE, "--temperature", "inf"], ["--temperature=inf"]),
    ([*GENERATE, "--max-new-tokens", 0], ["--max-new-tokens", "0"]),
    ([*GENERATE, "--max-new-tokens", 200], ["prompt + max-new-tokens = 204", "context (128 tokens)"]),
    ([*GENERATE, "--top-k", 0], ["--top-k", "0"]),
    ([*GENERATE, "--top-k", 257], ["--top-k=257", "vocabulary size 256"]),
    ([*GENERATE, "--top-k", 100000], ["--top-k=100000", "vocabulary size 256"]),
    ([*GENERATE, "--seed", -1], ["--seed", "-1"]),
    ([*GENERATE, "--seed", 2**32], ["--seed", "4294967296"]),
    ([*GENERATE[:3], "--prompt", "", "--max-new-tokens", 4], ["prompt", "at least one token"]),
]


@pytest.mark.parametrize("args,mentions", GENERATE_CASES)
def test_generate_refuses(args, mentions, tmp_path, corpus, trained):
    materials(tmp_path)
    refused(fill(args, corpus, trained / "ck"), tmp_path, mentions=mentions)


MEASURE_CASES = [
    (["measure", "--model", "glam-nope"], ["model='glam-nope'"]),
    (["measure", "--model", "escape.yaml"], ["escape.yaml", "name='../../x'"]),
    (["measure", "--model", "bad.yaml"], ["malformed YAML"]),
    ([*MEASURE, "--warmup", -1], ["--warmup", "-1"]),
    ([*MEASURE, "--steps", 0], ["--steps", "0"]),
    ([*MEASURE, "--batch", 0], ["--batch", "0"]),
    ([*MEASURE, "--seq-len", 0], ["--seq-len", "0"]),
    ([*MEASURE, "--seq-len", 1000], ["--seq-len=1000", "context (128)"]),
    ([*MEASURE, "--dispatch", "foo"], ["--dispatch='foo'"]),
    ([*MEASURE, "--out", "D"], ["--out='D'", "is a folder"]),
    ([*MEASURE, "--out", "F/r.json"], ["--out='F/r.json'", "is a file"]),
    ([*MEASURE, "--out", "/proc/x/r.json"], ["--out='/proc/x/r.json'", "cannot write"]),
    ([*MEASURE, "--out", "fifo"], ["--out='fifo'", "not a regular file"]),
    ([*MEASURE, "--profile-dir", "F"], ["--profile-dir='F'", "not a folder"]),
    ([*MEASURE, "--out", "r.json", "--profile-dir", "/proc/x"], ["--profile-dir='/proc/x'", "cannot write"]),
    ([*MEASURE, "--mesh", "foo=2"], ["mesh='foo=2'"]),
    ([*MEASURE, "--steps", "1e3"], ["--steps=1e3"]),
    ([*MEASURE, "--batch", 2**54], ["--batch", "2**53"]),
    (["runs", "missing"], ["folder='missing'", "no such folder"]),
    (["runs", "F"], ["folder='F'", "is a file"]),
    (["runs"], ["folder='runs'", "no such folder"]),
    (["runs", "D", "--no-such-flag"], ["--no-such-flag"]),
]


@pytest.mark.parametrize("args,mentions", MEASURE_CASES)
def test_measure_and_runs_refuse(args, mentions, tmp_path):
    materials(tmp_path)
    refused(args, tmp_path, mentions=mentions)


def test_measure_default_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "runs").write_text("not a folder\n")
    refused(MEASURE, tmp_path, mentions=["--out (default folder)='runs'", "not a folder"])


def test_default_record_name_never_leaves_the_runs_folder():
    from glamsim.cli.measure_cmds import RUNS_DIR, default_record_path

    for name in ("../../x", "..", "a/b", "/etc/passwd", "x\\..\\y", "...", "", "glam-tiny"):
        p = default_record_path(name, "2025-01-02T03:04:05+00:00")
        assert p.parent == RUNS_DIR and ".." not in p.name and "/" not in p.name and p.name.endswith(".json")
    assert default_record_path("glam-tiny", "20250102T030405").name == "glam-tiny-20250102T030405.json"


# ---- checkpoints: foreign records, integrity, resume fallback -------------------------------------


def flip_data_files(step_dir: Path) -> int:
    """Flip 16 bytes in the middle of every tensor data file (ocdbt/zarr chunk files under `d/`)."""
    files = [f for f in (step_dir / "state").rglob("*") if f.is_file() and f.parent.name == "d"]
    for f in files:
        b = bytearray(f.read_bytes())
        mid = len(b) // 2
        for i in range(mid, min(mid + 16, len(b))):
            b[i] ^= 0xFF
        f.write_bytes(bytes(b))
    return len(files)


@pytest.fixture
def ck_copy(trained, tmp_path) -> Path:
    """A private copy of the shared run (checkpoints and log) in tmp_path."""
    shutil.copytree(trained / "ck", tmp_path / "ck")
    shutil.copy(trained / "log.csv", tmp_path / "log.csv")
    return tmp_path / "ck"


def test_train_refuses_a_folder_that_already_holds_a_run(trained, corpus, tmp_path):
    refused(
        [*TRAIN, "--corpus", corpus, "--checkpoint-dir", trained / "ck"],
        tmp_path,
        mentions=["already holds a run (step 4)", "--resume"],
    )


@pytest.mark.parametrize(
    "extra,mentions",
    [
        (["--steps", 4], ["steps=4", "already at step 4"]),
        (["--steps", 6, "--batch", 4], ["batch_size=4", "trained with batch_size=2"]),
        (["--steps", 6, "--seed", 1], ["seed=1", "trained with seed=0"]),
        (["--steps", 6, "--model", "glam-tiny-dense"], ["holds model 'glam-tiny'"]),
    ],
)
def test_resume_refuses_what_does_not_continue_the_run(extra, mentions, trained, corpus, tmp_path):
    refused(
        [*TRAIN, "--corpus", corpus, "--checkpoint-dir", trained / "ck", "--resume", *extra],
        tmp_path,
        mentions=mentions,
    )


@pytest.mark.parametrize(
    "record,mentions",
    [
        ({"train": {"steps": 2}}, ["step 2", "no 'model' mapping"]),
        ({"model": "glam-tiny", "train": {}}, ["step 2", "no 'model' mapping", "'glam-tiny'"]),
        ([1, 2, 3], ["step 2", "record is a list"]),
        ({"model": {"name": "x"}, "train": {}}, ["step 2 (model record)", "n_layers"]),
    ],
)
def test_foreign_record_is_refused_naming_the_step(record, mentions, tmp_path, corpus):
    from glamsim.model import checkpoint

    checkpoint.save(tmp_path / "foreign", 2, {"w": np.zeros(3, np.float32)}, record)
    refused(
        ["generate", "--checkpoint", "foreign", "--prompt", "x", "--max-new-tokens", 2], tmp_path, mentions=mentions
    )
    if "n_layers" not in mentions:  # a resume reads the record before anything else
        refused([*TRAIN, "--corpus", corpus, "--checkpoint-dir", "foreign", "--resume"], tmp_path, mentions=mentions)


def test_generate_refuses_flipped_bytes_naming_the_step(ck_copy, tmp_path):
    assert flip_data_files(ck_copy / "4") >= 2
    refused(
        ["generate", "--checkpoint", "ck", "--prompt", "def ", "--max-new-tokens", 4],
        tmp_path,
        mentions=["checkpoint='ck'", "step 4 is corrupted"],
    )


def test_swapped_manifest_is_a_checksum_mismatch(ck_copy, tmp_path):
    # step 2's manifest on step 4's arrays: the files decode fine, only the checksums can tell
    shutil.rmtree(ck_copy / "4" / "integrity")
    shutil.copytree(ck_copy / "2" / "integrity", ck_copy / "4" / "integrity")
    refused(
        ["generate", "--checkpoint", "ck", "--prompt", "def ", "--max-new-tokens", 4],
        tmp_path,
        mentions=["step 4 is corrupted", "checksum mismatch"],
    )


def test_missing_manifest_and_edited_record_are_refused(ck_copy, tmp_path):
    shutil.rmtree(ck_copy / "4" / "integrity")
    refused(
        ["generate", "--checkpoint", "ck", "--prompt", "def ", "--max-new-tokens", 4],
        tmp_path,
        mentions=["step 4 is corrupted", "no integrity manifest"],
    )
    meta = ck_copy / "2" / "record" / "metadata"
    record = json.loads(meta.read_text())
    record["train"]["learning_rate"] = 0.02
    meta.write_text(json.dumps(record))
    from glamsim.config import ConfigError
    from glamsim.model import checkpoint

    with pytest.raises(ConfigError, match="step 2 is corrupted \\(record checksum mismatch\\)"):
        checkpoint.read_record(ck_copy, 2)


def test_resume_falls_back_to_the_newest_intact_step(ck_copy, trained, corpus, tmp_path):
    from glamsim.config import load_model
    from glamsim.model import checkpoint
    from glamsim.model.train import TrainConfig, abstract_state

    flip_data_files(ck_copy / "4")
    r = accepted(
        [
            *TRAIN,
            "--corpus",
            corpus,
            "--checkpoint-dir",
            "ck",
            "--checkpoint-every",
            2,
            "--resume",
            "--log",
            "log.csv",
            "--json",
        ],
        tmp_path,
    )
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("warning: checkpoint step 4 is corrupted (") and lines[0].endswith(
        "resuming from step 2"
    )
    assert json.loads(r.stdout)["resumed_from"] == 2
    # the damaged step is kept aside, and step 4 is written again...
    assert sorted(p.name for p in ck_copy.iterdir()) == ["2", "4", "corrupted-4"]
    # ...equal to the uninterrupted run's step 4, array for array, with the same metrics log
    import jax

    target = abstract_state(load_model("glam-tiny"), TrainConfig(batch_size=2, seq_len=32)).arrays()
    want, got = checkpoint.restore(trained / "ck", target), checkpoint.restore(ck_copy, target)
    for a, b in zip(jax.tree_util.tree_leaves(want), jax.tree_util.tree_leaves(got), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    rows = [list(csv.DictReader((d / "log.csv").open())) for d in (trained, tmp_path)]
    no_speed = [[{k: v for k, v in row.items() if k != "tokens_per_s"} for row in rs] for rs in rows]
    assert no_speed[0] == no_speed[1] and [row["step"] for row in rows[1]] == ["0", "1", "2", "3", "4"]


def test_resume_refuses_when_no_intact_step_remains(ck_copy, corpus, tmp_path):
    flip_data_files(ck_copy / "4")
    flip_data_files(ck_copy / "2")
    refused(
        [*TRAIN, "--corpus", corpus, "--checkpoint-dir", "ck", "--resume", "--log", "log.csv"],
        tmp_path,
        mentions=["no intact checkpoint to resume from", "step 4 is corrupted", "step 2 is corrupted"],
    )
    assert sorted(p.name for p in ck_copy.iterdir()) == ["2", "4"]  # nothing moved on a refusal


def test_corrupted_checkpoint_error_is_one_line_end_to_end(ck_copy, tmp_path):
    """The installed command in its own process: orbax's late thread noise must not reach stderr."""
    flip_data_files(ck_copy / "4")
    p = subprocess.run(
        [sys.executable, "-m", "glamsim", "generate", "--checkpoint", "ck", "--prompt", "x", "--max-new-tokens", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.splitlines() == [p.stderr.strip()] and p.stderr.startswith(
        "error: --checkpoint='ck': step 4 is corrupted"
    ), p.stderr


# ---- divergence ---------------------------------------------------------------------------------


def test_training_that_diverges_stops_at_that_step_keeping_the_log(tmp_path, corpus):
    # lr 1e6: after one step every gradient is non-finite and every update is skipped
    line = refused(
        [*TRAIN, "--steps", 20, "--corpus", corpus, "--lr", "1e6", "--log", "log.csv", "--json"],
        tmp_path,
        mentions=["training diverged at step", "lower --lr, now 1e+06"],
        may_write=("log.csv",),
    )
    step = int(line.split("diverged at step ")[1].split(":")[0])
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(step + 1)) and step < 20
    assert [r["skipped"] for r in rows[-5:]] == ["True"] * 5 and rows[-6]["skipped"] != "True"


def test_good_run_is_accepted_after_all(tmp_path, corpus, trained):
    """The refusals above are specific: the same command with sane values runs."""
    r, _ = run(
        [
            "generate",
            "--checkpoint",
            trained / "ck",
            "--prompt",
            "def ",
            "--max-new-tokens",
            3,
            "--temperature",
            0,
            "--top-k",
            256,
            "--seed",
            2**32 - 1,
            "--json",
        ],
        tmp_path,
    )
    assert r.exit_code == 0 and r.stderr == "", r.stderr
    assert json.loads(r.stdout)["prompt"] == "def "


def test_resume_refuses_an_unreadable_log(ck_copy, corpus, tmp_path):
    (tmp_path / "log.jsonl").write_text('{"step": 0}\nnot json\n')
    refused(
        [*TRAIN, "--corpus", corpus, "--checkpoint-dir", "ck", "--resume", "--steps", 6, "--log", "log.jsonl"],
        tmp_path,
        mentions=["log=", "log.jsonl", "cannot read the rows to keep on resume"],
    )

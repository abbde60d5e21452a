"""Studies and the front door chunk by chunk: the inputs expanded a range of rows at a time, the
result files streamed from the chunks, the front door evaluated a quarter million rows at a time,
each giving what one pass over the whole table gives (issue 24: memory bounded by the chunk)."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

import glamsim.api as gs
from glamsim.config import ConfigError
from glamsim.studies.expansion import Scenarios
from glamsim.studies.runner import run_study
from glamsim.studies.spec import parse_spec
from glamsim.studies.sweep import expand

MIXED = {
    "name": "mixed",
    "title": "every kind of block",
    "base": {"model": "glam-64b-64e", "mfu": 0.3},
    "sweeps": [
        {
            "cases": [{"chip": "tpu-v4", "dtype": "bf16"}, {"chip": "h100-sxm", "mfu": 0.25}],
            "axes": {"tokens": [1e11, 2e11]},
        },
        {"axes": {"model.n_experts": [8, 16, 32], "chips": [512, 1024]}},
        {"axes": {"mfu": [0.2, 0.4], "pue": [1.1, 1.2]}, "combine": "one_at_a_time"},
        {"axes": {"mfu": [0.2, 0.4], "dtype": ["int8", "bf16"]}, "combine": "zip"},
    ],
}


def test_any_range_of_rows_is_that_range_of_the_whole_table():
    spec = parse_spec(MIXED, "mixed")
    whole = expand(spec)
    assert len(whole) == 4 + 6 + 5 + 2
    # a grid's first axis varies slowest; a block's missing columns are NaN; one dtype per column
    assert whole["model.n_experts"].iloc[4:10].tolist() == [8, 8, 16, 16, 32, 32]
    assert whole["chips"].iloc[4:10].tolist() == [512, 1024] * 3
    assert whole["model.n_experts"].isna().sum() == 11 and whole["varied"].iloc[10] == "base"
    assert whole["dtype"].dtype == object and str(whole["chip"].dtype) == "str"
    scenarios = Scenarios(spec)
    for size in (1, 2, 3, 5, 16):
        joined = pd.concat([rows for _, rows in scenarios.chunks(size)], ignore_index=True)
        pd.testing.assert_frame_equal(joined, whole, check_exact=True)
    some = whole[["scenario", "chips"]].iloc[3:9].reset_index(drop=True)
    pd.testing.assert_frame_equal(scenarios.rows(3, 9, ["chips", "scenario"]), some)


def test_streamed_results_are_the_files_of_the_chunks_put_together(tmp_path):
    """What the runner wrote before it streamed: the chunks joined in one table, then written.  A
    predicted layout is text, a typed MFU's none: chunks of one row type that column apart."""
    base = {"model": "glam-64b-64e", "chip": "h100-sxm", "chips": 1024}
    cases = [{"mfu": 0.3}, {}, {"mfu": 0.4}]
    spec = parse_spec({"name": "s", "title": "t", "base": base, "cases": cases, "chunk_size": 1}, "s")
    out, chunks = tmp_path / "out", []
    keep = lambda i: chunks.append(pd.read_parquet(out / ".partial" / f"chunk-{i:05d}.parquet"))  # noqa: E731
    run = run_study(spec, out, progress=False, on_chunk=keep)
    assert [str(c["resolved_layout"].dtype) for c in chunks] == ["object", "str", "object"]
    whole = pd.concat(chunks, ignore_index=True)
    whole.to_parquet(tmp_path / "whole.parquet", index=False)
    schema = pq.read_schema(out / "results.parquet")
    assert schema.equals(pq.read_schema(tmp_path / "whole.parquet"), check_metadata=True)
    assert pq.ParquetFile(out / "results.parquet").num_row_groups == 3  # one row group a chunk
    pd.testing.assert_frame_equal(run.results, pd.read_parquet(tmp_path / "whole.parquet"), check_exact=True)
    pyarrow.csv.write_csv(pa.Table.from_pandas(whole, preserve_index=False), tmp_path / "whole.csv")
    assert (out / "results.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    one = run_study(spec.model_copy(update={"chunk_size": 10}), tmp_path / "one", progress=False)
    la, lb = (json.loads((d / "ledger.json").read_text()) for d in (out, tmp_path / "one"))
    for ledger in (la, lb):
        del ledger["spec"], ledger["spec_digest"]
    assert la == lb and run.n_scenarios == one.n_scenarios == 3


def test_a_refusal_in_a_later_chunk_is_numbered_in_the_whole_study(tmp_path):
    spec = parse_spec(
        {
            "name": "late",
            "title": "t",
            "base": {"model": "glam-tiny", "chips": 1024, "chip": "tpu-v4"},
            "axes": {"hours": [1e6, 1e6, 1e6, 1e-6]},
            "chunk_size": 2,
        },
        "late",
    )
    with pytest.raises(ConfigError, match=r"implies MFU .* > 1 .*, scenario 4$"):
        run_study(spec, tmp_path / "out", progress=False)


def test_the_front_door_in_chunks_is_one_evaluation(monkeypatch):
    call = dict(model=["glam-64b-64e", "gpt3-175b"], batch=[1, 32, 256], chip=["h100-sxm", "b200"], grid=True)
    whole = gs.serve(**call).frame
    monkeypatch.setattr("glamsim.studies.sweep.CHUNK_ROWS", 5)
    pd.testing.assert_frame_equal(gs.serve(**call).frame, whole, check_exact=True)
    with pytest.raises(ConfigError, match=r"even batch 1 misses it .*, scenario 7$"):
        gs.serve(model="glam-64b-64e", chip="h100-sxm", tpot_ms=[100.0] * 6 + [1.0], batch=64)

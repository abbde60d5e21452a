"""XLA cost analysis helpers, HLO collective parsing and the measurement record."""

import json

import jax
import jax.numpy as jnp
import pytest

from glamsim.config import ConfigError
from glamsim.measure.xla import LoopInProgram, collectives, program_cost
from glamsim.records import load_measurement

LAYERS, B, D = 4, 8, 64
MATMUL_FLOPS = 2 * B * D * D  # one layer's h @ w


def _scan_layers(w, x):
    h, _ = jax.lax.scan(lambda h, wi: (jnp.tanh(h @ wi), None), x, w)
    return h.sum()


def _unrolled_layers(w, x):
    h = x
    for i in range(LAYERS):
        h = jnp.tanh(h @ w[i])
    return h.sum()


def test_scan_loop_is_not_silently_undercounted():
    shapes = (jax.ShapeDtypeStruct((LAYERS, D, D), jnp.float32), jax.ShapeDtypeStruct((B, D), jnp.float32))
    scanned = jax.jit(_scan_layers).lower(*shapes)
    with pytest.raises(LoopInProgram):
        program_cost(scanned)
    # XLA itself counts the scan body once: what we refuse to report
    assert program_cost(scanned, allow_loops=True).flops < 1.5 * MATMUL_FLOPS
    unrolled = program_cost(jax.jit(_unrolled_layers).lower(*shapes))
    assert unrolled.flops == pytest.approx(LAYERS * MATMUL_FLOPS, rel=0.01)
    compiled = program_cost(jax.jit(_unrolled_layers).lower(*shapes).compile())
    assert compiled.flops == pytest.approx(LAYERS * MATMUL_FLOPS, rel=0.01)


HLO = """
  %all-to-all.2 = (f32[1,2,4]{2,1,0}, f32[1,2,4]{2,1,0}) all-to-all(%a, %b), channel_id=1
  %get-tuple-element = f32[1,2,4]{2,1,0} get-tuple-element(%all-to-all.2), index=0
  %all-to-all.3 = bf16[8,16]{1,0} all-to-all(%c), channel_id=2, dimensions={0}
  %all-reduce-start = f32[256]{0} all-reduce-start(%g), channel_id=3, to_apply=%add
  %all-reduce-done = f32[256]{0} all-reduce-done(%all-reduce-start)
  %fusion = f32[4]{0} fusion(%x), kind=kLoop
"""


def test_collectives_counted_from_hlo_text():
    c = collectives(HLO)
    assert c["all-to-all"] == {"count": 2, "bytes": 2 * 8 * 4 + 8 * 16 * 2}
    assert c["all-reduce"] == {"count": 1, "bytes": 256 * 4}
    assert "all-gather" not in c


def test_measurement_load_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"record_schema": "glamsim.measurement/1", "model": ')
    with pytest.raises(ConfigError, match="corrupted"):
        load_measurement(bad)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"name": "something else"}))
    with pytest.raises(ConfigError, match="not a glamsim measurement"):
        load_measurement(foreign)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"record_schema": "glamsim.measurement/1", "model": "x"}))
    with pytest.raises(ConfigError, match="partial.json"):
        load_measurement(partial)
    with pytest.raises(ConfigError, match="cannot read"):
        load_measurement(tmp_path / "missing.json")

"""What XLA says about a program: FLOPs and bytes from cost analysis, memory, collectives.

XLA's cost analysis counts a `while` loop body (a `scan`/`fori_loop`) once, whatever its trip
count, so `program_cost` refuses programs with loops instead of silently under-counting them;
the model unrolls its layers for that reason.  On a sharded program the figures are per device.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WHILE_MARKS = ("stablehlo.while", " while(")  # StableHLO (lowered) and HLO (compiled) spellings


class LoopInProgram(ValueError):
    """The program has a while loop, whose body XLA's cost analysis would count only once."""


@dataclass(frozen=True)
class ProgramCost:
    flops: float
    bytes_accessed: float
    transcendentals: float


def _as_dict(analysis) -> dict:
    if analysis is None:
        raise ValueError("XLA returned no cost analysis for this backend; count on the CPU backend")
    if isinstance(analysis, (list, tuple)):  # older jax: one dict per program
        analysis = analysis[0] if analysis else {}
    return dict(analysis)


def has_loop(program_text: str) -> bool:
    return any(mark in program_text for mark in _WHILE_MARKS)


def program_cost(stage, *, allow_loops: bool = False) -> ProgramCost:
    """FLOPs/bytes of a `jax.stages.Lowered` or `Compiled`, refusing loop bodies counted once."""
    if not allow_loops and has_loop(stage.as_text()):
        raise LoopInProgram(
            "the program contains a while loop (scan/fori_loop): XLA counts its body once; unroll the loop to count it"
        )
    d = _as_dict(stage.cost_analysis())
    return ProgramCost(
        flops=float(d.get("flops", 0.0)),
        bytes_accessed=float(d.get("bytes accessed", 0.0)),
        transcendentals=float(d.get("transcendentals", 0.0)),
    )


def memory_bytes(compiled) -> dict:
    """Argument, output, temporary and peak bytes of a compiled program (per device)."""
    m = compiled.memory_analysis()
    if m is None:
        return {}
    out = {
        k: int(getattr(m, k))
        for k in ("argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes", "alias_size_in_bytes")
    }
    peak = getattr(m, "peak_memory_in_bytes", 0) or (
        out["argument_size_in_bytes"]
        + out["output_size_in_bytes"]
        + out["temp_size_in_bytes"]
        - out["alias_size_in_bytes"]
    )
    out["peak_bytes"] = int(peak)
    return out


_COLLECTIVE = re.compile(
    r"=\s*(?P<shape>\(?[a-z0-9]+\[[^=]*?)\s+(?P<op>all-to-all|all-gather|all-reduce|reduce-scatter|"
    r"collective-permute)(?:-start)?\("
)
_COMMENT = re.compile(r"/\*.*?\*/")
_ARRAY = re.compile(r"(?P<dtype>[a-z]+[0-9]*)\[(?P<dims>[0-9,]*)\]")
_DTYPE_BYTES = {
    "f64": 8,
    "s64": 8,
    "u64": 8,
    "f32": 4,
    "s32": 4,
    "u32": 4,
    "bf16": 2,
    "f16": 2,
    "s16": 2,
    "u16": 2,
    "s8": 1,
    "u8": 1,
    "pred": 1,
    "c64": 8,
    "c128": 16,
}


def collectives(hlo_text: str) -> dict[str, dict[str, float]]:
    """Count collectives in compiled HLO text and the bytes of their results, by kind.

    Bytes are those of each op's result shape on one device (for an all-to-all, what each device
    sends and receives).  Async pairs (`*-start`/`*-done`) are counted once, at the start.
    """
    out: dict[str, dict[str, float]] = {}
    hlo_text = _COMMENT.sub("", hlo_text)  # long tuple shapes carry /*index=5*/ markers
    for m in _COLLECTIVE.finditer(hlo_text):
        nbytes = 0
        for a in _ARRAY.finditer(m.group("shape")):
            dims = [int(x) for x in a.group("dims").split(",") if x]
            n = 1
            for x in dims:
                n *= x
            nbytes += n * _DTYPE_BYTES.get(a.group("dtype"), 4)
        entry = out.setdefault(m.group("op"), {"count": 0, "bytes": 0})
        entry["count"] += 1
        entry["bytes"] += nbytes
    return out

"""Peak memory of the biggest runs: a 5,000,000-scenario study (goal: under 4 GB) and the front door
at 1,000,000 rows (goal: under 2 GB).

Each runs in its own subprocess (a fresh interpreter: imports included, nothing shared with this
one), and the peak resident set size is read after it exits from
`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss` (the largest child so far, so each is run from a
fresh parent).  Printed with the wall time; nothing is asserted.

* study: training only, typed MFU, GLaM 64B/64E, 10 chips x 50 MFU values x 100 token counts x
  100 chip counts = 5,000,000 scenarios, the runner's default chunk size (25,000), written to a
  temporary folder (results.parquet, results.csv, ledger.json; no figures) and removed after.
* front door: `glamsim.api.train(..., grid=True)`, 10 chips x 100 MFU values x 1,000 token counts
  = 1,000,000 rows, typed MFU.

    .venv/bin/python benchmarks/bench_memory.py [--only study|api] [--rows-scale 0.1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

CHIPS = ["v100", "tpu-v3", "a100-40gb", "a100-80gb", "tpu-v4", "tpu-v5p", "h100-sxm", "h200", "mi300x", "b200"]

STUDY = """
import json, sys, tempfile
from pathlib import Path
from glamsim.cli import script
scale = float(sys.argv[1])
spec = {{
    "name": "mem", "title": "5M-scenario memory benchmark", "evaluate": ["training"],
    "base": {{"model": "glam-64b-64e", "datacenter": "glam-google-oklahoma"}},
    "axes": {{
        "chip": {chips},
        "mfu": {{"start": 0.1, "stop": 0.6, "num": 50}},
        "tokens": {{"start": 1e11, "stop": 1e12, "num": max(1, round(100 * scale))}},
        "chips": {{"start": 256, "stop": 8192, "num": 100, "integer": True}},
    }},
}}
with tempfile.TemporaryDirectory(dir=sys.argv[2]) as tmp:
    path = Path(tmp) / "mem.json"
    path.write_text(json.dumps(spec))
    sys.argv = ["glamsim", "study", str(path), "--out", str(Path(tmp) / "out"), "--json"]
    script()  # the command line in this process: writes the files, prints the summary, exits
"""

API = """
import sys
import numpy as np
import glamsim.api as gs
scale = float(sys.argv[1])
r = gs.train(chip={chips}, mfu=np.linspace(0.1, 0.6, 100), tokens=np.linspace(1e11, 1e12, max(1, round(1000 * scale))),
             grid=True)
print(len(r))
"""

CASES = {
    "study": ("glamsim study, 5,000,000 scenarios (training, typed MFU)", STUDY, 4.0),
    "api": ("front door gs.train(grid=True), 1,000,000 rows", API, 2.0),
}


def run_case(name: str, scale: float, tmp: str) -> dict:
    """Run one case in a child of a fresh parent (so RUSAGE_CHILDREN is that child's alone)."""
    label, code, goal = CASES[name]
    code = code.format(chips=CHIPS)
    probe = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        f"argv = [sys.executable, '-c', {code!r}, {str(scale)!r}, {tmp!r}]\n"
        "p = subprocess.run(argv, capture_output=True, text=True)\n"
        "dt = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
        "print(json.dumps({'rc': p.returncode, 'rows': p.stdout.strip(), 'err': p.stderr[-2000:], "
        "'s': dt, 'peak': peak}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    res.update(label=label, goal=goal)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(CASES), help="run one case only")
    ap.add_argument("--rows-scale", type=float, default=1.0, help="scale the row counts (a quick try: 0.1)")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="where the study writes (removed after)")
    args = ap.parse_args()
    print(f"peak RSS of a fresh subprocess per case (ru_maxrss), rows x{args.rows_scale:g}")
    for name in [args.only] if args.only else list(CASES):
        t = time.perf_counter()
        r = run_case(name, args.rows_scale, args.tmp)
        if r["rc"]:
            print(f"  {r['label']}: FAILED (exit {r['rc']}): {r['err'].strip().splitlines()[-1:]}")
            continue
        gb, rows = r["peak"] / 1e9, r["rows"]
        rows = json.loads(rows)["n_scenarios"] if rows.startswith("{") else int(rows)  # the command's --json
        verdict = "meets" if gb < r["goal"] else "MISSES"
        print(
            f"  {r['label']}: {rows:,} rows, peak {gb:.2f} GB "
            f"({verdict} the goal < {r['goal']:g} GB), {r['s']:.0f} s ({time.perf_counter() - t:.0f} s in all)"
        )


if __name__ == "__main__":
    main()

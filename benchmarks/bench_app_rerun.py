"""Median rerun of the training what-if page in predicted-MFU mode (its default) after a widget change.

Runs the page under Streamlit's AppTest and makes 20 changes to values not seen before, in turn the
training tokens, the PUE, the number of chips and the carbon intensity, timing each rerun to the
settled page; `--layouts` also shows the layouts that fit (model and baseline) and the carbon in
every region; `--profile N` prints the N most expensive functions (cumulative) of the page script,
profiled in the script runner's thread.  AppTest compiles the page on every run (a server compiles
it once), so its times are a little above a server's.
Usage: .venv/bin/python benchmarks/bench_app_rerun.py [--layouts] [--profile 40]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))
ROUNDS = 5  # of the four changes: 20 reruns


def profiled(prof: cProfile.Profile) -> None:
    """Profile each script run in the runner's thread (where the page executes)."""
    import streamlit.runtime.scriptrunner.script_runner as runner

    run = runner.exec_func_with_error_handling

    def wrapped(func, ctx):
        prof.enable()
        try:
            return run(func, ctx)
        finally:
            prof.disable()

    runner.exec_func_with_error_handling = wrapped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layouts", action="store_true", help="also show the layouts that fit and the regions table")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print the N most expensive functions")
    args = ap.parse_args()

    from streamlit.testing.v1 import AppTest

    from glamsim.scenario import TrainingScenario

    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/1_Training_what-if.py").run()
    assert at.radio(key="t_mfu_mode").value == "predicted"
    if args.layouts:
        at.checkbox(key="t_show_layouts").check().run()
        at.checkbox(key="t_show_regions").check().run()
    prof = cProfile.Profile()
    if args.profile:
        profiled(prof)
    dc = TrainingScenario.model_fields["datacenter"].default
    changes = []
    for i in range(ROUNDS):
        changes += [
            ("t_tokens", 600 + 10 * (i + 1)),
            (f"t_pue_{dc}", 1.12 + 0.01 * i),
            ("t_chips", 1024 + 128 * (i + 1)),
            (f"t_ci_{dc}", round(0.30 + 0.01 * i, 3)),
        ]
    times = []
    for key, value in changes:
        at.number_input(key=key).set_value(value)
        t = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t)
        assert not at.exception and not at.error, at.exception or at.error[0].value
    shown = " with the layouts that fit and the regions" if args.layouts else ""
    print(f"training what-if, predicted MFU{shown}: median {1e3 * statistics.median(times):.0f} ms, ", end="")
    print(f"p90 {1e3 * sorted(times)[int(0.9 * (len(times) - 1))]:.0f} ms over {len(times)} changes")
    if args.profile:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)


if __name__ == "__main__":
    main()

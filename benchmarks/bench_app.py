"""Re-render time of the training what-if page after a widget change (goal: under 500 ms).

Runs the page under Streamlit's AppTest (the same script run a browser session triggers, without
the websocket), changes one widget at a time to a value not seen before (every estimate and figure
recomputed) and then back to values seen before (figures come from the cache), and prints the
median and 90th percentile of each: with a typed MFU and uncertain inputs (ranges and the tornado
chart), and with the MFU predicted from the layout (the page's default) and the layouts that fit
shown for the model and its baseline.  Usage: .venv/bin/python benchmarks/bench_app.py [--rounds 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8)
    args = ap.parse_args()

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/1_Training_what-if.py")
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    at.radio(key="t_mfu_mode").set_value("typed").run()
    at.checkbox(key="t_ranged").check().run()  # ranges and the tornado chart on

    def rerun(key: str, value) -> float:
        at.number_input(key=key).set_value(value)
        t = time.perf_counter()
        at.run()
        dt = time.perf_counter() - t
        assert not at.exception, at.exception
        return dt

    from glamsim.scenario import TrainingScenario

    dc = TrainingScenario.model_fields["datacenter"].default
    changes = [
        ("t_chips", lambda i: 1024 + 64 * (i + 1)),
        (f"t_pue_{dc}", lambda i: 1.12 + 0.01 * i),
        ("t_mfu", lambda i: 0.301 + 0.005 * i),
    ]

    def rounds(changes) -> tuple[list, list]:
        fresh, cached = [], []
        for i in range(args.rounds):
            for key, value in changes:
                fresh.append(rerun(key, value(i)))
        for i in range(args.rounds):
            for key, value in changes:
                cached.append(rerun(key, value(i)))
        return fresh, cached

    fresh, cached = rounds(changes)
    at.checkbox(key="t_ranged").uncheck()
    at.radio(key="t_mfu_mode").set_value("predicted")
    at.checkbox(key="t_show_layouts").check().run()  # the planner's layouts for both models
    predicted = rounds(changes[:2])

    def stats(xs):
        xs = sorted(xs)
        return f"median {1e3 * statistics.median(xs):6.0f} ms   p90 {1e3 * xs[int(0.9 * (len(xs) - 1))]:6.0f} ms"

    print(f"training what-if, first render (after the landing page): {1e3 * first:.0f} ms")
    print(f"re-render after a widget change, new value (recompute + redraw): {stats(fresh)}  (n={len(fresh)})")
    print(f"re-render after a widget change, value seen before (cached figures): {stats(cached)}  (n={len(cached)})")
    print(f"predicted MFU, layouts that fit shown, new value: {stats(predicted[0])}  (n={len(predicted[0])})")
    print(f"predicted MFU, layouts that fit shown, value seen before: {stats(predicted[1])}  (n={len(predicted[1])})")
    print("goal: under 500 ms")


if __name__ == "__main__":
    main()

"""Predicted accelerator-board power against every published power figure glamsim holds.

Reads hardware_profiles/published_power.yaml (each figure with its source), runs the serving
estimate for each row's scenario, and prints the row's tensor-core and HBM utilisation, the
published and predicted board power (server power less the host share) and the error.  Two global
coefficients calibrate on the H100 rows (compute_power_w, memory_power_w in chips/h100-sxm.yaml:
the 2 x 2 system solved here and printed, the prefill row read as "reaches the TDP cap"); the A100
rows are held out: predicted with the coefficients the one rule gives a chip without its own (the
H100's fractions of TDP - idle), and their error is reported apart.  Goal: within +-15%.
Usage: .venv/bin/python benchmarks/bench_power.py
"""

from __future__ import annotations

import numpy as np
import yaml

from glamsim.config import ModelConfig
from glamsim.cost import estimate_serving
from glamsim.profiles import load_chip
from glamsim.readers import data_dir

DATA = data_dir("hardware_profiles") / "published_power.yaml"


def utilisation(v: dict, chip, phase: str) -> tuple[float, float]:
    """(tensor-core, HBM) utilisation of a phase, from the estimate's own figures."""
    peak, bw = v["peak_flops"], chip.hbm_bandwidth_gb_per_s.value * 1e9
    if phase == "prefill":
        n, s = v["prefill_chips_used"], v["prefill_s"]
        return v["prefill_flops"] / (n * peak * s), v["prefill_bytes"] / (n * bw * s)
    n, s = v["chips"], v["decode_step_s"]
    moved = v["decode_weight_bytes_per_step"] + v["decode_kv_bytes_per_step"]
    return v["batch"] * v["decode_flops_per_token"] / (n * peak * s), moved / (n * bw * s)


def main() -> None:
    spec = yaml.safe_load(DATA.read_text())
    arch = {k: v for k, v in spec["model"].items() if k != "source"}
    cfg = ModelConfig(
        name="llama-2-70b",
        activation="silu",
        dense_ffn_gated=True,
        position="rotary",
        tie_embeddings=False,
        norm="rmsnorm",
        use_bias=False,
        max_seq_len=4096,
        **arch,
    )
    rows = []
    for r in spec["rows"]:
        chip = load_chip(r["chip"])
        if r["phase"] == "idle":
            rows.append({**r, "u_c": 0.0, "u_m": 0.0, "predicted_w": chip.idle_power_w.value})
            continue
        e = estimate_serving(
            model=cfg,
            chip=r["chip"],
            chips=spec["chips"],
            batch=r["batch"],
            prompt_len=spec["prompt_len"],
            gen_len=spec["gen_len"],
        )
        v = {**e.values, "peak_flops": e.ledger["peak_flops"].value, "chips": spec["chips"], "batch": r["batch"]}
        u_c, u_m = utilisation(v, chip, r["phase"])
        server = v[f"{r['phase']}_power_w_per_chip"]
        rows.append({**r, "u_c": u_c, "u_m": u_m, "predicted_w": server - e.ledger["host_power_w"].value})

    h100 = load_chip("h100-sxm")
    cal = [r for r in rows if r["role"] == "calibrate"]
    a = np.array([[r["u_c"], r["u_m"]] for r in cal])
    b = np.array([r["board_w"] - h100.idle_power_w.value for r in cal])
    compute_w, memory_w = np.linalg.solve(a, b)
    print(f"calibration (H100 rows): compute_power_w = {compute_w:.0f} W, memory_power_w = {memory_w:.0f} W")
    print(
        f"  profile h100-sxm.yaml: compute_power_w = {h100.compute_power_w.value:g} W, "
        f"memory_power_w = {h100.memory_power_w.value:g} W\n"
    )
    print(
        f"scenario: {spec['model']['source']}; {spec['chips']} chips, prompt {spec['prompt_len']}, "
        f"output {spec['gen_len']} tokens\n"
    )
    head = (
        f"{'chip':10} {'phase':8} {'batch':>5} {'u_c':>6} {'u_m':>6} {'published W':>11} {'predicted W':>11} "
        f"{'error':>7}  role"
    )
    print(head)
    print("-" * len(head))
    errors: dict[str, list[float]] = {"calibrate": [], "held_out": []}
    for r in rows:
        err = r["predicted_w"] / r["board_w"] - 1
        errors.setdefault(r["role"], []).append(err)
        print(
            f"{r['chip']:10} {r['phase']:8} {r['batch']:>5} {r['u_c']:>6.3f} {r['u_m']:>6.3f} {r['board_w']:>11.0f} "
            f"{r['predicted_w']:>11.0f} {err:>+7.1%}  {r['role']}"
        )
    print()
    for role in ("calibrate", "held_out"):
        e = np.abs(errors[role])
        print(
            f"{role:10}: {len(e)} rows, mean |error| {e.mean():.1%}, max |error| {e.max():.1%}, "
            f"within 15%: {(e <= 0.15).sum()}/{len(e)}"
        )
    print("\nsources:")
    print(" ", " ".join(spec["source_note"].split()))
    for r in rows:
        print(f"  {r['chip']} {r['phase']}: {r['source']}")


if __name__ == "__main__":
    main()

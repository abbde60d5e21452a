"""Predictor benchmarks (issue 14): the CPU check, the validation table, the plan timings.

    .venv/bin/python benchmarks/bench_predict.py [cpu|validation|plan|calibrate|loso|memory|slices|attention|all]

- cpu:        measure this host (a 1024^3 float32 matmul; a streaming element-wise op in place over
              256 MB and over a quarter of the last-level cache, and into fresh memory), predict the
              real JAX training step of glam-tiny, glam-small and their dense twins with
              `glamsim.predict.cpu.predict_step`, measure the steps with `glamsim.measure.run.measure`,
              print predicted vs measured. Goal within +-30%.
- validation: published vs predicted rows (`glamsim validate-predictions`, also in `glamsim reproduce`).
- plan:       wall time of `glamsim plan` for GLaM 64B/64E on 1,024 TPU v4, GPT-3 on 10,000 V100 and
              Mixtral 8x7B on 64 H100 (Megatron: the folded expert layers searched too)
              (in-process search and the installed script end to end). Goal: seconds.
- calibrate:  the grid the constants in glamsim/predict/efficiency.py were chosen on (minimax relative
              error over the validation rows); prints the best settings, changes nothing.
- loso:       leave one source out (issue 22): for each source family, the four calibrated constants
              refitted on the other families' rows (the grid of `calibrate`, least median |log error|)
              over 200 resamples of those families, and that family predicted by the refits'
              average (bagging); per-family median and worst errors, how far single refits move
              them, per-chip bias, 80% interval coverage, refusals of runs that ran, and the
              ZeRO-3 / PTD-P ranking.
- memory:     predicted peak memory against torchtitan's published peaks; refusals of runs that ran.
- slices:     MaxText's v5e models on 1-32 TPU slices: the published fall in TFLOP/s per chip across
              slices beside the predicted one (a diagnosis of the cross-slice cost).
- attention:  the fused-attention kernels end to end: NVIDIA's single-GPU Llama 3.2 1B training loop
              (cuDNN frontend repository, H200 and B200, head dim 64, 768-16,384 tokens) with
              PyTorch's cuDNN and FlashAttention-2 SDPA backends; predicted against published step
              times and the FlashAttention-2 / cuDNN step-time ratio (the clocks, locked in the
              benchmark, cancel in the ratio; not validation rows: glamsim models power-limited clocks),
              and the attention time implied by two shapes with the same tokens (8,192 and 16,384);
              then the published rows whose predicted step is at least 15% attention, with the
              factor on their attention time that the published step implies (a diagnosis).
On 2 shared cores timings swing 2-4x between runs: the CPU check measures host and model in one
process and reports medians.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

MODELS = ("glam-tiny", "glam-tiny-dense", "glam-small", "glam-small-dense")
BATCH = 8


def best_host(samples: int = 3):
    """The best of a few host measurements (each figure's maximum): on shared cores contention only
    ever slows a measurement down, so the best is the closest to the uncontended host."""
    from dataclasses import replace

    from glamsim.measure.timing import measure_host

    hosts = [measure_host() for _ in range(samples)]
    best = max(hosts, key=lambda h: h.matmul_flops_per_s)
    return replace(
        best,
        memory_bytes_per_s=max(h.memory_bytes_per_s for h in hosts),
        cache_bytes_per_s=max((h.cache_bytes_per_s or 0) for h in hosts) or None,
        fresh_bytes_per_s=max(h.fresh_bytes_per_s for h in hosts),
    )


def bench_cpu() -> list[dict]:
    """Predicted vs measured CPU step time.  Both sides best-case: the host's best figures and the
    step's 10th-percentile time (the median is printed too)."""
    from glamsim.config import load_model
    from glamsim.measure.run import measure
    from glamsim.predict.cpu import predict_step

    rows = []
    for name in MODELS:
        cfg = load_model(name)
        host = best_host()  # re-measured beside each model: the shared cores drift
        rec = measure(cfg, batch=BATCH, steps=10, warmup=2)
        p = predict_step(cfg, BATCH, rec.seq_len, rec.dispatch, host)
        fast, med = rec.step_time_p10_s, rec.step_time_median_s
        rows.append(
            {
                "model": name,
                "measured_p10_s": fast,
                "measured_median_s": med,
                "predicted_s": p["step_s"],
                "error": p["step_s"] / fast - 1,
                "error_vs_median": p["step_s"] / med - 1,
                "host_gflops": host.matmul_flops_per_s / 1e9,
                "host_gb_s": host.memory_bytes_per_s / 1e9,
                "host_cache_gb_s": (host.cache_bytes_per_s or 0) / 1e9,
                "in_cache": p["in_cache"],
                "matmul_s": p["matmul_s"],
                "attention_s": p["attention_s"],
                "elementwise_s": p["elementwise_s"],
                "optimizer_s": p["breakdown"]["optimizer_s"],
            }
        )
        r = rows[-1]
        print(
            f"{name:17s} measured {fast * 1e3:8.2f} ms (p10; median {med * 1e3:8.2f})  predicted "
            f"{p['step_s'] * 1e3:8.2f} ms  error {100 * r['error']:+6.1f}% "
            f"(vs median {100 * r['error_vs_median']:+6.1f}%)"
            f"  host {r['host_gflops']:6.1f} GFLOP/s, {r['host_gb_s']:5.1f} GB/s DRAM, {r['host_cache_gb_s']:5.1f} in "
            f"cache, {host.fresh_bytes_per_s / 1e9:4.1f} first touch; "
            f"a layer's activations {p['working_set_bytes'] / 2**20:.0f} MiB "
            f"({'in' if p['in_cache'] else 'beyond'} cache)  [matmul {p['matmul_s'] * 1e3:.1f}, attention "
            f"{p['attention_s'] * 1e3:.1f}, element-wise {p['elementwise_s'] * 1e3:.1f}, optimizer "
            f"{p['breakdown']['optimizer_s'] * 1e3:.1f}, first touch of {p['temp_bytes'] / 2**20:.0f} MiB "
            f"{p['breakdown']['first_touch_s'] * 1e3:.1f} ms]",
            flush=True,
        )
    worst = max(abs(r["error"]) for r in rows)
    print(f"worst CPU error {100 * worst:.1f}% (goal 30%)")
    return rows


def bench_validation() -> list[dict]:
    from glamsim.predict.validation import validation_rows

    rows = validation_rows()
    for r in rows:
        print(
            f"{r['id']:12s} published {r['published']:9.4g}  predicted {r['predicted']:9.4g}  "
            f"error {100 * r['rel_error']:+6.1f}%  {'ok' if r['ok'] else 'MISS'}  fits={r['fits']}  {r['layout']}"
        )
    print(f"worst validation error {100 * max(abs(r['rel_error']) for r in rows):.1f}% (goal 15%)")
    return rows


def bench_plan() -> None:
    from glamsim.config import load_model
    from glamsim.predict.plan import search
    from glamsim.profiles import load_chip

    cases = (("glam-64b-64e", "tpu-v4", 1024), ("gpt3-175b", "v100", 10000), ("mixtral-8x7b", "h100-sxm", 64))
    for model, chip, n in cases:
        t0 = time.perf_counter()
        r = search(load_model(model), load_chip(chip), n)
        t1 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "glamsim", "plan", model, "--chip", chip, "--chips", str(n), "--json"],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        t2 = time.perf_counter()
        assert out.returncode == 0, out.stderr
        best = r["plans"][0]
        print(
            f"plan {model} on {n} x {chip}: {r['candidates']:,} layouts, {r['fitting']:,} fit; search "
            f"{t1 - t0:.3f} s in process, {t2 - t1:.2f} s as a command; best {best['layout']} "
            f"MFU {100 * best['mfu']:.1f}% step {best['step_s']:.2f} s"
        )


GRID = ((0.75, 0.8, 0.85, 0.9), (16, 32, 48, 64, 96), (1.0, 2.0, 3.0, 4.0), (0.6, 0.7, 0.8, 0.9))


def _grid_predictions(runs, models) -> tuple[list, np.ndarray]:
    """Every run's log(predicted / published) at every setting of the grid."""
    from glamsim.predict import efficiency as eff
    from glamsim.predict import tiers
    from glamsim.predict.validation import predict_run

    names = ("MATMUL_PEAK_FRACTION", "MATMUL_HALF_DIM", "ELEMENTWISE_PASSES")
    frozen = ({n: getattr(eff, n) for n in names}, tiers.LINK_EFFICIENCY)
    settings, errors = [], []
    try:
        for a, b, c, d in itertools.product(*GRID):
            eff.MATMUL_PEAK_FRACTION, eff.MATMUL_HALF_DIM, eff.ELEMENTWISE_PASSES = a, b, c
            tiers.LINK_EFFICIENCY = d
            settings.append((a, b, c, d))
            errors.append([float(np.log(predict_run(r, models)["predicted"] / r.published.value)) for r in runs])
    finally:
        for n, v in frozen[0].items():
            setattr(eff, n, v)
        tiers.LINK_EFFICIENCY = frozen[1]
    return settings, np.asarray(errors)


def bench_loso() -> None:
    from glamsim.predict.validation import predictions, validation_rows

    models, runs = predictions()
    t0 = time.perf_counter()
    settings, log_err = _grid_predictions(runs, models)
    sign = np.array([-1.0 if r.quantity == "step_s" else 1.0 for r in runs])  # time: slower = lower
    log_err = log_err * sign
    fams = np.array([r.family for r in runs])
    held = np.empty(len(runs))
    print(
        f"{len(runs)} rows, {len(set(fams))} source families, {len({r.stack for r in runs})} stacks; "
        f"grid of {len(settings)} settings in {time.perf_counter() - t0:.0f} s"
    )
    picks = _cluster_refits(log_err, fams)
    for f in sorted(set(fams)):
        out = fams == f
        held[out] = log_err[picks[f]][:, out].mean(axis=0)
        share = np.bincount(picks[f], minlength=len(settings)) / len(picks[f])
        e = np.expm1(held[out])
        print(
            f"  {f:16s} {out.sum():2d} rows  refitted without it: {1 / np.sum(share**2):4.1f} settings' worth, "
            f"most often {settings[int(np.argmax(share))]} ({100 * share.max():.0f}%)  "
            f"median |error| {100 * np.median(np.abs(e)):5.1f}%  worst {100 * e[np.argmax(np.abs(e))]:+6.0f}%"
        )
    e = np.expm1(held)
    print(
        f"leave-one-source-out: median |error| {100 * np.median(np.abs(e)):.1f}%, "
        f"{int(np.sum(np.abs(e) > 0.35))} rows beyond +-35% (goal 0), worst {100 * np.max(np.abs(e)):.0f}%"
    )
    filed = np.array([bool(r.publisher_regression) for r in runs])
    if filed.any():
        rest = e[~filed]
        inferred = sum(r.publisher_regression.startswith("inferred") for r in runs)
        print(
            f"  under their publisher's performance-regression reports (counted above): {int(filed.sum())}, "
            f"{inferred} by inference ({', '.join(r.id for r, f in zip(runs, filed, strict=True) if f)}); "
            f"without them: median |error| {100 * np.median(np.abs(rest)):.1f}%, "
            f"{int(np.sum(np.abs(rest) > 0.35))} rows beyond +-35%"
        )
    _objective_sensitivity(log_err, fams)
    _refit_spread(log_err, fams, picks)
    chips = np.array([r.chip.split("-")[0] for r in runs])
    dense = ~np.array([(models[r.model] if r.model in models else _preset(r.model)).is_moe for r in runs])
    print(
        "per-chip median bias (held out): "
        + ", ".join(f"{c} {100 * np.median(e[chips == c]):+.0f}%" for c in sorted(set(chips)))
        + "; dense rows only: "
        + ", ".join(f"{c} {100 * np.median(e[(chips == c) & dense]):+.0f}%" for c in sorted(set(chips[dense])))
    )
    rows = validation_rows()
    plain = [_covered_at(r, 0.8) for r in rows]
    at80 = [r["covered"] for r in rows if r["level"] == 0.8]
    at95 = [r["covered"] for r in rows if r["level"] != 0.8]
    widened = sum(r["widened"] for r in rows)
    print(
        f"80% intervals (other sources' errors, none widened) cover {100 * np.mean(plain):.1f}% "
        f"({int(np.sum(plain))} of the {len(rows)} rows; goal 70-90%); as the tool gives them held out, 80% for "
        f"{len(at80)} rows: "
        f"{100 * np.mean(at80):.0f}% covered, 95% for the {len(at95)} far from what the other sources "
        f"validated (chip, stack, experts or attention kernel): {100 * np.mean(at95):.0f}%; "
        f"{widened} of the {len(rows)} widened to span published MoE or long-context rows like them"
    )
    refused = [r["id"] for r in rows if not r["may_fit"]]
    tight = [r["id"] for r in rows if r["memory_verdict"] == "tight"]
    print(f"refused as not fitting (all ran): {len(refused)} {refused}; tight (within the count's error): {tight}")
    by_id = {r["id"]: r["predicted"] for r in rows}
    for n in (384, 768, 1536):
        p, z = by_id[f"megatron21-t2-ptdp-175b-{n}"], by_id[f"megatron21-t2-zero3-175b-{n}"]
        print(
            f"  175B on {n:5d} A100: PTD-P {p:5.0f} vs ZeRO-3 {z:5.0f} TFLOP/s per GPU predicted "
            f"({'PTD-P above, as measured' if p > z else 'ZeRO-3 above: the reverse of Table 2'})"
        )
    for n, nz in ((560, 640), (1120, 1120), (2240, 2240)):  # ZeRO-3 did not fit 560 GPUs at microbatch 4
        p, z = by_id[f"megatron21-t2-ptdp-530b-{n}"], by_id[f"megatron21-t2-zero3-530b-{nz}"]
        print(
            f"  530B on {n:5d} A100 (ZeRO-3 on {nz}): PTD-P {p:5.0f} vs ZeRO-3 {z:5.0f} TFLOP/s per GPU predicted "
            f"({'PTD-P above, as measured' if p > z else 'ZeRO-3 above: the reverse of Table 2'})"
        )
    moe = [i for i, r in enumerate(runs) if (models[r.model] if r.model in models else _preset(r.model)).is_moe]
    print(f"MoE rows held out ({len(moe)}, {len({runs[i].family for i in moe})} sources):")
    for i in moe:
        print(f"  {runs[i].id:32s} {runs[i].family:16s} held-out error {100 * e[i]:+6.1f}%")
    print(f"  median |error| over the MoE rows {100 * np.median(np.abs(e[moe])):.1f}%")
    glam = next(r for r in rows if r["id"] == "glam_v4")
    print(f"GLaM published run: {100 * glam['rel_error']:+.1f}% (goal +-15%)")
    print("every row, held out (its family predicted by the refits without it):")
    for i in np.argsort(-np.abs(e)):
        print(f"  {runs[i].id:36s} {runs[i].family:16s} {runs[i].chip:16s} {runs[i].stack:13s} {100 * e[i]:+6.1f}%")


def _covered_at(row: dict, level: float) -> bool:
    """Whether `row`'s published figure lies in the interval of the other sources' errors at `level`
    (pooled as the tool pools them, `intervals.pooled`: the dense rows, and an MoE row's routing
    class too)."""
    from glamsim.predict.intervals import pooled, residuals

    routing = next(r[4] for r in residuals() if r[0] == row["id"])
    q = np.quantile([abs(r[3]) for r in pooled(routing, row["family"])], level)
    low, high = np.exp(-q), np.exp(q)
    if row["quantity"] == "step_s":
        low, high = 1 / high, 1 / low
    return bool(row["predicted"] * low <= row["published"] <= row["predicted"] * high)


def _single_best(log_err: np.ndarray, fams: np.ndarray, objective: Callable[..., np.ndarray]) -> np.ndarray:
    """Each row's log error by the one grid setting that minimises `objective` (of |log error|,
    over the settings' axis) on the other families' rows: the unbagged refit."""
    held = np.empty(log_err.shape[1])
    for f in sorted(set(fams)):
        out = fams == f
        held[out] = log_err[int(np.argmin(objective(np.abs(log_err[:, ~out]), axis=1))), out]
    return held


def _objective_sensitivity(log_err: np.ndarray, fams: np.ndarray) -> None:
    """Two sensitivity checks, not the reported figure: the refit by the single best setting of the
    median |log error| on all the other families' rows (unbagged: it jumps between settings the
    flat objective can hardly tell apart), and by the mean |log error| as objective."""
    refits = (("the single best setting", np.median), ("the single best setting by the mean |log error|", np.mean))
    for name, objective in refits:
        e = np.expm1(_single_best(log_err, fams, objective))
        by_family = ", ".join(f"{f} {100 * np.median(np.abs(e[fams == f])):.0f}%" for f in sorted(set(fams)))
        print(
            f"  sensitivity, refit by {name}: median |error| {100 * np.median(np.abs(e)):.1f}%, "
            f"{int(np.sum(np.abs(e) > 0.35))} rows beyond +-35%; {by_family}"
        )


def _weighted_median_objective(abs_sorted: np.ndarray, order: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per grid setting, the median |log error| of the rows each counted `w` times (integer
    weights; rows sorted per setting): `np.median` of the repeated rows, the two middle values
    averaged when their count is even."""
    cum = np.cumsum(w[order], axis=1)
    total = cum[:, -1:]
    rows = np.arange(len(cum))
    low = abs_sorted[rows, np.argmax(cum >= np.floor((total + 1) / 2), axis=1)]
    high = abs_sorted[rows, np.argmax(cum >= np.floor(total / 2) + 1, axis=1)]
    return (low + high) / 2


def _cluster_refits(log_err: np.ndarray, fams: np.ndarray, draws: int = 200, seed: int = 0) -> dict:
    """For each source family, the grid setting the refit without it picks on each of `draws`
    resamples of the other families (with replacement, the source the unit as in the
    leave-one-source-out), by the least median |log error| of their rows, each row counted as often
    as its family was drawn.  The median's objective is flat near its minimum, so the one best
    setting on all the other rows jumps between settings they can hardly tell apart when a few rows
    move by tenths; the family is predicted by these refits' average (bagging, `bench_loso`), and
    their spread says how far one refit can move it (`_refit_spread`)."""
    rng = np.random.default_rng(seed)
    order = np.argsort(np.abs(log_err), axis=1)
    abs_sorted = np.take_along_axis(np.abs(log_err), order, axis=1)
    names = sorted(set(fams))
    picks = {}
    for f in names:
        out = fams == f
        # every other family once: the unbagged refit itself
        once = _weighted_median_objective(abs_sorted, order, (~out).astype(float))
        np.testing.assert_allclose(once, np.median(np.abs(log_err[:, ~out]), axis=1), rtol=0, atol=1e-12)
        others = [g for g in names if g != f]
        best = np.empty(draws, dtype=np.int64)
        for b in range(draws):
            counts = dict(zip(*np.unique(rng.choice(others, len(others)), return_counts=True), strict=True))
            w = np.array([float(counts.get(g, 0)) for g in fams])
            best[b] = int(np.argmin(_weighted_median_objective(abs_sorted, order, w)))
        picks[f] = best
    return picks


def _refit_spread(log_err: np.ndarray, fams: np.ndarray, picks: dict) -> None:
    """How far one refit moves the held-out figures: each of the cluster-bootstrap refits
    (`_cluster_refits`, `picks`) predicting its family alone; the 10th-90th percentiles over the
    draws of the overall median |error|, the rows beyond +-35% and each family's median."""
    names = sorted(set(fams))
    draws = len(next(iter(picks.values())))
    held = np.empty((draws, log_err.shape[1]))
    for f in names:
        out = fams == f
        held[:, out] = log_err[picks[f]][:, out]
    e = np.expm1(held)
    med = np.median(np.abs(e), axis=1)
    beyond = np.sum(np.abs(e) > 0.35, axis=1)
    fam = {f: np.median(np.abs(e[:, fams == f]), axis=1) for f in names}

    def span(x: np.ndarray, pct: bool = True) -> str:
        lo, hi = np.percentile(x, (10, 90))
        return f"{100 * lo:.1f}-{100 * hi:.1f}%" if pct else f"{lo:.0f}-{hi:.0f}"

    over = np.sum(np.stack(list(fam.values())) > 0.10, axis=0)
    print(
        f"  one refit's spread ({draws} cluster-bootstrap refits per family, 10th-90th percentile): median |error| "
        f"{span(med)}, rows beyond +-35% {span(beyond, False)}, families over 10% {span(over, False)}; "
        + ", ".join(f"{f} {span(v)}" for f, v in fam.items())
    )


def _preset(name: str):
    from glamsim.config import load_model

    return load_model(name)


CALIBRATION_ROWS = 8


def bench_calibrate() -> None:
    """Minimax relative error over the eight rows the constants were calibrated on (the first eight of
    `published_runs.yaml`'s `predictions:`), on the coarse grid of the four constants."""
    from glamsim.predict import efficiency as eff
    from glamsim.predict import tiers
    from glamsim.predict.validation import predict_run, predictions

    models, runs = predictions()
    runs = runs[:CALIBRATION_ROWS]
    frozen = (eff.MATMUL_PEAK_FRACTION, eff.MATMUL_HALF_DIM, eff.ELEMENTWISE_PASSES, tiers.LINK_EFFICIENCY)
    results = []
    try:
        for a, b, c, d in itertools.product(
            (0.75, 0.8, 0.85, 0.9), (16, 32, 48, 64, 96), (1.0, 2.0, 3.0, 4.0), (0.6, 0.7, 0.8, 0.9)
        ):
            eff.MATMUL_PEAK_FRACTION, eff.MATMUL_HALF_DIM, eff.ELEMENTWISE_PASSES = a, b, c
            tiers.LINK_EFFICIENCY = d
            e = np.array([predict_run(r, models)["predicted"] / r.published.value - 1 for r in runs])
            results.append((float(np.max(np.abs(e))), (a, b, c, d), e))
    finally:
        eff.MATMUL_PEAK_FRACTION, eff.MATMUL_HALF_DIM, eff.ELEMENTWISE_PASSES, tiers.LINK_EFFICIENCY = frozen
    results.sort(key=lambda x: x[0])
    print(f"frozen: {frozen}; rows: {', '.join(r.id for r in runs)}")
    for worst, consts, e in results[:8]:
        print(
            f"max {100 * worst:5.1f}%  (peak fraction, half dim, element-wise passes, link efficiency) = {consts}  "
            f"errors {np.round(100 * e, 1).tolist()}"
        )


def bench_memory() -> None:
    """Predicted peak memory per chip against the published peaks (torchtitan's, in GiB), and the
    published runs that ran but are refused as not fitting, and those counted tight."""
    from glamsim.predict.validation import predict_run, predictions

    models, runs = predictions()
    errors, refused, tight = [], [], []
    for run in runs:
        r = predict_run(run, models)["prediction"]
        if not r["may_fit"]:
            refused.append(run.id)
        elif not r["fits"]:
            tight.append(f"{run.id} ({r['memory']['total'] / 1e9:.1f} of {r['memory']['usable'] / 1e9:.1f} GB)")
        if run.peak_memory_gib is None:
            continue
        m = r["memory"]
        got = m["total"] / 2**30
        err = got / run.peak_memory_gib.value - 1
        errors.append(err)
        parts = ", ".join(
            f"{k} {m[k] / 2**30:.1f}" for k in ("weights", "gradients", "optimizer", "activations", "logits")
        )
        pub = run.peak_memory_gib.value
        print(f"  {run.id:36s} published {pub:5.1f} GiB  predicted {got:5.1f} GiB  {err:+6.1%}  ({parts})")
    worst = max(errors, key=abs) if errors else float("nan")
    med = np.median(np.abs(errors))
    print(f"peak memory: {len(errors)} rows, median |error| {med:.1%}, worst {worst:+.1%} (goal +-25%)")
    print(f"refused as not fitting (all ran): {len(refused)} {refused}")
    print(f"tight (counted over the usable HBM, within the count's error; predicted, flagged): {tight}")
    from glamsim.predict.intervals import memory_band

    print(f"memory band, all sources: {memory_band().basis}")


# NVIDIA/cudnn-frontend benchmark/Llama-3.2-1B-Training (README.md @7606332, its Results tables;
# artifacts/h200_training_timing.csv @06ddf80): Hugging Face's LlamaForCausalLM (Llama 3.2 1B, random
# weights, bf16 throughout, SGD), one GPU, forward + cross entropy + backward + step, seconds per
# iteration over 100 iterations, the clock locked at the base clock (H200 1,500 MHz, B200 1,665 MHz),
# PyTorch 2.7.0, cuDNN 9.9.0 (NGC 25.04).  Batch x sequence as published.
ATTENTION_CHECK_SHAPES = ((24, 768), (12, 1024), (6, 2048), (3, 4096), (2, 8192), (1, 16384))
ATTENTION_CHECK_STEP_S = {  # chip: {kernel: seconds per iteration at each shape}
    "h200": {"cudnn": (0.329, 0.222, 0.229, 0.243, 0.357, 0.424), "flash2": (0.337, 0.228, 0.240, 0.260, 0.397, 0.500)},
    "b200": {"cudnn": (0.200, 0.139, 0.144, 0.155, 0.231, 0.285), "flash2": (0.208, 0.145, 0.154, 0.172, 0.276, 0.374)},
}
# meta-llama/Llama-3.2-1B config.json, the fields that shape the model (as quoted in apple/axlearn's
# test: "Parameters are based on https://huggingface.co/meta-llama/Llama-3.2-1B/blob/main/config.json"),
# read by glamsim's own Hugging Face reader.
LLAMA32_1B_CONFIG = {
    "model_type": "llama",
    "vocab_size": 128256,
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "hidden_act": "silu",
    "max_position_embeddings": 131072,
    "tie_word_embeddings": True,
}


def bench_attention() -> None:
    """The attention kernels in a whole training step: predicted against published seconds per
    iteration for each chip and kernel, and the FlashAttention-2 / cuDNN ratio at each shape.  The
    layout: one GPU, eager PyTorch (unfused element-wise ops), 16-bit weights, gradients and
    optimizer state without a master copy (Adam's passes stand for SGD's: under 1% of a step)."""
    from glamsim.hf import from_dict
    from glamsim.predict.estimate import evaluate
    from glamsim.predict.layout import parse_layout

    cfg = from_dict(LLAMA32_1B_CONFIG, "Llama-3.2-1B config.json", name="llama3.2-1b").config
    for chip, by_kernel in ATTENTION_CHECK_STEP_S.items():
        predicted, predicted_attention = {}, {}
        for kernel in by_kernel:
            for batch, seq in ATTENTION_CHECK_SHAPES:
                layout = parse_layout(
                    f"dp=1,mb={batch},gbs={batch},stack=pytorch-fsdp,fused=0,attn={kernel},"
                    "params=bf16,grads=bf16,opt_state=bf16,master=0"
                )
                r = evaluate(cfg, chip, layout, seq_len=seq)
                predicted[kernel, seq] = r["step_s"]
                predicted_attention[kernel, seq] = r["attention_s"]
        print(f"{chip}: seconds per iteration, predicted / published (error); FlashAttention-2 / cuDNN ratio")
        errors = []
        for i, (batch, seq) in enumerate(ATTENTION_CHECK_SHAPES):
            cells = []
            for kernel, published in by_kernel.items():
                err = predicted[kernel, seq] / published[i] - 1
                errors.append(err)
                cells.append(f"{kernel} {predicted[kernel, seq]:.3f} / {published[i]:.3f} ({err:+.1%})")
            ratio_pub = by_kernel["flash2"][i] / by_kernel["cudnn"][i]
            ratio_pred = predicted["flash2", seq] / predicted["cudnn", seq]
            print(f"  {batch:2d} x {seq:6,d}  {'  '.join(cells)}  ratio {ratio_pred:.3f} vs {ratio_pub:.3f}")
        print(f"  median |error| {np.median(np.abs(errors)):.1%} (the benchmark's locked clock is not modelled)")
        # 2 x 8,192 and 1 x 16,384 carry the same tokens: everything but attention is the same work,
        # and attention doubles, so the difference is the 8,192 step's attention
        for kernel, published in by_kernel.items():
            attention = 2 * (published[-1] - published[-2])
            rest = published[-1] - attention
            print(
                f"  {kernel} at 16,384, from the step difference: attention {attention:.3f} s "
                f"(predicted {predicted_attention[kernel, 16384]:.3f}), the rest {rest:.3f} s "
                f"(predicted {predicted[kernel, 16384] - predicted_attention[kernel, 16384]:.3f})"
            )
        if chip == "h200":  # the benchmark ran cuDNN 9.9, between the default's 9.1.1 and 9.19
            layout = parse_layout(
                "dp=1,mb=1,gbs=1,stack=pytorch-fsdp,fused=0,attn=cudnn-9.19,params=bf16,grads=bf16,opt_state=bf16,master=0"
            )
            newer = evaluate(cfg, chip, layout, seq_len=16384)["attention_s"]
            print(f"  cudnn-9.19 at 16,384: attention predicted {newer:.3f} s")


def bench_attention_rows(min_share: float = 0.15) -> None:
    """The published rows whose predicted step spends at least `min_share` in attention: the factor
    on the predicted attention time that the published step implies, 1 + (published - predicted) /
    (the step's sensitivity to its attention time, measured by doubling every attention kernel's
    time).  A diagnosis, not a fit: a family whose factor is the same at every length points at the
    attention kernels, one that varies at other costs."""
    from glamsim.predict import compute
    from glamsim.predict import validation as v

    original = compute.attention_s

    def steps(scale: float) -> dict:
        compute.attention_s = lambda *a, **k: scale * original(*a, **k)
        v.prediction_rows.cache_clear()
        try:
            return {r["id"]: r for r in v.prediction_rows()}
        finally:
            compute.attention_s = original
            v.prediction_rows.cache_clear()

    base, doubled = steps(1.0), steps(2.0)
    print("published rows by attention's share of the predicted step: the attention factor the published step implies")
    for rid, r in sorted(base.items(), key=lambda kv: (kv[1]["family"], kv[1]["seq_len"], kv[0])):
        attention = doubled[rid]["step_s"] - r["step_s"]
        if attention < min_share * r["step_s"]:
            continue
        # every quantity but step_s is a throughput: published / predicted = predicted step / published step
        published = r["step_s"] * (1 + r["rel_error"]) if r["quantity"] != "step_s" else r["published"]
        implied = 1 + (published - r["step_s"]) / attention
        print(
            f"  {rid:36s} {r['family']:15s} {r['seq_len']:>9,d} tokens  attention {attention / r['step_s']:4.0%} "
            f"of the step  error {r['rel_error']:+6.1%}  implied factor {implied:.2f}"
        )


# MaxText's v5e table (AI-Hypercomputer/maxtext MaxText/configs/v5e/README.md @76bd53b0f, read_file id
# 98027184): TFLOP/s per chip on 1, 2, 4, 8, 16 and 32 v5e-256 slices.  Its 1- and 32-slice columns
# are validation rows; the others are read here only, as a diagnosis of the cross-slice cost.
MAXTEXT_SLICES = (1, 2, 4, 8, 16, 32)
MAXTEXT_V5E_TFLOPS = {
    "16b": (120, 117, 117, 115, 111, 108),
    "32b": (132, 128, 126, 125, 123, 119),
    "64b": (118, 112, 110, 108, 105, 99),
    "128b": (110, 110, 108, 104, 100, 91),
}


def bench_slices() -> None:
    """MaxText's v5e models on 1-32 slices: each one-slice row's layout replicated over the slices
    (data parallelism over DCN, the batch per chip fixed), predicted TFLOP/s per chip against the
    table's, each relative to its one-slice figure; then MaxText's v4 rows (1-8 slices) the same way.
    A diagnosis, not validation: it shows how much of the fall across slices the predictor carries."""
    from glamsim.predict.validation import predict_run, predictions

    models, runs = predictions()
    rows = {r.id: r.published.value for r in runs}
    print("MaxText v5e, TFLOP/s per chip relative to one slice: published / predicted")
    for size, published in MAXTEXT_V5E_TFLOPS.items():
        one = next(r for r in runs if r.id == f"maxtext-v5e-{size}-256")
        # the table's 1- and 32-slice columns are the validation rows' published figures
        assert published[0] == rows[one.id] and rows.get(f"maxtext-v5e-{size}-8192", published[-1]) == published[-1]
        keys = dict(kv.split("=") for kv in one.layout.split(","))
        predicted = []
        for n in MAXTEXT_SLICES:
            lay = dict(keys, gbs=str(int(keys["gbs"]) * n))
            if n > 1:
                lay["dp"] = str(n)
            run = one.model_copy(update={"layout": ",".join(f"{k}={v}" for k, v in lay.items())})
            predicted.append(predict_run(run, models)["predicted"])
        cells = "  ".join(
            f"{n:2d}: {p / published[0]:.3f} / {q / predicted[0]:.3f}"
            for n, p, q in zip(MAXTEXT_SLICES, published, predicted, strict=True)
        )
        print(f"  {size:>4s}  {cells}")
    # MaxText's v4 table: its rows are the validation rows themselves (1-8 slices of 64 or 192 chips)
    print("MaxText v4, TFLOP/s per chip relative to one slice: published / predicted")
    for size in ("22b", "52b"):
        fam = [(r, predict_run(r, models)) for r in runs if r.model == f"maxtext-v4-{size}"]
        fam.sort(key=lambda rp: rp[1]["prediction"]["chips"])
        (first, p0), slices = fam[0], [p["prediction"]["chips"] / r.chips_per_node.value for r, p in fam]
        cells = "  ".join(
            f"{n:2.0f}: {r.published.value / first.published.value:.3f} / {p['predicted'] / p0['predicted']:.3f}"
            for n, (r, p) in zip(slices, fam, strict=True)
        )
        print(f"  {size:>4s}  {cells}")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("validation", "all"):
        bench_validation()
    if what in ("plan", "all"):
        bench_plan()
    if what in ("calibrate",):
        bench_calibrate()
    if what in ("loso",):
        bench_loso()
    if what in ("memory", "all"):
        bench_memory()
    if what in ("slices", "all"):
        bench_slices()
    if what in ("attention", "all"):
        bench_attention()
        bench_attention_rows()
    if what in ("cpu", "all"):
        bench_cpu()

"""Equal quality, the figures of docs/quality.md: the laws' published checks, and GPT-3 175B's quality
(300B tokens) reached by a compute-optimal dense model and GLaM-family MoEs, with training and lifetime
serving cost on H100 at a stated MFU.  Run: .venv/bin/python benchmarks/bench_quality.py"""

import time

import glamsim.api as gs
from glamsim.cost.quality.checks import checks

for r in checks():
    print(
        f"{r['check']}: published {r['published']:.3g}, glamsim {r['glamsim']:.3g}, "
        f"error {r['error']:+.1%} (tol {r['tolerance']:.0%})"
    )
t = time.perf_counter()
df = gs.quality(as_good_as="gpt3-175b", tokens=300e9, experts=[8, 64, 256], mfu=0.4, served_tokens=1e13)
wall = time.perf_counter() - t
print(f"\nequal quality: {df.attrs['reference']} (chinchilla loss {df.attrs['target_loss']:.4f}); plan in {wall:.2f} s")
cols = [
    "option",
    "params_active",
    "params_total",
    "tokens",
    "law_compute_flops",
    "law_compute_low_flops",
    "law_compute_high_flops",
    "train_energy_mwh",
    "train_co2e_t",
    "train_cost_usd",
    "serve_usd_per_million_tokens",
    "total_cost_usd",
    "crossover_served_tokens",
]
print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))

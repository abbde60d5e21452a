"""The IsoFLOP study's default grid, once, in a fresh folder (docs/quality.md, "The IsoFLOP study on your
machine"): 5 budgets x 3 widths x {dense, 8 experts} trained with the JAX GLaM on the Python stdlib's
sources, the law fitted per family (Huber on log-loss, bootstrap intervals), the MoE compute advantage
per budget, the published figures beside, the machine and the wall time.
Run: .venv/bin/python benchmarks/bench_isoflop.py [OUT]  (default: a temporary folder)"""

import os
import sys
import tempfile
import time

import glamsim.api as gs

out = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="glamsim-isoflop-")
t = time.perf_counter()
df = gs.isoflop(out, progress=True)
wall = time.perf_counter() - t
rep, led = df.attrs["report"], df.attrs["ledger"]
m = led["machine"]
print(
    f"\nmachine: {m['backend']} ({m['device']}, {m['n_devices']} device(s), jax {m['jax_version']}), "
    f"{os.cpu_count()} CPU cores; {df.attrs['trained']} runs trained, {df.attrs['reused']} reused; "
    f"wall {wall:.0f} s (fit, bootstrap and report {df.attrs['fit_s']:.0f} s); out {out}"
)
cols = ["family", "d_model", "params_active", "budget_flops", "steps", "tokens", "val_loss", "val_bpb"]
print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
print("\nfitted L = E + A/N^alpha + B/D^beta per family (10th-90th percentile of the bootstrap), published beside:")
co = rep["coefficients"]
print(co.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
print("\nMoE compute advantage (dense compute reaching the MoE loss at C, over C):")
adv = rep["advantage"].drop(columns=["published_extrapolates"])
print(adv.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
for r in rep["published_advantage_reference"]:
    print(
        f"published (Clark et al. 2022 on Chinchilla), {r['n_experts']} experts at {r['compute_flops']:.0e} FLOPs: "
        f"{r['advantage']:.3g}x" + (f" [{r['extrapolates']}]" if r["extrapolates"] else "")
    )

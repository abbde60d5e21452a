"""Side-by-side training and serving cost of several models, with published quality beside it.

Each row puts what MoE saves (activated FLOPs per token) next to what it costs (every expert in
HBM: weight GB, chips needed to serve, bytes read per decode step).
"""

from __future__ import annotations

from glamsim.config import ModelConfig, load_model
from glamsim.cost.serving import estimate_serving
from glamsim.cost.training import estimate_training
from glamsim.uncertain import Uncertain


def compare_models(
    models: list[ModelConfig | str],
    *,
    chip: str | None = None,
    chips: int | None = None,
    tokens: float | None = None,
    datacenter: str | None = None,
    mfu: Uncertain | None = None,
    serve_chip: str | None = None,
    batch: int | None = None,
    prompt_len: int | None = None,
    gen_len: int | None = None,
    profiles_dirs: tuple = (),
) -> list[dict]:
    """One row per model: training (same chip, chips, tokens, MFU) and serving (fewest chips) costs.

    Every argument left None is the scenario's default (`glamsim.scenario.TrainingScenario` for
    training, `ServingScenario` for serving, on `serve_chip` or else the training chip), so
    `compare` trains on what `estimate train` trains on, and predicts the MFU when none is given."""
    given = lambda **kw: {k: v for k, v in kw.items() if v is not None}  # noqa: E731
    rows = []
    for m in models:
        cfg = m if isinstance(m, ModelConfig) else load_model(m)
        t = estimate_training(
            model=cfg,
            **given(tokens=tokens, chip=chip, chips=chips, datacenter=datacenter, mfu=mfu),
            profiles_dirs=profiles_dirs,
        )
        i = estimate_serving(
            model=cfg,
            **given(
                chip=serve_chip or chip, datacenter=datacenter, batch=batch, prompt_len=prompt_len, gen_len=gen_len
            ),
            profiles_dirs=profiles_dirs,
        )
        pub = cfg.published
        quality = {
            k: (getattr(pub, k).value if pub and getattr(pub, k) else None)
            for k in ("zero_shot", "one_shot", "few_shot")
        }
        rows.append(
            {
                "model": cfg.name,
                "params_total": i["params_total"],
                "params_active": i["params_active"],
                "train_flops_total": t.flops_total,
                "train_mfu": t.mfu,
                "train_layout": t.prediction["layout"] if t.prediction else None,
                "train_days": t.train_days,
                "energy_mwh": t.energy_mwh,
                "co2e_t": t.co2e_t,
                "cost_usd": t.cost_usd,
                "infer_gflops_per_token": i["decode_flops_per_token"] / 1e9,
                "weight_gb_total": i["weight_gb_total"],
                "serve_min_chips": i["serving_min_chips"],
                "decode_weight_gb_per_step": i["decode_weight_bytes_per_step"] / 1e9,
                "decode_tokens_per_s_per_chip": i["decode_tokens_per_s_per_chip"],
                "joules_per_token": i["joules_per_token"],
                "usd_per_million_tokens": i["usd_per_million_tokens"],
                "kgco2e_per_million_tokens": i["kgco2e_per_million_tokens"],
                **quality,
            }
        )
    return rows

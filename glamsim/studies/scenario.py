"""One scenario of a study: the model, the hardware and how it is used (training and serving).

Every field is a sweepable axis; names carry their units and follow `glamsim.cost`'s argument
names.  Optional overrides (power, PUE, carbon intensity, price) default to the chip and
datacenter profiles, resolved by the cost model's own rules (measured power, else TDP).
"""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt

from glamsim.config import Frozen


class Scenario(Frozen):
    label: str = Field("", description="a name for the scenario in tables and figures")
    model: str = Field("glam-64b-64e", description="model preset name or ModelConfig YAML")
    chip: str = "tpu-v4"
    datacenter: str = "glam-google-oklahoma"
    chips: PositiveInt = 1024
    tokens: PositiveFloat = Field(600e9, description="training tokens")
    seq_len: PositiveInt = Field(1024, description="training sequence length (tokens)")
    mfu: float = Field(0.3, gt=0, le=1, description="model FLOPs utilisation (ignored where hours is given)")
    hours: PositiveFloat | None = Field(None, description="known wall-clock training hours (instead of mfu)")
    measured: str | None = Field(None, description="a `glamsim measure` record (JSON): its MFU replaces mfu "
                                 "where the run's device is the scenario's chip")
    power_w: PositiveFloat | None = Field(None, description="power per chip; default: the chip profile's")
    tdp_fraction: float = Field(1.0, gt=0, le=1, description="share of TDP drawn when only TDP is published")
    pue: float | None = Field(None, ge=1, description="default: the datacenter profile's")
    carbon_intensity_kg_per_kwh: float | None = Field(None, ge=0, description="default: the datacenter's (net)")
    price_per_chip_hour_usd: float | None = Field(None, ge=0, description="default: the chip profile's")
    batch: PositiveInt = Field(32, description="serving: requests decoded together")
    prompt_len: PositiveInt = Field(1024, description="serving: prompt tokens per request")
    gen_len: PositiveInt = Field(256, description="serving: generated tokens per request")
    serving_chips: PositiveInt | None = Field(None, description="serving chips; default: fewest that hold the model")
    serving_mfu: float = Field(1.0, gt=0, le=1, description="serving: share of dense peak reached (roofline)")
    mbu: float = Field(1.0, gt=0, le=1, description="serving: share of HBM bandwidth reached (roofline)")
    bytes_per_param: PositiveFloat = Field(2.0, description="serving weights: 2 for bf16")
    bytes_per_kv: PositiveFloat = Field(2.0, description="KV cache entries: 2 for bf16")
    hbm_usable_fraction: float = Field(0.9, gt=0, le=1, description="HBM share usable for weights and cache")

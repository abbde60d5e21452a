"""The inputs of a plan at equal quality, declared once like the training and serving scenarios
(`glamsim.scenario`): `glamsim quality`, `glamsim.api.quality` and the Equal quality page are built
from this model."""

from __future__ import annotations

from pydantic import field_validator, model_validator

from glamsim.inputs import inp
from glamsim.scenario import Declared

QUALITY_ASSUMED_SERVED = "assumption (glamsim): 1e12 tokens served over the model's life (give --served-tokens)"
QUALITY_EXPERTS = (8, 64, 256)


class QualityScenario(Declared):
    """A plan at equal quality (`glamsim quality`, `glamsim.api.quality`): a target (a loss, or a reference
    model and the tokens it was trained on), the expert counts and laws of the candidates, and where they
    train and serve.  The laws' names are checked where they are read (`glamsim.laws.load_law`)."""

    target_loss: float | None = inp(
        None,
        unit="nats per token, in the dense law's units",
        gt=0,
        le=100,
        help="loss to reach (instead of --as-good-as)",
        source="not given: the loss of --as-good-as on --tokens",
    )
    as_good_as: str | None = inp(
        None, help="a model preset or YAML file whose quality to match (with --tokens)", source="none"
    )
    tokens: float | None = inp(
        None, unit="tokens", gt=0, le=1e16, help="tokens the --as-good-as model was trained on", source="none"
    )
    experts: tuple[int, ...] = inp(
        QUALITY_EXPERTS,
        unit="experts per MoE layer",
        help="expert counts of the MoE candidates, e.g. 8,64,256",
        source="glamsim default: 8 (Mixtral), 64 (GLaM 64B/64E), 256",
    )
    top_k: int = inp(
        2,
        unit="experts per token",
        ge=1,
        le=64,
        help="experts each token visits",
        source="GLaM: top-2 (Du et al. 2022)",
    )
    dense_law: str = inp(
        "chinchilla",
        help="dense scaling law (chinchilla, chinchilla-precise, besiroglu or a law YAML file)",
        source="Hoffmann et al. 2022, Approach 3",
    )
    routed_law: str = inp(
        "clark-sbase",
        help="routed law for the MoE candidates (its effective parameter count)",
        source="Clark et al. 2022, S-BASE",
    )
    spread_laws: tuple[str, ...] = inp(
        ("chinchilla", "besiroglu", "krajewski"),
        help="laws whose spread gives the ranges",
        source="glamsim default: the published dense fit, its replication, and the fine-grained MoE fit",
    )
    standard_errors: bool = inp(
        True,
        help="widen the ranges by the laws' published standard errors (Besiroglu et al. 2024 give them): "
        "10th-90th percentile of the compute over 400 draws of the coefficients, each independently normal",
        source="glamsim default: on; the laws without standard errors (Hoffmann et al. 2022) add none",
    )
    template: str = inp(
        "glam-1.7b-64e",
        help="preset whose architecture family the candidates take (dense: its dense twin)",
        source="GLaM (Du et al. 2022, Table 4): top-2 MoE every other layer, d_head 128, d_ff = 4 d_model",
    )
    served_tokens: float = inp(
        1e12, unit="tokens", ge=0, le=1e18, help="tokens served over the model's life", source=QUALITY_ASSUMED_SERVED
    )
    chip: str = inp("h100-sxm", help="chip profile for training and serving", source="glamsim default: H100 SXM")
    chips: int = inp(
        1024, unit="chips", ge=1, le=2**20, help="training chips", source="GLaM's published run: 1,024 TPU v4 chips"
    )
    mfu: float | None = inp(
        None,
        unit="model FLOPs / dense peak",
        gt=0,
        le=1,
        help="training MFU (default: predicted from the layout)",
        source="predicted by glamsim.predict from the parallel layout",
    )
    datacenter: str = inp("us-ai-datacenter", help="datacenter profile", source="glamsim's default datacenter")
    batch: int = inp(32, unit="sequences", ge=1, le=2**20, help="serving batch", source="glamsim's serving default")

    @field_validator("experts", "spread_laws", mode="before")
    @classmethod
    def _split(cls, value, info):
        if isinstance(value, str):
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        elif isinstance(value, int):
            value = (value,)
        if info.field_name == "experts" and isinstance(value, (tuple, list)):
            for v in value:
                ok = isinstance(v, int) or (isinstance(v, str) and v.lstrip("-").isdigit() and len(v) < 10)
                if not ok or isinstance(v, bool):
                    raise ValueError("give whole expert counts separated by commas, e.g. 8,64,256")
            value = tuple(int(v) for v in value)
        return value

    @field_validator("experts")
    @classmethod
    def _experts(cls, value):
        if not value or len(value) > 16:
            raise ValueError("give 1 to 16 expert counts")
        for e in value:
            if not 2 <= e <= 2**16:
                raise ValueError(f"{e} experts: each count must be between 2 and 65536 (0 or 1 is the dense model)")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _target(self):
        if self.tokens is not None and self.as_good_as is None:
            raise ValueError(f"tokens={self.tokens:g}: goes with as_good_as (the tokens that model was trained on)")
        if (self.target_loss is None) == (self.as_good_as is None):
            raise ValueError("give target_loss or as_good_as (with tokens), one of them")
        if self.as_good_as is not None and self.tokens is None:
            raise ValueError(f"as_good_as={self.as_good_as!r}: needs tokens, the tokens that model was trained on")
        for e in self.experts:
            if e < self.top_k:
                raise ValueError(f"experts={e}: fewer than top_k={self.top_k}")
        return self

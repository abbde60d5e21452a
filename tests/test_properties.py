"""Property-based checks (Hypothesis): any input either validates or is refused in one line.

Random edits of a preset, a chip profile and a datacenter profile, and random YAML text, must
either give a valid object whose counts are finite, or raise `ConfigError` with a single line:
never another exception, never a multi-line message, never a structure dumped into the message.
"""

from __future__ import annotations

import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glamsim.accounting import count
from glamsim.config import ConfigError, ModelConfig, data_dir, model_presets, parse_yaml, validate_as
from glamsim.cost.training import estimate_training
from glamsim.profiles import ChipProfile, DatacenterProfile

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_LINE = 400  # a refusal names field and value; it never prints a whole structure

NUMBERS = st.one_of(
    st.integers(-3, 70),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, 2, 8, 64, 4096, 4097, 2**53 + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-320, 0.5, 2.0, 1e30, 1e31]),
)
VALUES = st.one_of(
    NUMBERS,
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def one_line_refusal(fn, *args):
    """Call fn; a ConfigError must be one short line. Returns the result or None when refused."""
    try:
        return fn(*args)
    except ConfigError as err:
        msg = str(err)
        assert "\n" not in msg and len(msg) <= MAX_LINE, msg
        return None


TINY = model_presets()["glam-tiny"].model_dump(mode="json", exclude_none=True)
MODEL_KEYS = [k for k in ModelConfig.model_fields if k != "published"] + ["unknown_key"]


@SETTINGS
@given(st.dictionaries(st.sampled_from(MODEL_KEYS), VALUES, max_size=4))
def test_random_model_configs_validate_or_refuse(changes):
    cfg = one_line_refusal(validate_as, ModelConfig, {**TINY, **changes}, "random.yaml")
    if cfg is None:
        return
    c = count(cfg, min(cfg.max_seq_len, 4096))
    assert c.params_total >= c.params_active > 0 and math.isfinite(c.flops_per_token_train)
    assert cfg.n_moe_layers == sum(cfg.is_moe_layer(i) for i in range(cfg.n_layers))


CHIP = yaml.safe_load((data_dir("hardware_profiles") / "chips" / "h100-sxm.yaml").read_text())
DC = yaml.safe_load((data_dir("hardware_profiles") / "datacenters" / "us-average.yaml").read_text())
SPEC_VALUES = st.one_of(VALUES, st.builds(lambda v: {"value": v, "source": "s", "date": "2025"}, NUMBERS))


@SETTINGS
@given(
    st.dictionaries(st.sampled_from([*ChipProfile.model_fields, "bogus"]), SPEC_VALUES, max_size=3),
    st.dictionaries(st.sampled_from([*DatacenterProfile.model_fields, "bogus"]), SPEC_VALUES, max_size=2),
)
def test_random_profiles_validate_or_refuse(chip_changes, dc_changes):
    chip = one_line_refusal(validate_as, ChipProfile, {**CHIP, **chip_changes}, "chip.yaml")
    dc = one_line_refusal(validate_as, DatacenterProfile, {**DC, **dc_changes}, "dc.yaml")
    if chip is None or dc is None:
        return
    est = one_line_refusal(lambda: estimate_training(model="glam-tiny", tokens=1e9, chip=chip, chips=8, datacenter=dc))
    if est is not None:
        assert est.train_hours > 0 and math.isfinite(est.train_hours)
        assert math.isnan(est.energy_mwh) or est.energy_mwh > 0


YAML_CHARS = st.sampled_from(list("abc:- \n[]{},&*!|>'\"#%@`\t0123456789.") + ["\n  ", ": ", "- ", "&a ", "*a"])


@SETTINGS
@given(st.lists(YAML_CHARS, max_size=60).map("".join))
def test_random_yaml_text_parses_or_refuses(text):
    one_line_refusal(parse_yaml, text, "random.yaml")

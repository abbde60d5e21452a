"""Chip and datacenter profiles: the built-in set, dense peaks, user folders, one-line refusals."""

import numpy as np
import pytest

from glamsim.config import ConfigError
from glamsim.profiles import Spec, load_chip, load_datacenter, registry

CHIPS = [
    "tpu-v3",
    "tpu-v4",
    "tpu-v5e",
    "tpu-v5p",
    "tpu-v6e",
    "v100",
    "a100-40gb",
    "a100-80gb",
    "h100-sxm",
    "h200",
    "b200",
    "gb200",
    "mi300x",
]

GOOD_CHIP = """name: my-chip
vendor: Me
peak_flops_bf16: {value: 1.0e+14, source: my datasheet, date: "2025"}
hbm_gb: {value: 16, source: my datasheet, date: "2025"}
hbm_bandwidth_gb_per_s: {value: 800, source: my datasheet, date: "2025"}
tdp_w: {value: 200, source: my datasheet, date: "2025"}
"""


def test_builtin_chips_and_datacenters_load_with_sources():
    chips = registry("chips")
    assert set(CHIPS) <= set(chips)
    for c in chips.values():
        peak = c.spec(c.peak_field())
        assert peak.value > 0 and peak.source and peak.date
        assert c.hbm_gb.source and c.hbm_bandwidth_gb_per_s.date
    dcs = registry("datacenters")
    assert {"glam-google-oklahoma", "gpt3-microsoft", "us-average", "low-carbon-grid"} <= set(dcs)


def test_published_figures_in_profiles():
    # the GLaM and GPT-3 inputs (Du et al. 2022 Sec. 6; Patterson et al. 2021 Table 4)
    assert load_chip("tpu-v4").measured_system_power_w.value == 326
    assert load_chip("v100").measured_system_power_w.value == 330
    assert load_datacenter("glam-google-oklahoma").pue.value == 1.11
    gpt3 = load_datacenter("gpt3-microsoft")
    assert (gpt3.pue.value, gpt3.carbon_intensity_net_kg_per_kwh.value) == (1.10, 0.429)
    # the GLaM net intensity is derived from the paper's 40.2 t / 456 MWh
    assert load_datacenter("glam-google-oklahoma").carbon_intensity_net_kg_per_kwh.value == pytest.approx(
        40.2 / 456, rel=1e-3
    )


def test_peaks_are_dense_not_sparsity_figures():
    assert load_chip("h100-sxm").peak_flops_bf16.value == 989e12  # 1,979 is the sparsity figure
    assert load_chip("a100-80gb").peak_flops_bf16.value == 312e12  # 624 with sparsity
    assert load_chip("tpu-v4").peak_flops_bf16.value == 275e12
    v100 = load_chip("v100")  # no bf16: MFU refers to the fp16 tensor-core peak
    assert v100.peak_field() == "peak_flops_fp16" and v100.peak_flops_fp16.value == 125e12
    with pytest.raises(ConfigError, match="dtype='bf16'.*v100"):
        v100.peak_field("bf16")


def test_user_folder_adds_and_overrides(tmp_path):
    (tmp_path / "chips").mkdir()
    (tmp_path / "chips" / "mine.yaml").write_text(GOOD_CHIP)
    (tmp_path / "chips" / "v4.yaml").write_text(GOOD_CHIP.replace("my-chip", "tpu-v4").replace("200", "111"))
    chip = load_chip("my-chip", extra_dirs=[tmp_path])
    assert chip.tdp_w.value == 200 and chip.origin == "mine.yaml"
    assert load_chip("tpu-v4", extra_dirs=[tmp_path]).tdp_w.value == 111
    assert load_chip("tpu-v4").tdp_w.value == 192  # built-in untouched
    assert load_chip(tmp_path / "chips" / "mine.yaml").name == "my-chip"
    with pytest.raises(ConfigError, match="unknown profile"):
        load_chip("my-chip")


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda t: t.replace("value: 16,", "value: -16,"), r"mine\.yaml.*hbm_gb\.value=-16"),
        (lambda t: t + "colour: red\n", r"mine\.yaml.*unknown key 'colour'"),
        (lambda t: t.replace('source: my datasheet, date: "2025"}', 'date: "2025"}', 1), r"mine\.yaml.*source"),
        (lambda t: t.replace("{value: 800", "{value: fast"), r"mine\.yaml.*hbm_bandwidth_gb_per_s\.value='fast'"),
        (lambda t: t + "default_dtype: fp8\n", r"mine\.yaml.*default_dtype='fp8'"),
        (lambda t: t + "  - [\n", r"mine\.yaml: malformed YAML"),
    ],
)
def test_malformed_profile_refused_in_one_line(tmp_path, edit, expected):
    (tmp_path / "chips").mkdir()
    (tmp_path / "chips" / "mine.yaml").write_text(edit(GOOD_CHIP))
    with pytest.raises(ConfigError, match=expected) as err:
        load_chip("my-chip", extra_dirs=[tmp_path])
    assert "\n" not in str(err.value)


def test_datacenter_pue_below_one_refused(tmp_path):
    p = tmp_path / "dc.yaml"
    p.write_text(
        'name: x\npue: {value: 0.9, source: s, date: "2025"}\n'
        'carbon_intensity_net_kg_per_kwh: {value: 0.1, source: s, date: "2025"}\n'
    )
    with pytest.raises(ConfigError, match=r"dc\.yaml.*pue\.value=0\.9.*>= 1"):
        load_datacenter(p)


# ---- the carbon pick-list: countries, cloud regions, datacenters; water and embodied figures ----------

PICK_LIST = {  # name -> (kind, gross kgCO2e/kWh as published, PUE)
    "world-average": ("country", 0.436, 1.58),  # Ember Global Electricity Review 2023 (2022)
    "us-average": ("country", 0.373, 1.58),  # EPA eGRID2022
    "france-average": ("country", 0.06739, 1.58),  # OWID / Ember 2021: 67.39 g/kWh
    "india-average": ("country", 0.637182, 1.58),
    "gcp-us-central1": ("cloud-region", 0.41272, 1.10),  # region-carbon-info 2024.csv: 412.72 g/kWh
    "gcp-europe-north1": ("cloud-region", 0.03932, 1.10),  # 39.32 g/kWh
    "aws-us-east-1": ("cloud-region", 0.39625, 1.15),  # GSF real-time-cloud 2024 row
    "glam-google-oklahoma": ("datacenter", None, 1.11),
}


@pytest.mark.parametrize("name", list(PICK_LIST))
def test_pick_list_profiles_carry_their_published_figures(name):
    kind, gross, pue = PICK_LIST[name]
    d = load_datacenter(name)
    assert d.kind == kind and d.pue.value == pue
    if gross is not None:
        assert d.carbon_intensity_gross_kg_per_kwh.value == pytest.approx(gross)
    assert d.origin == f"{name}.yaml"


def test_every_datacenter_figure_has_a_source_and_every_group_is_filled():
    dcs = registry("datacenters")
    kinds = {}
    for d in dcs.values():
        kinds.setdefault(d.kind, []).append(d.name)
        assert d.region or d.kind == "datacenter", d.name  # countries and regions say where
        if d.kind == "cloud-region":
            assert d.provider and d.name.startswith(("gcp-", "aws-")), d.name
        for field, spec in d:
            if isinstance(spec, Spec):
                assert spec.source.strip() and spec.date.strip(), (d.name, field)
                assert np.isfinite(spec.value) and spec.value >= 0, (d.name, field)
        # net is never below gross without a published market-based figure saying why
        gross = d.carbon_intensity_gross_kg_per_kwh
        if gross is not None and gross.value != d.carbon_intensity_net_kg_per_kwh.value:
            assert d.carbon_intensity_net_kg_per_kwh.note or d.name == "glam-google-oklahoma", d.name
    assert len(kinds["country"]) >= 10 and len(kinds["cloud-region"]) >= 14 and len(kinds["datacenter"]) >= 3
    # country grids use the Uptime Institute industry average; Google regions Google's fleet PUE
    assert {dcs[n].pue.value for n in kinds["country"]} == {1.58}
    assert {dcs[n].pue.value for n in kinds["cloud-region"] if n.startswith("gcp-")} == {1.10}


def test_water_and_embodied_figures_are_sourced_and_absent_where_unpublished():
    us = load_datacenter("us-average")
    assert (us.wue_onsite_l_per_kwh.value, us.water_offsite_l_per_kwh.value) == (0.55, 3.14)
    assert "Thirsty" in us.wue_onsite_l_per_kwh.source and "Thirsty" in us.water_offsite_l_per_kwh.source
    aws = load_datacenter("aws-us-east-1")
    assert aws.wue_onsite_l_per_kwh.value == 0.12 and aws.water_offsite_l_per_kwh is None
    gcp = load_datacenter("gcp-us-central1")  # Google publishes no WUE in L/kWh: absent, not guessed
    assert gcp.wue_onsite_l_per_kwh is None and gcp.carbon_free_energy_fraction.value == 0.87
    a100 = load_chip("a100-80gb").embodied_kgco2e
    assert a100.value == 150 and "BLOOM" in a100.source and "GPU board only" in a100.note
    # per-chip shares of NVIDIA's 8-GPU baseboard PCFs: the arithmetic is in the source
    for name, total, per_chip in (("h100-sxm", "1,312", 164), ("b200", "2,274", 284.25)):
        spec = load_chip(name).embodied_kgco2e
        assert spec.value == per_chip and f"{total} / 8" in spec.source and "PCF" in spec.source, name
    assert load_chip("a100-40gb").embodied_kgco2e.value == 127.6
    assert "2502.01671" in load_chip("tpu-v6e").embodied_kgco2e.source
    # no published per-chip footprint (H200: only a model estimate, not comparable with H100's PCF)
    for name in ("v100", "mi300x", "h200", "tpu-v3", "tpu-v4", "tpu-v5e", "tpu-v5p"):
        assert load_chip(name).embodied_kgco2e is None, name


WATER_DC = """name: wet
kind: cloud-region
region: Somewhere
pue: {value: 1.2, source: s, date: "2025"}
carbon_intensity_net_kg_per_kwh: {value: 0.1, source: s, date: "2025"}
wue_onsite_l_per_kwh: {value: 0.5, source: s, date: "2025"}
"""


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda t: t.replace("{value: 0.5,", "{value: -0.5,"), r"wue_onsite_l_per_kwh\.value=-0\.5: must be >= 0"),
        (lambda t: t.replace("{value: 0.5,", "{value: .nan,"), r"wue_onsite_l_per_kwh\.value"),
        (
            lambda t: t + 'water_offsite_l_per_kwh: {value: -1, source: s, date: "2025"}\n',
            r"water_offsite_l_per_kwh\.value=-1\.0: must be >= 0",
        ),
        (
            lambda t: t + 'carbon_free_energy_fraction: {value: 1.5, source: s, date: "2025"}\n',
            r"carbon_free_energy_fraction\.value=1\.5: must be <= 1",
        ),
        (lambda t: t.replace("kind: cloud-region", "kind: planet"), r"kind='planet'"),
    ],
)
def test_bad_water_and_kind_refused_in_one_line(tmp_path, edit, expected):
    p = tmp_path / "wet.yaml"
    p.write_text(edit(WATER_DC))
    with pytest.raises(ConfigError, match=expected) as err:
        load_datacenter(p)
    assert "\n" not in str(err.value) and "wet.yaml" in str(err.value)
    p.write_text(WATER_DC)
    assert load_datacenter(p).wue_onsite_l_per_kwh.value == 0.5

"""Chip and datacenter profiles: pydantic models and the YAML registry.

Built-in profiles live in `hardware_profiles/chips/*.yaml` and `hardware_profiles/datacenters/*.yaml`;
every number is a `Spec` (value, source, date of the source).  A user adds profiles by pointing
`extra_dirs` (CLI: `--profiles-dir DIR`) at a folder with the same `chips/` and `datacenters/`
layout; a user profile with the name of a built-in one replaces it.  A malformed file is refused
with one line naming the file, field and value.
"""

from __future__ import annotations

import difflib
import re
from functools import cache
from pathlib import Path
from typing import Iterable, Literal

from pydantic import Field, PrivateAttr, model_validator

from glamsim.config import (
    MAX_CACHED_FILES,
    NAME_PATTERN,
    ConfigError,
    Frozen,
    Published,
    data_dir,
    file_identity,
    read_yaml,
    validate_as,
)

Dtype = Literal["bf16", "fp16", "tf32", "fp32", "fp8", "int8", "int4"]


class Spec(Published):
    """A profile figure: value, source and the date of that source (e.g. '2023' or '2021-04')."""

    date: str


class _FromFile(Frozen):
    """A profile that remembers the file it was read from (for provenance strings)."""

    _origin: str = PrivateAttr(default="(in memory)")
    _path: str = PrivateAttr(default="")  # the file's absolute path ("" when built in memory)

    @property
    def origin(self) -> str:
        return self.__pydantic_private__["_origin"]  # direct: pydantic's attribute lookup is slow

    @property
    def path(self) -> str:
        """The absolute path of the file it was read from ("" when built in memory)."""
        return self.__pydantic_private__["_path"]


def _check_positive(profile: Frozen, allow_zero: set[str] = frozenset()) -> None:
    for name in type(profile).model_fields:
        spec = getattr(profile, name)
        if isinstance(spec, Spec) and (spec.value < 0 or (spec.value == 0 and name not in allow_zero)):
            raise ValueError(f"{name}.value={spec.value!r}: must be {'>=' if name in allow_zero else '>'} 0")


class ChipProfile(_FromFile):
    """One accelerator chip.  Peak FLOP/s are dense (never the structured-sparsity figure)."""

    name: str = Field(pattern=NAME_PATTERN)
    vendor: str
    description: str = ""
    default_dtype: Dtype = "bf16"
    peak_flops_bf16: Spec | None = None
    peak_flops_fp16: Spec | None = None
    peak_flops_tf32: Spec | None = None
    peak_flops_fp32: Spec | None = None
    peak_flops_fp8: Spec | None = None
    peak_flops_int8: Spec | None = None
    peak_flops_int4: Spec | None = None
    # the 16-bit matmul rate the chip sustains at its power limit (the best shape of a search, run
    # until the board is power-saturated: mamf-finder's MSMF), FLOP/s: where the large-matmul roof of
    # a long training run sits below the datasheet peak (`glamsim.predict.efficiency.matmul_relative`)
    matmul_sustained_flops_bf16: Spec | None = None
    # the best 16-bit matmul rate at boost (mamf-finder's MAMF: a short burst before the power limit
    # bites), FLOP/s: where no sustained rate is measured it bounds the roof from above
    matmul_burst_flops_bf16: Spec | None = None
    # streaming multiprocessors (GPUs): a communication kernel that runs on some of them takes that
    # share from the compute it overlaps (`glamsim.predict.efficiency.DEEPEP_SMS`)
    sm_count: Spec | None = None
    hbm_gb: Spec
    hbm_bandwidth_gb_per_s: Spec
    tdp_w: Spec | None = None
    measured_system_power_w: Spec | None = None
    idle_power_w: Spec | None = None  # board power at zero load (the power model's curve starts here)
    host_power_w: Spec | None = None  # host share per chip: server power / chips - board TDP
    compute_power_w: Spec | None = None  # board W above idle at full tensor-core utilisation (glamsim.cost.power)
    memory_power_w: Spec | None = None  # board W above idle at full HBM bandwidth utilisation
    # Links.  Convention: every bandwidth is ONE-WAY per chip (bytes a chip can send per second;
    # NVIDIA's "900 GB/s" NVLink figure for H100 is a two-way total: 450 each way).
    interconnect_bandwidth_gb_per_s: Spec | None = None  # inside a node / TPU slice (NVLink, ICI)
    chips_per_node: Spec | None = None  # chips sharing that fast fabric: a GPU server, a TPU slice
    inter_node_bandwidth_gb_per_s: Spec | None = None  # between nodes / slices, one-way per chip (IB, DCN)
    intra_node_latency_us: Spec | None = None  # per message inside a node / slice
    inter_node_latency_us: Spec | None = None  # per message between nodes / slices
    torus_dims: Spec | None = None  # dimensions of a TPU's ICI torus; absent: a switched fabric (NVSwitch)
    topology: str = ""
    device_kinds: list[str] = []  # JAX `device_kind` prefixes of this chip (matches measurements)
    price_per_chip_hour_usd: Spec | None = None
    embodied_kgco2e: Spec | None = None  # the board, cradle to gate
    host_embodied_kgco2e: Spec | None = None  # the host server's share per chip (CPUs, DRAM, SSDs, NICs, chassis)

    @model_validator(mode="after")
    def _check(self) -> ChipProfile:
        _check_positive(
            self,
            allow_zero={
                "idle_power_w",
                "host_power_w",
                "compute_power_w",
                "memory_power_w",
                "price_per_chip_hour_usd",
                "embodied_kgco2e",
                "host_embodied_kgco2e",
            },
        )
        peak16 = self.peak_flops_bf16
        for field in ("matmul_sustained_flops_bf16", "matmul_burst_flops_bf16"):
            rate = getattr(self, field)
            if rate is not None and peak16 is None:
                raise ValueError(f"{field}.value={rate.value!r}: needs peak_flops_bf16 (it is a fraction of it)")
            if rate is not None and rate.value > peak16.value:
                raise ValueError(
                    f"{field}.value={rate.value!r}: must not exceed peak_flops_bf16 "
                    f"({peak16.value:.4g}): a measured rate is a fraction of the dense peak"
                )
        sustained, burst = self.matmul_sustained_flops_bf16, self.matmul_burst_flops_bf16
        if sustained is not None and burst is not None and sustained.value > burst.value:
            raise ValueError(
                f"matmul_sustained_flops_bf16.value={sustained.value!r}: must not exceed matmul_burst_flops_bf16 "
                f"({burst.value:.4g}): the power limit only lowers the clock"
            )
        if self.sm_count is not None and self.sm_count.value != int(self.sm_count.value):
            raise ValueError(f"sm_count.value={self.sm_count.value!r}: must be a whole number of SMs")
        if getattr(self, f"peak_flops_{self.default_dtype}") is None:
            raise ValueError(
                f"default_dtype={self.default_dtype!r}: the profile has no peak_flops_{self.default_dtype}"
            )
        return self

    def peak_field(self, dtype: str | None = None) -> str:
        """The profile field holding the dense peak for `dtype` (default: the chip's default dtype)."""
        field = f"peak_flops_{dtype or self.default_dtype}"
        if self.__dict__.get(field) is None:  # not a field, or no figure (a model's __dict__ holds its fields)
            have = [
                f.removeprefix("peak_flops_")
                for f in type(self).model_fields
                if f.startswith("peak_flops_") and getattr(self, f) is not None
            ]
            raise ConfigError(f"dtype={dtype!r}: chip {self.name} has no dense peak for it; known: {', '.join(have)}")
        return field

    def spec(self, field: str) -> Spec | None:
        return getattr(self, field)


DatacenterKind = Literal["country", "cloud-region", "datacenter"]


class DatacenterProfile(_FromFile):
    """A datacenter and its grid: PUE and carbon intensity (net: after the operator's carbon-free
    energy purchases, what `co2e_t` uses; gross: location-based, where published), and water.

    `kind` groups the pick-lists: a `country` (a national grid average at an industry-average PUE),
    a `cloud-region` (a provider's region: its grid and its published PUE) or a `datacenter` (one
    site, e.g. where a published run was trained).  Water: `wue_onsite_l_per_kwh` is litres
    evaporated on site (cooling) per kWh of IT energy (The Green Grid's WUE);
    `water_offsite_l_per_kwh` litres consumed generating each kWh of facility energy (EWIF).
    `carbon_free_energy_fraction` is informational (Google's hourly CFE share of the region); the
    cost model does not use it."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    kind: DatacenterKind = "datacenter"
    region: str = ""  # where: a country, or a cloud region's location ("Iowa, US")
    provider: str = ""  # the cloud provider or operator ("Google Cloud", "AWS"); empty for a country grid
    pue: Spec
    carbon_intensity_net_kg_per_kwh: Spec
    carbon_intensity_gross_kg_per_kwh: Spec | None = None
    wue_onsite_l_per_kwh: Spec | None = None
    water_offsite_l_per_kwh: Spec | None = None
    carbon_free_energy_fraction: Spec | None = None

    @model_validator(mode="after")
    def _check(self) -> DatacenterProfile:
        _check_positive(
            self,
            allow_zero={
                "carbon_intensity_net_kg_per_kwh",
                "carbon_intensity_gross_kg_per_kwh",
                "wue_onsite_l_per_kwh",
                "water_offsite_l_per_kwh",
                "carbon_free_energy_fraction",
            },
        )
        if self.pue.value < 1:
            raise ValueError(f"pue.value={self.pue.value!r}: must be >= 1")
        cfe = self.carbon_free_energy_fraction
        if cfe is not None and cfe.value > 1:
            raise ValueError(f"carbon_free_energy_fraction.value={cfe.value!r}: must be <= 1")
        return self


_KINDS: dict[str, type[_FromFile]] = {"chips": ChipProfile, "datacenters": DatacenterProfile}


_FILES: dict[tuple, _FromFile] = {}  # (class, file name, file_identity) -> the validated profile


def _read(path: Path, cls: type[_FromFile]) -> _FromFile:
    """A profile file, parsed once per process while it is unchanged on disk."""
    ident = file_identity(path)
    key = None if ident is None else (cls, path.name, ident)
    prof = _FILES.get(key) if key is not None else None
    if prof is not None:
        return prof
    prof = validate_as(cls, read_yaml(path), str(path))
    prof._origin = path.name
    prof._path = str(path.resolve())
    if key is not None:
        if len(_FILES) >= MAX_CACHED_FILES:
            _FILES.clear()
        _FILES[key] = prof
    return prof


def _read_dir(folder: Path, cls: type[_FromFile]) -> dict[str, _FromFile]:
    out = {}
    for path in sorted(folder.glob("*.y*ml")):
        prof = _read(path, cls)
        out[prof.name] = prof
    return out


@cache
def _builtin(kind: str) -> dict[str, _FromFile]:
    return _read_dir(data_dir("hardware_profiles") / kind, _KINDS[kind])


def registry(kind: str, extra_dirs: Iterable[str | Path] = ()) -> dict[str, _FromFile]:
    """Profiles of one kind ('chips' or 'datacenters') by name; user folders override built-ins."""
    out = dict(_builtin(kind))
    for d in extra_dirs:
        d = Path(d)
        if not d.is_dir():
            raise ConfigError(f"profiles_dir={str(d)!r}: not a folder")
        out.update(_read_dir(d / kind, _KINDS[kind]))
    return out


_BUILTIN_BY_NAME: dict[tuple[str, str], _FromFile] = {}  # built-ins read from their own file (read once)


def _builtin_one(kind: str, name: str) -> _FromFile | None:
    """The built-in profile `name` from its own file `<kind>/<name>.yaml` (the convention of every
    shipped profile), without parsing the others; None when that file does not hold it."""
    prof = _BUILTIN_BY_NAME.get((kind, name))
    if prof is not None or not re.fullmatch(NAME_PATTERN, name):
        return prof
    path = data_dir("hardware_profiles") / kind / f"{name}.yaml"
    if file_identity(path) is None:
        return None
    prof = _read(path, _KINDS[kind])  # the same object `_builtin` holds (`_read` caches by file)
    if prof.name != name:
        return None
    _BUILTIN_BY_NAME[kind, name] = prof
    return prof


def _load(kind: str, name_or_path, extra_dirs):
    s, extra_dirs = str(name_or_path), tuple(extra_dirs)
    if not isinstance(name_or_path, Path) and not s.endswith((".yaml", ".yml")):
        # a profile's bare name names it, not a file of that name in the working folder (./name does)
        if not extra_dirs:
            prof = _builtin_one(kind, s)  # parses just this profile's file
            if prof is not None:
                return prof
        elif s in (known := registry(kind, extra_dirs)):
            return known[s]
    if s.endswith((".yaml", ".yml")) or file_identity(s) is not None:
        return _read(Path(s), _KINDS[kind])
    known = _builtin(kind) if not extra_dirs else registry(kind, extra_dirs)
    if s not in known:
        close = difflib.get_close_matches(s, list(known), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"{kind[:-1]}={s!r}: unknown profile; {hint}known: {', '.join(known)}")
    return known[s]


def load_chip(name_or_path, extra_dirs: Iterable[str | Path] = ()) -> ChipProfile:
    """A chip profile by name (built-in or from `extra_dirs`; a built-in's bare name always means it,
    `./name` a file of that name) or by YAML path."""
    return _load("chips", name_or_path, extra_dirs)


def chip_for_device(device_kind: str, extra_dirs: Iterable[str | Path] = ()) -> ChipProfile | None:
    """The chip profile whose `device_kinds` prefix-matches a JAX device kind, if any."""
    kind = device_kind.strip().lower()
    for chip in registry("chips", extra_dirs).values():
        if any(kind.startswith(k.lower()) for k in chip.device_kinds):
            return chip
    return None


def load_datacenter(name_or_path, extra_dirs: Iterable[str | Path] = ()) -> DatacenterProfile:
    """A datacenter profile by name (built-in or from `extra_dirs`) or by YAML path."""
    return _load("datacenters", name_or_path, extra_dirs)

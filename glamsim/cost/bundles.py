"""The cost core's inputs in three bundles: what is trained or served, on which hardware, where.

`training_costs(run, hardware, site)` and `serving_costs(run, hardware, site)` take these instead
of thirty keywords.  A bundle holds plain numbers for one scenario or columns (numpy arrays, one
row per scenario), and one formula text runs on both (`glamsim.cost.ops`).  The run bundles carry
the scenario fields that reach a formula as they are (`resolve.direct_inputs`): a new such input
is its declaration in `glamsim.scenario` and its line in the formula, which reads it from the run
under the same name.  `route` sends keywords to the bundle that has them, which is how the
uncertainty ranges vary MFU, power, PUE, carbon intensity and price without knowing the bundles.
Bundles are values: nothing changes one in place (`route` and `dataclasses.replace` give changed
copies); they are not frozen because a frozen dataclass takes 3x as long to build, and a single
estimate builds three.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cache
from operator import attrgetter
from typing import Any, Callable

from glamsim.accounting import ModelArrays
from glamsim.scenario import SERVING_KERNEL_US

NAN = float("nan")
INF = float("inf")


class Bundle:
    """What the bundles share: their values in order, rows picked by a mask, values converted."""

    __slots__ = ()

    _values_of: Callable  # the class's values in field order, one C call (set by `bundle`)

    def values(self) -> tuple:
        return self._values_of(self)

    def rows(self, mask) -> Bundle:
        """The bundle with every column cut to the rows of a boolean `mask` (plain values kept)."""
        return replace(self, **{n: v[mask] for n, v in zip(names(type(self)), self.values()) if getattr(v, "ndim", 0)})

    def converted(self, fn: Callable) -> Bundle:
        """The bundle with every number passed through `fn` (None, text and model arrays kept)."""
        return replace(self, **{n: fn(v) for n, v in zip(names(type(self)), self.values()) if _number(v)})


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@cache
def names(cls: type) -> tuple[str, ...]:
    """A bundle class's field names, in order (read once per class)."""
    return tuple(f.name for f in fields(cls))


def bundle(cls: type) -> type:
    """A bundle class: a slotted dataclass whose `values()` is one C call."""
    cls = dataclass(slots=True, eq=False)(cls)
    cls._values_of = attrgetter(*names(cls))
    return cls


def route(bundles: tuple[Bundle, ...], **changes) -> tuple[Bundle, ...]:
    """The bundles with each keyword replaced in the bundle that has that field."""
    out = list(bundles)
    for i, b in enumerate(out):
        mine = {k: changes.pop(k) for k in names(type(b)) if k in changes}
        if mine:
            out[i] = replace(b, **mine)
    if changes:
        raise TypeError(f"no bundle has the fields {sorted(changes)}")
    return tuple(out)


def routed(core: Callable[..., dict], bundles: tuple[Bundle, ...]) -> Callable[..., dict]:
    """`core` as a function of keywords (`glamsim.cost.uncertainty` varies inputs by name)."""
    return lambda **changes: core(*route(bundles, **changes))


@bundle
class Hardware(Bundle):
    """On which hardware: one chip's figures.  `power_w` a number: the server's power per chip at
    every load; NaN: the board follows the load (`glamsim.cost.power`, the `power_*` curve) plus the
    host share `power_host_w`.  The links and `idle_power_w` are serving's (`serving_costs`)."""

    peak_flops: Any
    power_w: Any = NAN
    power_idle_w: Any = NAN
    power_tdp_w: Any = NAN
    power_compute_w: Any = NAN
    power_memory_w: Any = NAN
    power_host_w: Any = NAN
    embodied_kg_per_chip_hour: Any = NAN  # the board's embodied carbon per chip-hour
    host_embodied_kg_per_chip_hour: Any = NAN  # the host server's share per chip-hour
    hbm_bandwidth_bytes_per_s: Any = NAN
    interconnect_bytes_per_s: Any = INF  # one-way, inside a node of `chips_per_node`
    chips_per_node: Any = INF
    inter_node_bytes_per_s: Any = NAN
    intra_latency_s: Any = 0.0  # per message
    inter_latency_s: Any = 0.0
    idle_power_w: Any = NAN  # a replica's power per chip while idle (NaN: the power model at zero load)


@bundle
class Site(Bundle):
    """Where: the datacenter's PUE, grid and water, and the price of a chip-hour."""

    pue: Any
    carbon_intensity_kg_per_kwh: Any  # net (market-based)
    price_per_chip_hour_usd: Any
    carbon_intensity_gross_kg_per_kwh: Any = NAN  # location-based
    wue_onsite_l_per_kwh: Any = NAN
    water_offsite_l_per_kwh: Any = NAN


@bundle
class TrainingRun(Bundle):
    """What is trained: its model FLOPs on `chips`, at an `mfu` or in given `hours` (one of them),
    with `comm_hours` of communication (NaN: not modelled) of which 1 - `comm_overlap` is exposed."""

    flops_total: Any
    chips: Any
    mfu: Any = None
    hours: Any = None
    comm_hours: Any = NAN
    comm_overlap: Any = 1.0


@bundle
class ServingRun(Bundle):
    """What is served: `batch` requests of `prompt_len` + `gen_len` tokens of model `m` on `chips`,
    at the given utilisations, precisions (bytes) and placement (`serving_costs` says how each
    is used)."""

    m: ModelArrays
    batch: Any
    prompt_len: Any
    gen_len: Any
    chips: Any
    mfu: Any = 1.0
    mbu: Any = 1.0
    bytes_per_param: Any = 2.0
    bytes_per_kv: Any = 2.0
    bytes_per_activation: Any = 2.0
    expert_parallel: Any = 1.0
    comm_overlap: Any = 1.0
    placement: str = "sharded"
    routing_skew: Any = 1.0
    dense_shards: Any = 1.0
    prefill_dense_shards: Any = NAN
    prefill_chips: Any = NAN
    busy_fraction: Any = 1.0
    kernel_us: Any = SERVING_KERNEL_US

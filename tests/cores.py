"""The training core called with flat arguments in tests: FLOPs, chips, peak FLOP/s, power, PUE,
carbon intensity and price in that order, every other input by keyword, each routed to the bundle
that holds it (`glamsim.cost.bundles`)."""

from glamsim.cost.bundles import Hardware, Site, TrainingRun, route
from glamsim.cost.training import training_costs


def train_core(
    flops_total, chips, peak_flops, power_w, pue, carbon_intensity_kg_per_kwh, price_per_chip_hour_usd, **inputs
) -> dict:
    hardware = Hardware(peak_flops, power_w)
    site = Site(pue, carbon_intensity_kg_per_kwh, price_per_chip_hour_usd)
    bundles = (TrainingRun(flops_total, chips), hardware, site)
    return training_costs(*route(bundles, **inputs))

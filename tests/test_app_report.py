"""The plain-language statement of an estimate (glamsim.cost.report), against hand-derived figures."""

import pytest

from glamsim.cost import estimate_serving, estimate_training
from glamsim.cost.report import num, plain_statement


@pytest.mark.parametrize(
    "value, text",
    [
        (1024, "1,024"),
        (1288.7, "1,290"),
        (56.64, "56.6"),
        (0.02716, "0.0272"),
        (6e11, "600 billion"),
        (1.162e12, "1.16 trillion"),
        (3.14e23, "3.14e23"),
        (2.5e6, "2.5 million"),
        (float("nan"), "unknown"),
    ],
)
def test_numbers_read_as_prose(value, text):
    assert num(value) == text


def test_training_statement_from_published_gpt3_inputs():
    # GPT-3 by hand (Patterson et al. 2021, Table 4): 10,000 V100 x 355.2 h = 3,552,000 chip-hours;
    # x 330 W x PUE 1.10 = 1,289.4 MWh; x 0.429 kg/kWh = 553.1 t; 3.14e23 FLOPs; 14.8 days.
    est = estimate_training(
        train_flops=3.14e23,
        chip="v100",
        chips=10_000,
        hours=355.2,
        datacenter="gpt3-microsoft",
        power_w=330,
        price_per_chip_hour_usd=2.0,
        sources={"price_per_chip_hour_usd": "test price"},
    )
    text = plain_statement(est, model="GPT-3 175B", chip="V100", datacenter="gpt3-microsoft")
    for part in (
        "training GPT-3 175B (3.14e23 FLOPs)",
        "10,000 V100 chips",
        "in 355 hours",
        "takes 14.8 days",
        "3.55 million chip-hours",
        "At 330 W per chip",
        "PUE of 1.1",
        "consumes 1,290 MWh",
        "emits 553 tCO2e at 0.429 kgCO2e/kWh",
        "at $2 per chip-hour it costs $7.1 million",
        "price per chip hour usd: test price",
    ):
        assert part in text, part
    assert "\n" not in text and "Over the stated input ranges" not in text


def test_training_statement_gives_ranges_of_uncertain_inputs():
    # energy is inversely proportional to MFU: at 0.25 and 0.5 it is 2x and 1x of the MFU-0.5 figure
    est = estimate_training(model="glam-64b-64e", tokens=6e11, chip="tpu-v4", chips=1024, mfu=(0.25, 0.4, 0.5))
    text = plain_statement(est, model="GLaM", chip="TPU v4", datacenter="oklahoma")
    lo, hi = est.ranges["energy_mwh"]
    assert hi == pytest.approx(2 * lo)
    assert f"MWh {num(lo)} to {num(hi)}" in text
    assert "model-FLOPs utilisation of 0.4 (range 0.25 to 0.5)" in text


def test_missing_price_is_said_not_invented(tmp_path):
    src = (pytest.importorskip("glamsim.config").data_dir("hardware_profiles") / "chips" / "tpu-v4.yaml").read_text()
    path = tmp_path / "noprice.yaml"
    path.write_text(
        "\n".join(line for line in src.splitlines() if not line.startswith("price_per_chip_hour_usd")).replace(
            "name: tpu-v4", "name: noprice"
        )
    )
    est = estimate_training(model="glam-tiny", tokens=1e9, chip=str(path), chips=8)
    text = plain_statement(est, model="glam-tiny", chip="noprice", datacenter="dc")
    assert "its dollar cost is unknown" in text and "$unknown" not in text


def test_serving_statement_names_the_figures_of_the_estimate():
    est = estimate_serving(model="glam-64b-64e", chip="h100-sxm", batch=8, prompt_len=512, gen_len=64)
    v = est.values
    text = plain_statement(est, datacenter="glam-google-oklahoma")
    for part in (
        f"on {v['serving_chips_used']} h100-sxm chips",
        f"{num(v['decode_step_s'] * 1e3)} ms per generated token",
        f"{num(v['joules_per_token'])} J per generated token",
        f"${num(v['usd_per_million_tokens'])}",
        "batches of 8 requests of 512 prompt and 64 generated tokens",
        "NVIDIA H100 datasheet",
    ):
        assert part in text, part


@pytest.mark.parametrize("chip", ["h100-sxm", "a100-80gb", "h200", "b200", "mi300x"])
def test_statement_power_is_the_power_models_figure_not_unknown(chip):
    """Issue 25: a chip without a published system power gets its power from glamsim.cost.power; the
    statement (dashboard and `--statement`) says that figure, never 'At unknown W per chip'."""
    est = estimate_training(chip=chip, chips=1024, mfu=0.3)
    assert est.ledger["power_w"].value is None  # no figure given: the power model decides
    text = plain_statement(est, model="glam-64b-64e", chip=chip, datacenter="us-ai-datacenter")
    assert "unknown W" not in text
    assert f"At {num(est.to_dict()['power_w_per_chip'])} W per chip (the power model's figure" in text
    serve = estimate_serving(chip=chip)
    text = plain_statement(serve, datacenter="us-ai-datacenter")
    assert "unknown W" not in text and f"{num(serve['decode_power_w_per_chip'])} W per chip" in text


def test_cli_statement_says_the_power_models_figure():
    from typer.testing import CliRunner

    from glamsim.cli import app

    got = CliRunner().invoke(
        app, ["estimate", "train", "--chip", "h100-sxm", "--chips", "1024", "--mfu", "0.3", "--statement"]
    )
    assert got.exit_code == 0, got.output
    power = estimate_training(chip="h100-sxm", chips=1024, mfu=0.3).to_dict()["power_w_per_chip"]
    assert "unknown W" not in got.output and f"At {num(power)} W per chip" in " ".join(got.output.split())

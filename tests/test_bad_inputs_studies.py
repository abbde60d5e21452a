"""Bad-input corpus for `glamsim study`: every case exits 2 with one stderr line and writes nothing.

Each spec is written into the case's own working folder before the command runs (so the
contract's "nothing written or changed" check covers it) and run as `glamsim study FILE --out
out`; the line must name the key and, where short, the value.  Refusals happen before any
evaluation, so a case takes milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from badinput import accepted, refused

from glamsim.studies.runner import run_study
from glamsim.studies.spec import parse_spec

HEAD = "name: s\ntitle: t\n"
BASE = HEAD + "base: {tokens: 1.0e+9}\n"
GOOD = BASE + "axes: {mfu: [0.2, 0.4]}\n"
DEEP = "a:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(60)) + "  " * 61 + "v: 1\n"
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi")
)


def fig(body: str) -> str:
    return GOOD + f"figures: [{body}]\n"


SPECS = {  # case -> (spec text, texts the error line must contain)
    # the file itself
    "malformed_yaml": ("title: [unclosed\n", ["s.yaml", "malformed YAML"]),
    "not_a_mapping_list": ("- a\n- b\n", "expected a mapping of fields, got list"),
    "not_a_mapping_scalar": ("42\n", "expected a mapping of fields, got int"),
    "empty_file": ("", "expected a mapping"),
    "duplicate_key": (GOOD + "title: again\n", "duplicate key 'title'"),
    "deep_nesting": (GOOD + DEEP, "nested deeper"),
    "alias_bomb": (BOMB, "aliases"),
    # unknown keys at each level
    "unknown_top_key": (GOOD + "colour: red\n", "unknown key 'colour'"),
    "unknown_base_key": (HEAD + "base: {tokenz: 1.0e+9}\n", "unknown key 'base.tokenz'"),
    "unknown_span_key": (
        BASE + "axes: {mfu: {start: 0.1, stop: 0.5, num: 3, colour: red}}\n",
        "unknown key 'axes.mfu.colour'",
    ),
    "unknown_figure_key": (fig("{name: f, x: mfu, y: energy_mwh, colour: red}"), "unknown key 'figures[0].colour'"),
    "unknown_sweeps_key": (BASE + "sweeps: [{axes: {mfu: [0.2]}, colour: red}]\n", "unknown key 'sweeps[0].colour'"),
    "unknown_scenario_axis": (BASE + "axes: {mfuu: [0.2]}\n", "unknown key 'mfuu'"),
    "unknown_scenario_case": (BASE + "cases: [{mfu: 0.3, tokenz: 5}]\n", "unknown key 'tokenz'"),
    "unknown_model_field": (BASE + "axes: {model.foo: [1]}\n", "unknown key 'model.foo'"),
    "model_name_not_sweepable": (BASE + "axes: {model.name: [x]}\n", "unknown key 'model.name'"),
    "missing_title": ("name: s\n", "title"),
    # axis values
    "axis_empty_list": (BASE + "axes: {mfu: []}\n", "axis 'mfu' has no values"),
    "axis_scalar": (BASE + "axes: {mfu: 0.3}\n", "axes.mfu=0.3"),
    "axis_null_value": (BASE + "axes: {pue: [null]}\n", "axes.pue[0]=None"),
    "axis_date_value": (BASE + "axes: {label: [2024-01-01]}\n", "axes.label[0]"),
    "axis_nested_list": (BASE + "axes: {chips: [[8]]}\n", "axes.chips[0]=[8]"),
    "span_num_zero": (BASE + "axes: {mfu: {start: 0.1, stop: 0.5, num: 0}}\n", "axes.mfu.num=0"),
    "span_num_negative": (BASE + "axes: {mfu: {start: 0.1, stop: 0.5, num: -3}}\n", "axes.mfu.num=-3"),
    "span_num_float": (BASE + "axes: {mfu: {start: 0.1, stop: 0.5, num: 2.5}}\n", "axes.mfu.num=2.5"),
    "span_num_huge": (BASE + "axes: {mfu: {start: 0, stop: 1, num: 1000000000}}\n", "axes.mfu.num=1000000000"),
    "span_num_huge_float": (BASE + "axes: {mfu: {start: 0, stop: 1, num: 1.0e+9}}\n", "axes.mfu.num="),
    "span_num_beyond_int": (
        BASE + "axes: {mfu: {start: 0, stop: 1, num: 100000000000000000000000}}\n",
        "axes.mfu.num=",
    ),
    "span_num_string": (BASE + "axes: {mfu: {start: 0, stop: 1, num: 1e9}}\n", "axes.mfu.num='1e9'"),
    "span_no_num_no_step": (BASE + "axes: {mfu: {start: 0.1, stop: 0.5}}\n", "num and step"),
    "span_num_and_step": (BASE + "axes: {mfu: {start: 0.1, stop: 0.5, num: 3, step: 0.1}}\n", "num and step"),
    "span_step_zero": (BASE + "axes: {mfu: {start: 0.1, stop: 0.5, step: 0}}\n", "step > 0"),
    "span_step_negative": (BASE + "axes: {mfu: {start: 0.1, stop: 0.5, step: -0.1}}\n", "step > 0"),
    "span_step_stop_below_start": (BASE + "axes: {mfu: {start: 0.5, stop: 0.1, step: 0.1}}\n", "stop >= start"),
    "span_step_too_many": (BASE + "axes: {mfu: {start: 0.0001, stop: 1, step: 1.0e-7}}\n", "at most 1,000,000"),
    "span_step_overflows": (BASE + "axes: {tokens: {start: 1, stop: 1.0e+30, step: 1.0e-300}}\n", "step=1e-300"),
    "span_log_start_zero": (BASE + "axes: {batch: {start: 0, stop: 10, num: 3, log: true}}\n", "log range"),
    "span_log_start_negative": (BASE + "axes: {batch: {start: -1, stop: 10, num: 3, log: true}}\n", "log range"),
    "span_log_with_step": (BASE + "axes: {batch: {start: 1, stop: 10, step: 1, log: true}}\n", "step"),
    "span_start_nan": (BASE + "axes: {mfu: {start: .nan, stop: 0.5, num: 3}}\n", "axes.mfu.start=nan"),
    "span_on_string_field": (BASE + "axes: {chip: {start: 0, stop: 1, num: 2}}\n", "axes.chip[start]=0"),
    # sizes: counted before anything is expanded
    "grid_1000_cubed": (
        BASE + "axes: {mfu: {start: 0.1, stop: 1, num: 1000}, pue: {start: 1, stop: 2, num: 1000},"
        " chips: {start: 1, stop: 1000, num: 1000, integer: true}}\n",
        "1,000,000,000 scenarios exceed the limit of 5,000,000 (raise it with --max-scenarios)",
    ),
    "cases_times_grid": (
        BASE + "cases: [" + ", ".join(f"{{chips: {i}}}" for i in range(1, 11)) + "]\n"
        "axes: {mfu: {start: 0.1, stop: 1, num: 1000}, pue: {start: 1, stop: 2, num: 1000}}\n",
        "10,000,000 scenarios exceed the limit",
    ),
    "sweeps_summed": (
        BASE
        + "sweeps:\n"
        + "".join(
            "  - axes: {mfu: {start: 0.1, stop: 1, num: 1000}, pue: {start: 1, stop: 2, num: 1000}}\n" for _ in range(6)
        ),
        "6,000,000 scenarios exceed the limit",
    ),
    "chunk_size_too_small": (BASE + "chunk_size: 1\naxes: {mfu: {start: 0.1, stop: 1, num: 2000}}\n", "chunk_size=1"),
    "chunk_size_zero": (GOOD + "chunk_size: 0\n", "chunk_size=0"),
    # model fields
    "model_top_k_above_experts": (
        HEAD + "base: {model: glam-1.7b-64e}\naxes: {model.top_k: [2, 100]}\n",
        "model.top_k=100",
    ),
    "model_layers_negative": (BASE + "axes: {model.n_layers: [-1]}\n", "model.n_layers=-1"),
    "model_layers_string": (BASE + "axes: {model.n_layers: [abc]}\n", "model.n_layers=abc"),
    "model_experts_zero": (HEAD + "base: {model: glam-1.7b-64e}\naxes: {model.n_experts: [0]}\n", "model.n_experts=0"),
    "model_activation": (BASE + "axes: {model.activation: [tanh]}\n", "model.activation=tanh"),
    "model_capacity_inf": (BASE + "axes: {model.capacity_factor: [.inf]}\n", "axes.model.capacity_factor[0]=inf"),
    "model_field_in_case": (HEAD + "base: {model: glam-1.7b-64e}\ncases: [{model.top_k: 65}]\n", "model.top_k=65"),
    # names of presets and profiles
    "unknown_model_base": (HEAD + "base: {model: glam-huge}\n", "model='glam-huge'"),
    "unknown_model_axis": (BASE + "axes: {model: [glam-64b-64e, glam-huge]}\n", "model='glam-huge'"),
    "unknown_model_case": (BASE + "cases: [{model: glam-huge}]\n", "model='glam-huge'"),
    "unknown_chip_base": (HEAD + "base: {chip: tpu-v99}\n", "chip='tpu-v99'"),
    "unknown_chip_axis": (BASE + "axes: {chip: [tpu-v4, tpu-v99]}\n", "tpu-v99"),
    "unknown_datacenter_base": (HEAD + "base: {datacenter: atlantis}\n", "atlantis"),
    "unknown_datacenter_axis": (BASE + "axes: {datacenter: [us-average, atlantis]}\n", "atlantis"),
    "measured_path_nul_byte": (HEAD + 'base: {measured: "rec\\0.json"}\n', "base.measured="),
    "model_path_nul_byte": (HEAD + 'base: {model: "m\\0.yaml"}\n', "base.model="),
    "measured_record_missing": (HEAD + "base: {measured: no-such-record.json}\n", "no-such-record.json"),
    # scenario values
    "mfu_above_one_axis": (BASE + "axes: {mfu: [0.2, 1.4]}\n", "axes.mfu[1]=1.4"),
    "mfu_zero_axis": (BASE + "axes: {mfu: [0]}\n", "axes.mfu[0]=0"),
    "mfu_negative_span": (BASE + "axes: {mfu: {start: -0.1, stop: 0.5, num: 3}}\n", "axes.mfu[start]=-0.1"),
    "mfu_above_one_span": (BASE + "axes: {mfu: {start: 0.1, stop: 1.5, num: 3}}\n", "axes.mfu[stop]=1.5"),
    "chips_negative_base": (HEAD + "base: {chips: -4}\n", "base.chips=-4"),
    "chips_negative_axis": (BASE + "axes: {chips: [8, -8]}\n", "axes.chips[1]=-8"),
    "chips_fraction_axis": (BASE + "axes: {chips: [2.5]}\n", "axes.chips[0]=2.5"),
    "chips_beyond_int": (BASE + "axes: {chips: [100000000000000000000000]}\n", "axes.chips[0]"),
    "pue_below_one_case": (BASE + "cases: [{pue: 0.5}]\n", "cases[0]: pue=0.5"),
    "hours_negative": (HEAD + "base: {hours: -5}\n", "base.hours=-5"),
    "power_huge": (HEAD + "base: {power_w: 1.0e+300}\n", "power_w"),
    "label_number": (BASE + "axes: {label: [1.5]}\n", "axes.label[0]=1.5"),
    "case_non_scalar": (BASE + "cases: [{mfu: [0.3]}]\n", "cases[0].mfu=[0.3]"),
    # inf and nan
    "inf_base_tokens": (HEAD + "base: {tokens: .inf}\n", "base.tokens=inf"),
    "nan_base_mfu": (HEAD + "base: {mfu: .nan}\n", "base.mfu=nan"),
    "inf_axis": (BASE + "axes: {mfu: [0.2, .inf]}\n", "axes.mfu[1]=inf"),
    "nan_axis": (BASE + "axes: {tokens: [.nan]}\n", "axes.tokens[0]=nan"),
    "inf_case": (BASE + "cases: [{tokens: .inf}]\n", "cases[0].tokens=inf"),
    "nan_figure_where": (fig("{name: f, x: mfu, y: energy_mwh, where: {mfu: .nan}}"), "figures[0].where.mfu=nan"),
    # structure
    "evaluate_empty": (GOOD + "evaluate: []\n", "evaluate"),
    "evaluate_unknown": (GOOD + "evaluate: [sailing]\n", "evaluate[0]='sailing'"),
    "combine_unknown": (GOOD + "combine: diagonal\n", "combine='diagonal'"),
    "zip_unequal": (BASE + "combine: zip\naxes: {mfu: [0.1, 0.2], pue: [1.1]}\n", "equal length"),
    "sweeps_and_axes": (GOOD + "sweeps: [{axes: {pue: [1.2]}}]\n", "not both"),
    "case_and_axis_same_key": (GOOD + "cases: [{mfu: 0.3}]\n", "'mfu'"),
    "sweeps_bad_value": (BASE + "sweeps: [{axes: {pue: [0.9]}}]\n", "sweeps[0].axes.pue[0]=0.9"),
    # names that become file names
    "study_name_slash": ("name: ../../x\ntitle: t\n", "name='../../x'"),
    "study_name_empty": ("name: ''\ntitle: t\n", "name=''"),
    "figure_name_slash": (fig("{name: a/b, x: mfu, y: energy_mwh}"), "figures[0].name='a/b'"),
    "figure_name_dotdot": (fig("{name: '..', x: mfu, y: energy_mwh}"), "figures[0].name='..'"),
    "figure_name_up": (fig("{name: ../up, x: mfu, y: energy_mwh}"), "figures[0].name='../up'"),
    # figures
    "figure_unknown_y": (fig("{name: f, x: mfu, y: energy_kwh}"), "figures[0].y='energy_kwh'"),
    "figure_unknown_x": (fig("{name: f, x: mfuu, y: energy_mwh}"), "figures[0].x='mfuu'"),
    "figure_unknown_hue": (fig("{name: f, x: mfu, y: energy_mwh, hue: colour}"), "figures[0].hue='colour'"),
    "figure_unknown_where": (
        fig("{name: f, x: mfu, y: energy_mwh, where: {colour: red}}"),
        "figures[0].where='colour'",
    ),
    "figure_y_empty": (fig("{name: f, x: mfu, y: []}"), "figures[0].y=[]"),
    "figure_y_number": (fig("{name: f, x: mfu, y: 5}"), "figures[0].y=5"),
    "figure_no_x": (fig("{name: f, y: energy_mwh}"), "figures[0].x"),
    "figure_kind_unknown": (fig("{name: f, kind: pie, x: mfu, y: energy_mwh}"), "figures[0].kind='pie'"),
    "figure_names_repeat": (fig("{name: f, x: mfu, y: energy_mwh}, {name: f, x: mfu, y: co2e_t}"), "repeat"),
    "figure_where_selects_nothing": (
        fig("{name: f, x: mfu, y: energy_mwh, where: {chip: h100-sxm}}"),
        "selects no scenario",
    ),
    "figure_where_arch_nothing": (
        fig("{name: f, x: mfu, y: energy_mwh, where: {n_experts: 999}}"),
        "selects no scenario",
    ),
    "tornado_without_one_at_a_time": (fig("{name: f, kind: tornado, y: energy_mwh}"), "one_at_a_time"),
    "tornado_where_no_base_row": (
        BASE + "combine: one_at_a_time\naxes: {mfu: [0.2, 0.4]}\n"
        "figures: [{name: f, kind: tornado, y: energy_mwh, where: {varied: mfu}}]\n",
        "no base row",
    ),
}


@pytest.mark.parametrize("case", sorted(SPECS))
def test_bad_spec_refused(tmp_path, case):
    text, mentions = SPECS[case]
    (tmp_path / "s.yaml").write_text(text)
    refused(["study", "s.yaml", "--out", "out"], tmp_path, mentions=mentions)


def _finished(tmp_path: Path, text: str = GOOD) -> None:
    (tmp_path / "s.yaml").write_text(text)
    accepted(["study", "s.yaml", "--out", "out", "--json"], tmp_path)


class Interrupt(Exception):
    pass


def _partial(tmp_path: Path) -> None:
    """An interrupted run of a 3-chunk spec in tmp_path/out."""
    spec = parse_spec(
        {"name": "s", "title": "t", "chunk_size": 1, "base": {"tokens": 1e9}, "axes": {"mfu": [0.2, 0.3, 0.4]}},
        "s.yaml",
    )

    def stop(i):
        raise Interrupt

    with pytest.raises(Interrupt):
        run_study(spec, tmp_path / "out", progress=False, on_chunk=stop)


def _results_folder(tmp_path: Path) -> None:
    (tmp_path / "out" / "results.parquet").mkdir(parents=True)


CLI = {  # case -> (arguments after `study`, set-up, texts the line must contain)
    "missing_spec_file": (["missing.yaml"], None, ["missing.yaml", "cannot read file"]),
    "unknown_builtin": (["no-such-study"], None, ["study='no-such-study'", "built-in"]),
    "spec_path_nul_byte": (["a\x00.yaml"], None, "NUL byte"),
    "spec_is_a_folder": (["folder.yaml"], lambda p: (p / "folder.yaml").mkdir(), "folder.yaml"),
    "spec_not_utf8": (["bin.yaml"], lambda p: (p / "bin.yaml").write_bytes(b"name: \xff\xfe\n"), "bin.yaml"),
    "no_spec": ([], None, "give a study spec"),
    "spec_and_list": (["s.yaml", "--list"], None, ["spec='s.yaml'", "--list"]),
    "out_is_a_file": (
        ["s.yaml", "--out", "afile"],
        lambda p: (p / "afile").write_text("x"),
        ["--out='afile'", "not a folder"],
    ),
    "out_under_a_file": (
        ["s.yaml", "--out", "afile/sub"],
        lambda p: (p / "afile").write_text("x"),
        ["--out='afile/sub'", "not a folder"],
    ),
    "out_in_proc": (["s.yaml", "--out", "/proc/glamsim-x"], None, ["--out='/proc/glamsim-x'", "cannot create"]),
    "out_name_too_long": (["s.yaml", "--out", "x" * 300], None, ["--out=", "cannot create"]),
    "out_results_is_a_folder": (["s.yaml", "--out", "out"], _results_folder, "results.parquet"),
    "resume_without_prior_run": (["s.yaml", "--out", "out", "--resume"], None, ["--resume", "no run to resume"]),
    "resume_empty_out_folder": (
        ["s.yaml", "--out", "out", "--resume"],
        lambda p: (p / "out").mkdir(),
        "no run to resume",
    ),
    "resume_partial_of_another_spec": (
        ["s.yaml", "--out", "out", "--resume"],
        _partial,
        ["--resume", "partial run of another spec", "study 's'"],
    ),
    "resume_results_of_another_spec": (
        ["other.yaml", "--out", "out", "--resume"],
        _finished,
        ["--resume", "results of another spec"],
    ),
    "max_scenarios_below_count": (
        ["s.yaml", "--out", "out", "--max-scenarios", "1"],
        None,
        "2 scenarios exceed the limit of 1 (raise it with --max-scenarios)",
    ),
    "max_scenarios_zero": (["s.yaml", "--max-scenarios", "0"], None, "--max-scenarios"),
    "max_scenarios_negative": (["s.yaml", "--max-scenarios", "-5"], None, "--max-scenarios"),
    "max_scenarios_not_a_number": (["s.yaml", "--max-scenarios", "many"], None, "--max-scenarios"),
    "max_scenarios_float": (["s.yaml", "--max-scenarios", "1e20"], None, "--max-scenarios"),
    "unknown_option": (["s.yaml", "--colour", "red"], None, "--colour"),
    # the IsoFLOP study's grid and folder: refused before JAX loads
    "isoflop_width_not_multiple_of_16": (["isoflop", "--widths", "20"], None, ["widths", "multiples of 16"]),
    "isoflop_widths_not_numbers": (["isoflop", "--widths", "a,b"], None, ["--widths='a,b'", "comma-separated"]),
    "isoflop_budget_repeated": (["isoflop", "--budgets", "1e11,1e11"], None, ["budgets", "repeated"]),
    "isoflop_budget_nan": (["isoflop", "--budgets", "nan"], None, "budgets"),
    "isoflop_budget_negative": (["isoflop", "--budgets", "-1e11"], None, "budgets"),
    "isoflop_budget_below_a_step": (["isoflop", "--budgets", "1e3"], None, ["--budgets=1000", "less than one step"]),
    "isoflop_budget_too_many_steps": (["isoflop", "--budgets", "1e14"], None, ["--budgets=1e+14", "more than 200,000"]),
    "isoflop_one_expert": (["isoflop", "--experts", "1"], None, ["experts", "at least 2"]),
    "isoflop_one_layer": (["isoflop", "--layers", "1"], None, "places no MoE layer"),
    "isoflop_corpus_missing": (["isoflop", "--corpus", "no-such-dir"], None, ["corpus='no-such-dir'", "no such"]),
    "isoflop_force": (["isoflop", "--force"], None, ["isoflop", "--force"]),
    "isoflop_option_with_a_spec": (["s.yaml", "--widths", "32"], None, ["--widths", "isoflop study only"]),
    "isoflop_out_is_a_file": (["isoflop", "--out", "afile"], lambda p: (p / "afile").write_text("x"), "not a folder"),
    "isoflop_out_holds_results_folder": (["isoflop", "--out", "out"], _results_folder, "results.parquet"),
}


@pytest.mark.parametrize("case", sorted(CLI))
def test_bad_study_command_refused(tmp_path, case):
    args, setup, mentions = CLI[case]
    (tmp_path / "s.yaml").write_text(GOOD)
    (tmp_path / "other.yaml").write_text(GOOD.replace("0.4]", "0.5]"))
    if setup is not None:
        setup(tmp_path)
    if case == "out_in_proc" and not Path("/proc").is_dir():
        pytest.skip("no /proc here")
    refused(["study", *args], tmp_path, mentions=mentions)


def test_max_scenarios_at_the_count_is_accepted(tmp_path):
    (tmp_path / "s.yaml").write_text(GOOD)
    accepted(["study", "s.yaml", "--out", "out", "--max-scenarios", "2", "--json"], tmp_path)
    assert (tmp_path / "out" / "results.parquet").is_file()


def test_case_count():
    assert len(SPECS) + len(CLI) >= 50

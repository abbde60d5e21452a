"""Hostile and broken uploads on the dashboard (issue 12), through Streamlit's AppTest.

Both upload widgets — the Profiles page's `pr_upload` (chip and datacenter kinds) and the Measure
page's `m_upload` — get malformed, hostile and oversized files.  Each refused upload must show exactly
one error element, one line naming the field or value, no exception element, write nothing anywhere
(the whole temporary folder the app writes into is compared before and after) and keep what was
accepted before it.  An upload's client file name is never a path: an absolute or `../` name leaves
the file it points at alone.  The dashboard's Streamlit config listens on 127.0.0.1 only.

One AppTest per page is shared by all cases (a re-run costs tens of milliseconds; opening a page ~1 s).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import pytest
from badinput import tpu_record
from streamlit.testing.v1 import AppTest

from glamsim.config import data_dir

ROOT = Path(__file__).resolve().parents[1]
HOME = str(ROOT / "app" / "Home.py")
sys.path.insert(0, str(ROOT / "app"))  # `import ui`, as `streamlit run app/Home.py` does

import ui  # noqa: E402

CHIP = (data_dir("hardware_profiles") / "chips" / "tpu-v4.yaml").read_text().replace("name: tpu-v4", "name: case-chip")
DC = (
    (data_dir("hardware_profiles") / "datacenters" / "us-average.yaml")
    .read_text()
    .replace("name: us-average", "name: case-dc")
)
HBM = 'hbm_gb: {value: 34.36, source: "Google Cloud TPU v4 documentation (per chip)", date: "2023", note: "32 GiB"}'
RECORD = tpu_record()
GOOD_JSON = RECORD.model_dump_json(indent=2)
VICTIM = "victim"  # a folder beside the app's temporary folders, holding files a hostile name points at


def sub(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


def without(text: str, prefix: str) -> str:
    lines = text.splitlines()
    assert any(line.startswith(prefix) for line in lines), prefix
    return "\n".join(line for line in lines if not line.startswith(prefix)) + "\n"


def record(drop: str | None = None, **changes) -> str:
    data = {k: v for k, v in json.loads(GOOD_JSON).items() if k != drop}
    return json.dumps({**data, **changes})


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")
)

# id: (kind, client file name, bytes, texts the one error line must contain).  `{victim}` and
# `{victim_rel}` in a name become the absolute and upload-folder-relative path of a victim file.
PROFILE_CASES = {
    "malformed-yaml": ("chips", "a.yaml", "name: [x", ["a.yaml", "malformed YAML at line 1"]),
    "not-a-mapping-list": ("chips", "l.yaml", "- a\n- b\n", ["expected a mapping of fields, got list"]),
    "not-a-mapping-scalar": ("chips", "s.yaml", "just text\n", ["got str"]),
    "comments-only": ("chips", "c.yaml", "# nothing\n", ["got NoneType"]),
    "unknown-key": ("chips", "u.yaml", CHIP + "colour: red\n", ["u.yaml: unknown key 'colour'"]),
    "missing-field": ("chips", "m.yaml", without(CHIP, "hbm_gb:"), ["missing field 'hbm_gb'"]),
    "negative": ("chips", "n.yaml", sub(CHIP, "value: 34.36", "value: -34.36"), ["hbm_gb.value=-34.36", "> 0"]),
    "zero": ("chips", "z.yaml", sub(CHIP, "value: 1200", "value: 0"), ["hbm_bandwidth_gb_per_s.value=0"]),
    "inf": ("chips", "i.yaml", sub(CHIP, "value: 34.36", "value: .inf"), ["hbm_gb.value=inf", "finite"]),
    "minus-inf": ("chips", "i.yaml", sub(CHIP, "value: 34.36", "value: -.inf"), ["hbm_gb.value=-inf"]),
    "nan": ("chips", "nan.yaml", sub(CHIP, "value: 34.36", "value: .nan"), ["hbm_gb.value=nan", "finite"]),
    "overflow-to-inf": ("chips", "o.yaml", sub(CHIP, "value: 34.36", "value: 1.0e+400"), ["hbm_gb.value=inf"]),
    "too-large": ("chips", "t.yaml", sub(CHIP, "value: 34.36", "value: 1.0e+31"), ["hbm_gb", "1e+31", "at most"]),
    "subnormal": ("chips", "t.yaml", sub(CHIP, "value: 34.36", "value: 1.0e-310"), ["hbm_gb", "subnormal"]),
    "string-for-number": ("chips", "w.yaml", sub(CHIP, "value: 34.36", "value: lots"), ["hbm_gb.value='lots'"]),
    "number-for-spec": ("chips", "w.yaml", sub(CHIP, HBM, "hbm_gb: 34.36"), ["hbm_gb=34.36"]),
    "mapping-for-list": (
        "chips",
        "w.yaml",
        sub(CHIP, 'device_kinds: ["TPU v4"]', "device_kinds: {a: 1}"),
        ["device_kinds=", "valid list"],
    ),
    "unknown-dtype": (
        "chips",
        "d.yaml",
        sub(CHIP, "default_dtype: bf16", "default_dtype: fp64"),
        ["default_dtype='fp64'"],
    ),
    "dtype-without-peak": (
        "chips",
        "d.yaml",
        sub(CHIP, "default_dtype: bf16", "default_dtype: fp16"),
        ["default_dtype='fp16'", "peak_flops_fp16"],
    ),
    "name-traversal": ("chips", "n.yaml", sub(CHIP, "name: case-chip", "name: ../../x"), ["name='../../x'"]),
    "name-absolute": ("chips", "n.yaml", sub(CHIP, "name: case-chip", "name: /etc/passwd"), ["name='/etc/passwd'"]),
    "name-with-spaces": ("chips", "n.yaml", sub(CHIP, "name: case-chip", "name: my chip"), ["name='my chip'"]),
    "name-empty": ("chips", "n.yaml", sub(CHIP, "name: case-chip", "name: ''"), ["name=''"]),
    "name-too-long": ("chips", "n.yaml", sub(CHIP, "name: case-chip", "name: " + "a" * 101), ["name='aaa"]),
    "name-not-a-string": ("chips", "n.yaml", sub(CHIP, "name: case-chip", "name: 123"), ["name=123"]),
    "duplicate-key": (
        "chips",
        "k.yaml",
        sub(CHIP, "vendor: Google", "vendor: Google\nvendor: Other"),
        ["duplicate key 'vendor'"],
    ),
    "deeply-nested": ("chips", "deep.yaml", "a: " + nested(100), ["nested deeper than"]),
    "alias-bomb": ("chips", "bomb.yaml", BOMB, ["aliases"]),
    "python-tag": ("chips", "tag.yaml", "!!python/object/apply:os.system ['touch pwned']", ["malformed YAML"]),
    "nul-character": ("chips", "nul.yaml", "name: a\x00b\n", ["nul.yaml", "unacceptable character"]),
    "oversized": ("chips", "big.yaml", CHIP + "#" * (300 * 1024) + "\n", ["big.yaml", "at most 262,144", "256 KiB"]),
    "not-utf8": ("chips", "latin.yaml", "vendor: Gr\xfcn\n".encode("latin-1"), ["not UTF-8", "0xfc"]),
    "empty-file": ("chips", "e.yaml", b"", ["e.yaml: empty file"]),
    "whitespace-only": ("chips", "e.yaml", b" \n\t\n", ["empty file"]),
    "hostile-name-absolute": ("chips", "{victim}", CHIP + "colour: red\n", ["unknown key 'colour'"]),
    "hostile-name-relative": ("chips", "{victim_rel}", "name: [x", ["../", "malformed YAML"]),
    "hostile-name-markup": (
        "chips",
        "evil\n**x**[a](http://e).yaml",
        "name: [x",
        [r"evil?\*\*x\*\*\[a\](http://e).yaml: malformed YAML"],
    ),
    "dc-pue-below-one": ("datacenters", "p.yaml", sub(DC, "value: 1.58", "value: 0.9"), ["pue.value=0.9", ">= 1"]),
    "dc-pue-nan": ("datacenters", "p.yaml", sub(DC, "value: 1.58", "value: .nan"), ["pue.value=nan"]),
    "dc-pue-inf": ("datacenters", "p.yaml", sub(DC, "value: 1.58", "value: .inf"), ["pue.value=inf"]),
    "dc-negative-carbon": (
        "datacenters",
        "c.yaml",
        DC.replace("value: 0.373", "value: -0.373", 1),
        ["carbon_intensity_net_kg_per_kwh.value=-0.373"],
    ),
    "dc-missing-pue": ("datacenters", "m.yaml", without(DC, "pue:"), ["missing field 'pue'"]),
    "dc-wrong-type": ("datacenters", "w.yaml", sub(DC, "value: 1.58", "value: high"), ["pue.value='high'"]),
    "dc-a-chip-file": ("datacenters", "chip.yaml", CHIP, ["chip.yaml: missing field 'pue'"]),
    "dc-name-traversal": (
        "datacenters",
        "n.yaml",
        sub(DC, "name: case-dc", "name: ../../../etc/x"),
        ["name='../../../etc/x'"],
    ),
    "dc-not-a-mapping": ("datacenters", "l.yaml", "[1, 2]", ["got list"]),
}

MEASUREMENT_CASES = {
    "mfu-infinity": ("m.json", sub(GOOD_JSON, '"mfu": 0.42', '"mfu": Infinity'), ["Infinity is not a number"]),
    "mfu-minus-infinity": ("m.json", sub(GOOD_JSON, '"mfu": 0.42', '"mfu": -Infinity'), ["-Infinity"]),
    "mfu-nan": ("m.json", sub(GOOD_JSON, '"mfu": 0.42', '"mfu": NaN'), ["NaN is not a number"]),
    "mfu-overflow": ("m.json", sub(GOOD_JSON, '"mfu": 0.42', '"mfu": 1e400'), ["mfu=inf", "finite"]),
    "mfu-too-large": ("m.json", record(mfu=1e31), ["mfu=1e+31", "at most"]),
    "mfu-negative": ("m.json", record(mfu=-0.1), ["mfu=-0.1"]),
    "mfu-null": ("m.json", record(mfu=None), ["mfu=None"]),
    "step-time-zero": ("m.json", record(step_time_median_s=0), ["step_time_median_s=0"]),
    "wrong-schema": (
        "m.json",
        record(record_schema="glamsim.measurement/2"),
        ["record_schema='glamsim.measurement/2'", "not a glamsim measurement"],
    ),
    "no-schema": ("m.json", record(drop="record_schema"), ["record_schema=None"]),
    "missing-field": ("m.json", record(drop="model_flops_per_step"), ["missing field 'model_flops_per_step'"]),
    "unknown-key": ("m.json", record(colour="red"), ["unknown key 'colour'"]),
    "string-for-int": ("m.json", record(batch="four"), ["batch='four'"]),
    "fractional-int": ("m.json", record(batch=2.5), ["batch=2.5"]),
    "unknown-dispatch": ("m.json", record(dispatch="magic"), ["dispatch='magic'"]),
    "bad-routing-value": ("m.json", record(routing={"a": "x"}), ["routing.a='x'"]),
    "not-json": ("m.json", "hello", ["m.json: measurement: corrupted JSON at line 1"]),
    "truncated": ("m.json", GOOD_JSON[: len(GOOD_JSON) // 2], ["corrupted JSON"]),
    "json-list": ("m.json", "[]", ["expected a JSON object", "got list"]),
    "json-string": ("m.json", '"x"', ["got str"]),
    "deeply-nested": ("m.json", record(model_config_data={"a": json.loads(nested(100))}), ["nested deeper than"]),
    "oversized": ("m.json", " " * (1 << 20) + GOOD_JSON, ["at most 1,048,576", "1 MiB"]),
    "not-utf8": ("m.json", b'{"model": "\xfc"}', ["not UTF-8", "0xfc"]),
    "empty-file": ("m.json", b"", ["m.json: empty file"]),
    "hostile-name-absolute": ("{victim}", sub(GOOD_JSON, '"mfu": 0.42', '"mfu": Infinity'), ["Infinity"]),
    "hostile-name-relative": ("{victim_rel}", "hello", ["../", "corrupted JSON"]),
}


# ---- shared pages and the filesystem they may touch ------------------------------------------------


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under `folder`: size, modification time, contents."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = Path(root) / f
            st = p.stat()
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns, p.read_bytes())
    return out


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A folder that holds the app's temporary folders (tempfile's default) and victim files."""
    root = tmp_path_factory.mktemp("app-uploads")
    (root / "tmp").mkdir()
    (root / VICTIM).mkdir()
    for name in ("evil.yaml", "evil.json"):
        (root / VICTIM / name).write_text("precious\n")
    old = tempfile.tempdir
    tempfile.tempdir = str(root / "tmp")
    try:
        yield root
    finally:
        tempfile.tempdir = old


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(HOME, default_timeout=60)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, key: str, name: str, data: bytes | str, mime: str) -> None:
    at.file_uploader(key=key).set_value((name, data.encode() if isinstance(data, str) else data, mime)).run()


def names_shown(at: AppTest) -> tuple[set, set]:
    """Chip and datacenter names in the Profiles page's two summary tables."""
    return set(at.dataframe[0].value["name"]), set(at.dataframe[2].value["name"])


@pytest.fixture(scope="module")
def profiles_page(sandbox):
    """The Profiles page with one valid chip and one valid datacenter accepted first."""
    at = open_page("pages/6_Profiles.py")
    upload(at, "pr_upload", "kept.yaml", sub(CHIP, "name: case-chip", "name: kept-chip"), "application/yaml")
    at.radio(key="pr_kind").set_value("datacenters").run()
    upload(at, "pr_upload", "kept.yaml", sub(DC, "name: case-dc", "name: kept-dc"), "application/yaml")
    assert not at.exception and not at.error and "kept-dc" in at.success[0].value
    folder = Path(at.session_state["profiles_dir"])
    assert folder.is_relative_to(sandbox / "tmp")
    assert {p.name for p in folder.rglob("*") if p.is_file()} == {"kept-chip.yaml", "kept-dc.yaml"}
    chips, dcs = names_shown(at)
    assert "kept-chip" in chips and "kept-dc" in dcs
    return at, folder


@pytest.fixture(scope="module")
def measure_page(sandbox):
    """The Measure page with one valid measurement loaded first."""
    at = open_page("pages/4_Measure_here.py")
    upload(at, "m_upload", "good.json", GOOD_JSON, "application/json")
    assert not at.exception and not at.error
    assert at.session_state["measurement"] == RECORD
    return at


def hostile(name: str, sandbox: Path, staged_in: Path, ext: str) -> str:
    """Fill in `{victim}` (absolute) and `{victim_rel}` (relative to `staged_in`, the folder where the old
    pages joined the client's file name: <upload dir>/staging, a temporary folder)."""
    victim = sandbox / VICTIM / f"evil.{ext}"
    rel = os.path.relpath(victim, staged_in)
    assert rel.startswith("../")
    return name.format(victim=victim, victim_rel=rel)


def assert_one_error_line(at: AppTest, mentions: list[str]) -> str:
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1, [e.value for e in at.error]
    line = at.error[0].value
    assert "\n" not in line and "Traceback" not in line, line
    for text in mentions:
        assert text in line, f"{text!r} not in {line!r}"
    return line


# ---- the cases -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(PROFILE_CASES))
def test_bad_profile_upload_is_one_error_line_and_writes_nothing(case, profiles_page, sandbox):
    at, folder = profiles_page
    kind, name, data, mentions = PROFILE_CASES[case]
    name = hostile(name, sandbox, folder / "staging", "yaml")
    before = snapshot(sandbox)
    at.radio(key="pr_kind").set_value(kind)
    upload(at, "pr_upload", name, data, "application/yaml")
    assert_one_error_line(at, mentions)
    assert not at.success
    assert snapshot(sandbox) == before  # nothing written, changed or removed anywhere, victims included
    chips, dcs = names_shown(at)
    assert "kept-chip" in chips and "kept-dc" in dcs and "case-chip" not in chips and "case-dc" not in dcs


@pytest.mark.parametrize("client_name", ["{victim}", "{victim_rel}", "../../../../../../tmp/x.yaml", "/x.yaml"])
def test_profile_is_saved_under_its_own_name_whatever_the_client_file_name(client_name, profiles_page, sandbox):
    at, folder = profiles_page
    name = hostile(client_name, sandbox, folder / "staging", "yaml")
    before = snapshot(sandbox)
    at.radio(key="pr_kind").set_value("chips")
    upload(at, "pr_upload", name, sub(CHIP, "name: case-chip", "name: renamed-chip"), "application/yaml")
    assert not at.exception and not at.error
    assert at.success[0].value.startswith(f"{ui.shown_name(name)}: chip 'renamed-chip' added")
    after = snapshot(sandbox)
    saved = str((folder / "chips" / "renamed-chip.yaml").relative_to(sandbox))
    changed = {p for p in after if before.get(p) != after[p]} | (set(before) - set(after))
    assert changed <= {saved} and saved in after  # only the profile's own file (rewritten on each upload)
    assert (sandbox / VICTIM / "evil.yaml").read_text() == "precious\n"
    assert "renamed-chip" in names_shown(at)[0]


@pytest.mark.parametrize("case", list(MEASUREMENT_CASES))
def test_bad_measurement_upload_is_one_error_line_and_keeps_the_last_one(case, measure_page, sandbox):
    at = measure_page
    name, data, mentions = MEASUREMENT_CASES[case]
    name = hostile(name, sandbox, sandbox / "tmp" / "tmpdir", "json")
    before = snapshot(sandbox)
    upload(at, "m_upload", name, data, "application/json")
    assert_one_error_line(at, mentions)
    assert snapshot(sandbox) == before
    assert at.session_state["measurement"] == RECORD  # the measurement loaded before is kept and shown
    assert at.subheader[0].value.startswith("glam-tiny: batch 8 x 128 tokens on TPU v4")


def test_measurement_upload_with_a_hostile_name_writes_nothing(measure_page, sandbox):
    at = measure_page
    before = snapshot(sandbox)
    other = RECORD.model_copy(update={"mfu": 0.4})
    upload(
        at,
        "m_upload",
        hostile("{victim_rel}", sandbox, sandbox / "tmp" / "tmpdir", "json"),
        other.model_dump_json(),
        "application/json",
    )
    assert not at.exception and not at.error and at.session_state["measurement"] == other
    assert snapshot(sandbox) == before
    upload(at, "m_upload", "good.json", GOOD_JSON, "application/json")  # back to the shared starting point
    assert at.session_state["measurement"] == RECORD


def test_upload_helpers_refuse_before_parsing():
    """The page-independent pieces: size first (a huge file is never decoded), names shown as text."""
    with pytest.raises(ui.ConfigError, match=r"^x\.json: 1,048,577 bytes"):
        ui.parse_measurement(b"\xff" * (ui.MEASUREMENT_MAX_BYTES + 1), "x.json")
    with pytest.raises(ui.ConfigError, match="kind='../chips'"):
        ui.parse_profile("../chips", CHIP.encode(), "a.yaml")
    assert ui.shown_name("a" * 200).endswith("…") and len(ui.shown_name("a" * 200)) == 80
    assert ui.shown_name(None) == "upload" and ui.shown_name("x\r\ny .yaml") == "x??y .yaml"


# ---- where the dashboard listens -------------------------------------------------------------------


def test_streamlit_configs_agree_and_keep_the_dashboard_local():
    root, app = (
        tomllib.loads(p.read_text())
        for p in (ROOT / ".streamlit" / "config.toml", ROOT / "app" / ".streamlit" / "config.toml")
    )
    assert root == app
    assert app["server"]["address"] == "127.0.0.1" and app["server"]["headless"] is True
    assert app["browser"]["gatherUsageStats"] is False
    assert 1 <= app["server"]["maxUploadSize"] <= 32  # MB (Streamlit's default is 200)
    assert (
        ui.PROFILE_MAX_BYTES <= ui.UPLOAD_WIDGET_MB * 2**20 and ui.MEASUREMENT_MAX_BYTES <= ui.UPLOAD_WIDGET_MB * 2**20
    )


def listening(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp* writes them) listening on `port`."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, p = local.split(":")
                if state == "0A" and int(p, 16) == port:
                    out.append(addr)
    return out


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_streamlit_run_from_another_folder_listens_on_localhost_only(tmp_path):
    """`streamlit run .../app/Home.py` with no address flag, from a folder without a config of its own
    and a home without one: the config next to the script keeps the server on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")} | {"HOME": str(tmp_path)}
    streamlit = Path(sys.executable).with_name("streamlit")
    proc = subprocess.Popen(
        [str(streamlit), "run", HOME, "--server.port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not listening(port) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        addrs = listening(port)
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert addrs == ["0100007F"], (addrs, out[-2000:])  # 127.0.0.1 only; no 0.0.0.0 or :: socket

"""Any model in the dashboard (issue 25, item 1): a Hugging Face config.json or a glamsim YAML
uploaded on a page, validated with one-line errors, usable as the main, baseline or compared model,
kept in the session and carried by the page's link; links hold keys, and say when a name is unknown."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from glamsim.config import data_dir, load_model
from glamsim.cost import estimate_serving, estimate_training
from glamsim.outputs import format_value, label

ROOT = Path(__file__).resolve().parents[1]
HOME = str(ROOT / "app" / "Home.py")
TRAINING, SERVING = "pages/1_Training_what-if.py", "pages/2_Serving_what-if.py"
sys.path.insert(0, str(ROOT / "app"))

MISTRAL = {  # mistralai/Mistral-7B-v0.1, as on the Hub
    "_name_or_path": "mistralai/Mistral-7B-v0.1",
    "model_type": "mistral",
    "architectures": ["MistralForCausalLM"],
    "hidden_act": "silu",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 32768,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "sliding_window": 4096,
    "tie_word_embeddings": False,
    "vocab_size": 32000,
}


@pytest.fixture(scope="module")
def mistral(tmp_path_factory):
    """The same config.json read by the command line's reader, independently of the dashboard."""
    path = tmp_path_factory.mktemp("Mistral-7B-v0.1") / "config.json"
    path.write_text(json.dumps(MISTRAL))
    return load_model(path)


def training(query: dict | None = None, typed: bool = True) -> AppTest:
    """The training page (with a typed MFU unless `typed=False`), opened from a link's `query`."""
    at = AppTest.from_file(HOME, default_timeout=60)
    at.run()
    at.switch_page(TRAINING)
    if query:
        at.query_params.update(query)
    at.run()
    if typed:
        at.radio(key="t_mfu_mode").set_value("typed").run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return {m.label: m.value for m in at.metric}[label]


def upload(at: AppTest, key: str, name: str, data: bytes) -> AppTest:
    at.file_uploader(key=key).set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, at.exception
    return at


def test_config_json_is_the_main_model_compared_and_baseline(mistral):
    at = upload(training(), "t_model_file", "config.json", json.dumps(MISTRAL).encode())
    assert not at.error and "model 'Mistral-7B-v0.1'" in at.success[0].value
    assert at.selectbox(key="t_model").value == "Mistral-7B-v0.1"  # a new upload becomes the main model
    est = estimate_training(model=mistral, tokens=6e11, chips=1024, mfu=0.3)
    assert metric(at, "Energy, facility (MWh)") == format_value("energy_mwh", est.energy_mwh)
    assert "uploaded this session" in " ".join(c.value for c in at.caption)

    # as the baseline and as a compared model, next to the presets
    at.selectbox(key="t_model").set_value("glam-64b-64e")
    at.selectbox(key="t_baseline").set_value("Mistral-7B-v0.1")
    at.multiselect(key="t_compare").set_value(["gpt3-175b"]).run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert {"glam-64b-64e", "Mistral-7B-v0.1", "gpt3-175b"} <= set(table.columns)
    energy = table.set_index("quantity").loc[label("energy_mwh"), "Mistral-7B-v0.1"]
    assert energy == format_value("energy_mwh", est.energy_mwh)
    assert at.query_params.get("models")  # the link carries it


def test_a_link_carries_an_uploaded_model_into_a_fresh_session(mistral):
    at = upload(training(), "t_model_file", "config.json", json.dumps(MISTRAL).encode())
    link = {k: at.query_params[k] for k in at.query_params}
    assert link["t_model"] == "Mistral-7B-v0.1"
    fresh = training(link)  # a new session: nothing uploaded, only the link
    assert not fresh.error and fresh.selectbox(key="t_model").value == "Mistral-7B-v0.1"
    assert metric(fresh, "Energy, facility (MWh)") == metric(at, "Energy, facility (MWh)")


def test_the_serving_page_takes_an_uploaded_yaml_model_as_compared_model():
    text = (data_dir("model_presets") / "llama-2-7b.yaml").read_text().replace("name: llama-2-7b", "name: my-7b")
    at = AppTest.from_file(HOME, default_timeout=60)
    at.run()
    at.switch_page(SERVING).run()
    upload(at, "s_model_file", "my-7b.yaml", text.encode())
    at.selectbox(key="s_model").set_value("glam-64b-64e")
    at.multiselect(key="s_compare").set_value(["my-7b"]).run()
    assert not at.exception and not at.error
    est = estimate_serving(model=load_model("llama-2-7b").replace(name="my-7b"), batch=32)
    table = at.dataframe[0].value
    row = table.set_index("quantity").loc[label("joules_per_token")]
    assert row["my-7b"] == format_value("joules_per_token", est["joules_per_token"])


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("config.json", b"{not json", "config.json"),
        ("config.json", json.dumps({**MISTRAL, "model_type": "rwkv"}).encode(), "model_type='rwkv'"),
        ("config.json", json.dumps({**MISTRAL, "hidden_size": -8}).encode(), "hidden_size"),
        ("mine.yaml", (data_dir("model_presets") / "glam-tiny.yaml").read_bytes() + b"colour: red\n", "colour"),
        ("mine.yaml", b"", "empty file"),
        ("big.json", b" " * (300 * 1024), "at most"),
        ("bin.yaml", b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_a_bad_model_file_gets_one_line_naming_it(name, data, words):
    at = upload(training(), "t_model_file", name, data)
    assert len(at.error) == 1, [e.value for e in at.error]
    line = at.error[0].value
    assert words in line and "\n" not in line and "/tmp" not in line
    assert at.selectbox(key="t_model").value == "glam-64b-64e" and at.metric  # the page still works


def test_a_link_naming_something_unknown_says_so_in_one_line():
    at = training({"t_model": "glam-64b-64x", "models": "not-a-model"}, typed=False)  # the link as opened
    lines = [w.value for w in at.warning] + [e.value for e in at.error]
    assert any("t_model='glam-64b-64x'" in w and "showing 'glam-64b-64e'" in w for w in lines), lines
    assert any("models= in the link" in e for e in lines), lines
    assert at.selectbox(key="t_model").value == "glam-64b-64e" and at.metric


def test_links_hold_keys_not_labels():
    at = training()
    at.selectbox(key="t_dc").set_value("gcp-us-central1").run()
    assert at.query_params["t_dc"] == "gcp-us-central1"  # the name, not "Cloud region · ... kg/kWh"
    fresh = training({"t_dc": "gcp-us-central1"})
    assert fresh.selectbox(key="t_dc").value == "gcp-us-central1"


def test_the_profiles_page_takes_a_config_json_as_a_model_for_every_page(mistral):
    at = AppTest.from_file(HOME, default_timeout=60)
    at.run()
    at.switch_page("pages/6_Profiles.py").run()
    upload(at, "pr_model_file", "config.json", json.dumps(MISTRAL).encode())
    assert not at.error and "model 'Mistral-7B-v0.1'" in at.success[0].value  # not silently ignored
    at.switch_page(SERVING).run()
    assert "Mistral-7B-v0.1" in at.selectbox(key="s_baseline").options

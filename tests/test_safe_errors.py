"""Safe error lines (issue 24): whatever a user typed or named, a refusal is one printable line of at
most 300 characters: control and bidirectional characters escaped, long names cut with an ellipsis,
on the command line and in the dashboard alike (`glamsim.formatting.safe_line`)."""

from __future__ import annotations

import pytest
from badinput import refused
from hypothesis import given
from hypothesis import strategies as st

from glamsim.formatting import ERROR_LINE_LIMIT, safe_line


@given(st.text(max_size=2000))
def test_a_safe_line_is_one_printable_line_of_bounded_length(text):
    line = safe_line(text)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in line)
    assert len(line) <= ERROR_LINE_LIMIT


def test_escapes_read_as_what_they_were():
    assert safe_line("a\nerror: fake") == "a\\nerror: fake"
    assert safe_line("x\x1b[31mred") == "x\\x1b[31mred"
    assert safe_line("evil\u202etxt.yaml") == "evil\\u202etxt.yaml"
    assert safe_line("plain text, unchanged: é ü 中") == "plain text, unchanged: é ü 中"
    cut = safe_line("n" * 10_000)
    assert len(cut) == ERROR_LINE_LIMIT and cut.endswith("…")


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["estimate", "train", "--model", "bad\nerror: forged line"], "\\n"),
        (["estimate", "train", "--chip", "x\x1b]0;title\x07.yaml"], "\\x1b"),
        (["estimate", "serve", "--datacenter", "dc\u202egpj.yaml"], "\\u202e"),
        (["estimate", "train", "--model", "m" * 10_000], "…"),
    ],
    ids=["newline", "osc-escape", "rtl-override", "10k-name"],
)
def test_the_command_line_prints_one_safe_line(args, mentions, tmp_path):
    line = refused(args, tmp_path, mentions=mentions)
    assert len(line) <= len("error: ") + ERROR_LINE_LIMIT


def test_an_integer_longer_than_python_reads_is_one_line_in_every_reader(tmp_path):
    """Python refuses to convert integers of more than 4,300 digits (a ValueError): a file holding one,
    or a keyword given one, is an ordinary bad input (issue 24)."""
    import glamsim.api as gs
    from glamsim.config import ConfigError
    from glamsim.cost import estimate_training

    huge = "9" * 5000
    (tmp_path / "m.yaml").write_text(f"name: x\nn_layers: {huge}\n")
    (tmp_path / "r.json").write_text(f'{{"a": {huge}}}')
    refused(["count", "m.yaml"], tmp_path, mentions="an integer of 5,000 digits")
    refused(
        ["estimate", "train", "--mfu", "0.3", "--measured", "r.json"], tmp_path, mentions="an integer of 5,000 digits"
    )
    for call in (lambda: gs.train(chips=10**5000), lambda: estimate_training(chips=10**5000)):
        with pytest.raises(ConfigError, match="chips=<an integer of about 5,000 digits>: must be at most 2"):
            call()

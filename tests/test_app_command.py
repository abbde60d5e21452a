"""`glamsim app` (issue 24, item 6): the dashboard listens on 127.0.0.1 only, whatever folder it is
started from (no working folder's settings apply), with usage statistics off."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from badinput import refused

from glamsim.cli.app_cmds import HOME, streamlit_argv

GLAMSIM = str(Path(sys.executable).with_name("glamsim"))


def test_the_command_line_binds_localhost_headless_without_statistics():
    argv = streamlit_argv(8600)
    flags = dict(zip(argv[5::2], argv[6::2]))
    assert argv[1:5] == ["-m", "streamlit", "run", str(HOME)] and Path(argv[4]).is_absolute()
    assert flags == {
        "--server.headless": "true",
        "--server.address": "127.0.0.1",
        "--server.port": "8600",
        "--browser.gatherUsageStats": "false",
    }


def test_a_missing_dashboard_or_a_bad_port_is_one_line(tmp_path):
    with pytest.raises(Exception, match="ships with the source checkout"):
        streamlit_argv(8600, tmp_path / "Home.py")
    refused(["app", "--port", "80"], tmp_path, mentions="--port")
    refused(["app", "--port", "99999"], tmp_path, mentions="--port")


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if state == "0A" and int(p, 16) == port:
                found.add(addr)
    return found


def test_started_from_another_folder_it_listens_on_localhost_only(tmp_path):
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp to read the listening address from")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [GLAMSIM, "app", "--port", str(port)],
        cwd=tmp_path,  # no .streamlit/ here: only the flags decide
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.5)
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and no other interface
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

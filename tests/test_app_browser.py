"""The dashboard in a real browser: `streamlit run` on 127.0.0.1, Debian's Chromium driven by Playwright.

Each page is loaded, its key content waited for, and a full-page screenshot checked to be non-blank.
Set GLAMSIM_SCREENSHOTS=DIR to keep the screenshots (to look at them).  Skipped, with the reason,
only where no Chromium is installed (`.ci/run` installs it with apt).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and os.path.exists(p)), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# url path -> (page title, a selector of the page's key content, shown once its numbers are computed)
PAGES = {
    "": ("glamsim: what would it cost?", '[data-testid="stDataFrame"]'),
    "Training_what-if": ("Training what-if", '[data-testid="stMetric"]'),
    "Serving_what-if": ("Serving what-if", '[data-testid="stImage"]'),
    "Scaling_explorer": ("Scaling explorer", '[data-testid="stImage"]'),
    "Measure_here": ("Measure here", '[data-testid="stAlert"]'),
    "Paper_check": ("Paper check", '[data-testid="stMetric"]'),
    "Profiles": ("Profiles", '[data-testid="stDataFrame"]'),
}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found at /usr/bin/chromium or on PATH "
                                                          "(install it: apt-get install -y chromium; .ci/run does)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "Home.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not start: {proc.stdout.read().decode()[-2000:]}")
        time.sleep(0.3)
    yield url
    proc.kill()
    proc.wait()


def non_blank(png: Path) -> float:
    """Pixel standard deviation of the screenshot: a blank (single-colour) page gives 0."""
    import matplotlib.image

    return float(np.asarray(matplotlib.image.imread(png))[..., :3].std())


def test_every_page_renders_in_chromium(server, tmp_path):
    from playwright.sync_api import sync_playwright

    out = Path(os.environ.get("GLAMSIM_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1440, "height": 2600})
        errors = []
        for path, (title, selector) in PAGES.items():
            page.goto(f"{server}/{path}", wait_until="domcontentloaded")
            page.wait_for_selector(f'h1:has-text("{title}")', timeout=60_000)
            page.wait_for_selector(selector, timeout=90_000)
            page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=90_000)
            page.wait_for_timeout(500)  # let images finish painting
            if page.locator('[data-testid="stException"]').count():
                errors.append(f"{path or 'Home'}: {page.locator('[data-testid=stException]').first.inner_text()}")
            shot = out / f"{path or 'Home'}.png"
            page.screenshot(path=str(shot))  # Streamlit scrolls inside its own container: a tall viewport
            assert non_blank(shot) > 0.05, f"{shot.name} looks blank"
        browser.close()
    assert not errors, errors

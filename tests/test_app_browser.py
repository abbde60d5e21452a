"""The dashboard in a real browser: `streamlit run` on 127.0.0.1, Debian's Chromium driven by Playwright.

Each page is loaded, its key content waited for, and a full-page screenshot checked to be non-blank.
Settings survive a page change and a reload and travel in the URL; no metric card or button is cut at
1,280 or 1,024 px; the time from a typed value to the settled page is printed (run with -s to see it);
an uploaded config.json is compared with GLaM and GPT-3, under a target one of them misses, and its
link restores the page in a fresh browser context (issue 25's acceptance).
Set GLAMSIM_SCREENSHOTS=DIR to keep the screenshots (to look at them).  Skipped, with the reason,
only where no Chromium is installed (`.ci/run` installs it with apt).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from glamsim.cli.app_cmds import streamlit_argv

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and os.path.exists(p)), None)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHART = '[data-testid="stVegaLiteChart"] .marks'  # an interactive chart, drawn (canvas or svg)
# url path -> (page title, a selector of the page's key content, shown once its numbers are computed)
PAGES = {
    "": ("glamsim: what would it cost?", '[data-testid="stDataFrame"]'),
    "Training_what-if": ("Training what-if", '[data-testid="stMetric"]'),
    "Serving_what-if": ("Serving what-if", CHART),
    "Scaling_explorer": ("Scaling explorer", CHART),
    "Measure_here": ("Measure here", '[data-testid="stAlert"]'),
    "Paper_check": ("Paper check", '[data-testid="stMetric"]'),
    "Profiles": ("Profiles", '[data-testid="stDataFrame"]'),
}

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found at /usr/bin/chromium or on PATH (install it: apt-get install -y chromium; .ci/run does)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    proc = subprocess.Popen(
        streamlit_argv(port),  # what `glamsim app` runs
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
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
            tabs = page.locator('[role="tab"]')
            for i in range(max(tabs.count(), 1)):  # a chart in a tab is drawn when its tab is shown
                if tabs.count():
                    tabs.nth(i).click()
                    page.wait_for_timeout(400)
                charts = page.locator('[data-testid="stVegaLiteChart"]:visible').count()
                drawn = page.locator('[data-testid="stVegaLiteChart"]:visible:has(.marks)').count()
                if charts != drawn:
                    errors.append(f"{path or 'Home'} (tab {i + 1}): {charts} charts shown, {drawn} drawn")
            if page.locator('[data-testid="stException"]').count():
                errors.append(f"{path or 'Home'}: {page.locator('[data-testid=stException]').first.inner_text()}")
            shot = out / f"{path or 'Home'}.png"
            page.screenshot(path=str(shot))  # Streamlit scrolls inside its own container: a tall viewport
            assert non_blank(shot) > 0.05, f"{shot.name} looks blank"
        browser.close()
    assert not errors, errors


# ---- state in the URL and across pages; cards never cut; time from a widget change to a settled page ----


def settle(page, timeout: int = 90_000) -> None:
    """Wait until the script run a change started has finished (Streamlit's status widget is gone)."""
    page.wait_for_timeout(50)  # the rerun's status widget appears within a frame of the change
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout)


def open_path(page, url: str, title: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(f'h1:has-text("{title}")', timeout=60_000)
    settle(page)


def number_input(page, label: str):
    return page.locator(f'[data-testid="stNumberInput"] input[aria-label="{label}"]')


def card(page, label: str) -> str:
    """The value shown in the metric card labelled `label`."""
    return (
        page.locator('[data-testid="stMetric"]')
        .filter(has=page.locator(f'[data-testid="stMetricLabel"]:text-is("{label}")'))
        .locator('[data-testid="stMetricValue"]')
        .inner_text()
    )


def wait_card(page, label: str, value: str, timeout: int = 60_000) -> None:
    page.wait_for_function(
        """([label, value]) => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
               m.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim() === label &&
               m.querySelector('[data-testid="stMetricValue"]')?.innerText.trim() === value)""",
        arg=[label, value],
        timeout=timeout,
    )


def type_number(page, label: str, value) -> None:
    box = number_input(page, label)
    box.fill(str(value))
    box.press("Enter")


def go(page, server: str, path: str, title: str) -> None:
    """Leave by the sidebar's link, as a user does (a page change inside the session)."""
    page.locator(f'[data-testid="stSidebarNav"] a[href="{server}/{path}"]').click()
    page.wait_for_selector(f'h1:has-text("{title}")', timeout=60_000)
    settle(page)


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def energy(**fields) -> str:
    from glamsim.cost import estimate_training
    from glamsim.outputs import format_value

    return format_value("energy_mwh", estimate_training(**fields).energy_mwh)


def test_settings_survive_a_page_change_and_a_reload_and_travel_in_the_url(server, chromium):
    from playwright.sync_api import expect

    page = chromium.new_page(viewport={"width": 1280, "height": 1600})
    open_path(page, f"{server}/Training_what-if", "Training what-if")
    wait_card(page, "Energy, facility (MWh)", energy())
    type_number(page, "Chips", 2048)
    wait_card(page, "Energy, facility (MWh)", energy(chips=2048))
    type_number(page, "Training tokens (billions)", 300)
    wait_card(page, "Energy, facility (MWh)", energy(chips=2048, tokens=3e11))
    settle(page)
    assert "t_chips=2048" in page.url and "t_tokens=300" in page.url, page.url

    go(page, server, "Serving_what-if", "Serving what-if")  # away, change something there, and back
    type_number(page, "Batch size (sequences decoded together)", 8)
    page.wait_for_function("() => window.location.href.includes('s_batch=8')", timeout=60_000)
    settle(page)
    page.wait_for_timeout(300)  # on a loaded machine the rerun can start after settle's first look
    settle(page)
    assert "s_batch=8" in page.url and "t_chips" not in page.url, page.url
    go(page, server, "Training_what-if", "Training what-if")
    wait_card(page, "Energy, facility (MWh)", energy(chips=2048, tokens=3e11))
    assert number_input(page, "Chips").input_value() == "2048"
    assert "t_chips=2048" in page.url, page.url  # the URL holds the page's settings again
    go(page, server, "Serving_what-if", "Serving what-if")
    expect(number_input(page, "Batch size (sequences decoded together)")).to_have_value("8", timeout=30_000)
    go(page, server, "Training_what-if", "Training what-if")
    wait_card(page, "Energy, facility (MWh)", energy(chips=2048, tokens=3e11))
    # the page's run writes its settings back into the URL; a reload before that run ends reloads
    # the bare path (a loaded machine can be that slow)
    page.wait_for_function(
        "() => location.href.includes('t_chips=2048') && location.href.includes('t_tokens=300')", timeout=60_000
    )

    page.reload(wait_until="domcontentloaded")  # a reload is a new session: the URL restores the settings
    page.wait_for_selector('h1:has-text("Training what-if")', timeout=60_000)
    wait_card(page, "Energy, facility (MWh)", energy(chips=2048, tokens=3e11))
    assert number_input(page, "Chips").input_value() == "2048"

    shared = chromium.new_page(viewport={"width": 1280, "height": 1600})  # the link, opened elsewhere
    open_path(shared, page.url, "Training what-if")
    wait_card(shared, "Energy, facility (MWh)", energy(chips=2048, tokens=3e11))
    # the widget shows the link's value once the frontend has drawn the run the card came from
    tokens = number_input(shared, "Training tokens (billions)")
    for _ in range(100):
        if tokens.input_value() == "300.00":
            break
        shared.wait_for_timeout(100)
    assert tokens.input_value() == "300.00"
    shared.close()
    page.close()


CUT = """() => [...document.querySelectorAll(
    '[data-testid="stMetricValue"], [data-testid="stMetricLabel"], [data-testid="stDownloadButton"] button, ' +
    '[data-testid="stButton"] button')]
    .flatMap(e => [e, ...e.querySelectorAll('*')])
    .filter(e => e.scrollWidth > e.clientWidth + 1)
    .map(e => (e.closest('[data-testid="stMetric"], [data-testid="stDownloadButton"], [data-testid="stButton"]')
               || e).innerText.trim())"""


@pytest.mark.parametrize("width", [1280, 1024])
def test_no_metric_card_or_button_is_cut(server, chromium, width):
    page = chromium.new_page(viewport={"width": width, "height": 1600})
    shown = {}
    for path, title in (
        ("Training_what-if", "Training what-if"),
        ("Training_what-if?t_chip=h200&t_ranged=true&t_compare=glam-8b-64e", "Training what-if"),
        ("Serving_what-if?s_chip=h100-sxm&s_batch=1024", "Serving what-if"),
        ("Paper_check", "Paper check"),
    ):
        open_path(page, f"{server}/{path}", title)
        page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
        settle(page)
        page.wait_for_timeout(300)  # fonts and layout
        shown[path] = page.locator('[data-testid="stMetric"]').count()
        cut = page.evaluate(CUT)
        assert not cut, f"{path} at {width} px: cut {cut}"
    page.close()
    assert all(shown.values()), shown


def timed_changes(page, label: str, values: list, card_label: str, expected) -> list[float]:
    """Seconds from each typed value's Enter to the page settled with the new figure in its card."""
    times = []
    for v in values:
        box = number_input(page, label)
        box.fill(str(v))
        want = expected(v)
        start = time.perf_counter()
        box.press("Enter")
        wait_card(page, card_label, want)
        settle(page)
        times.append(time.perf_counter() - start - 0.05)  # less settle's fixed wait
    return times


def test_widget_change_to_settled_page_time(server, chromium):
    """Median time from a number typed (Enter) to the page settled with the new figures (the card shows
    the API's value and the status widget is gone).  Printed, not asserted (goal: <= 500 ms)."""
    from glamsim.cost import estimate_serving
    from glamsim.formatting import fmt

    chips = [2048, 1024, 4096]  # counts GLaM 64B/64E fits (the MFU is predicted); bench_app_load.py times many
    cases = {
        "training what-if": (
            "Training_what-if",
            "Training what-if",
            "Chips",
            chips,
            "Energy, facility (MWh)",
            lambda n: energy(chips=n),
        ),
        "training, ranged + a third model": (
            "Training_what-if?t_ranged=true&t_compare=glam-8b-64e",
            "Training what-if",
            "Chips",
            chips,
            "Energy, facility (MWh)",
            lambda n: energy(chips=n),
        ),
        "serving what-if": (
            "Serving_what-if",
            "Serving what-if",
            "Batch size (sequences decoded together)",
            [8, 64, 16],
            "ms / token",
            lambda b: fmt(estimate_serving(batch=b)["decode_step_s"] * 1e3),
        ),
    }
    page = chromium.new_page(viewport={"width": 1280, "height": 1600})
    report = []
    for name, (path, title, label, values, card_label, expected) in cases.items():
        open_path(page, f"{server}/{path}", title)
        times = sorted(timed_changes(page, label, values, card_label, expected))
        report.append(
            f"{name}: median {np.median(times) * 1e3:.0f} ms "
            f"(range {times[0] * 1e3:.0f}-{times[-1] * 1e3:.0f} ms, {len(times)} changes)"
        )
        assert all(t > 0 for t in times)
    page.close()
    print("\nwidget change to settled page in Chromium:\n  " + "\n  ".join(report))


# ---- no chart clipped at 800 or 1280 px: a multi-panel chart wraps or scrolls inside its column ----

CLIPPED = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].flatMap(c => {
    const box = c.getBoundingClientRect(), parent = c.parentElement.getBoundingClientRect();
    const scrolls = ['auto', 'scroll'].includes(getComputedStyle(c).overflowX);
    const bad = [];
    if (box.right > parent.right + 1) bad.push('wider than its container');
    if (c.scrollWidth > c.clientWidth + 1 && !scrolls) bad.push('content cut without a scroll bar');
    return bad.map(b => `${c.querySelector('.marks') ? 'chart' : 'empty chart'} ${Math.round(c.scrollWidth)}px ` +
                        `in ${Math.round(parent.width)}px: ${b}`)})"""


@pytest.mark.parametrize("width", [800, 1280])
def test_no_chart_is_clipped(server, chromium, width):
    page = chromium.new_page(viewport={"width": width, "height": 1600})
    seen = {}
    for path, title in (
        ("Training_what-if?t_show_layouts=true&t_ranged=true", "Training what-if"),
        ("Serving_what-if?s_compare=gpt3-175b", "Serving what-if"),
        ("Scaling_explorer", "Scaling explorer"),
        ("Equal_quality", "Equal quality"),
    ):
        open_path(page, f"{server}/{path}", title)
        page.wait_for_selector(CHART, timeout=90_000)
        settle(page)
        page.wait_for_timeout(300)
        seen[path] = page.locator('[data-testid="stVegaLiteChart"]').count()
        clipped = page.evaluate(CLIPPED)
        assert not clipped, f"{path} at {width} px: {clipped}"
    page.close()
    assert all(seen.values()), seen


# ---- issue 25's acceptance: an uploaded config.json beside GLaM and GPT-3, layouts, a missed target, the link ----

LLAMA_CONFIG = {  # a small Llama-style Hugging Face config.json (about 1B parameters)
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "_name_or_path": "acme/llama-mini-1b",
    "hidden_size": 2048,
    "intermediate_size": 5632,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 32000,
    "max_position_embeddings": 2048,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}
UPLOADED = "llama-mini-1b"  # the model's name: the last part of its _name_or_path


def combobox(page, label: str):
    """A selectbox's or multiselect's text box (Streamlit draws both as a combobox named by its label)."""
    return page.locator(f'input[role="combobox"][aria-label="{label}"]')


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the selectbox or multiselect `label`, as a user does: type, click the option.
    A pick made while the page is still rerunning from the last one can be dropped by the rerun (seen
    once on a loaded 2-core machine), so the pick is checked and made again, as a user would."""
    for _ in range(3):
        box = combobox(page, label)
        box.click()
        box.fill(option)
        page.locator('[role="option"]').filter(has_text=option).first.click()
        page.keyboard.press("Escape")  # a multiselect stays open after a pick
        settle(page)
        if option in chosen(page, label):
            return
    assert option in chosen(page, label), (label, option, chosen(page, label))


def chosen(page, label: str) -> list[str]:
    """What a selectbox shows, or the tags a multiselect holds."""
    widget = page.locator('[data-testid="stSelectbox"], [data-testid="stMultiSelect"]').filter(
        has=combobox(page, label)
    )
    tags = widget.locator('[data-testid="stMultiSelectTagsContainer"] [data-tag]')
    if tags.count():
        return [tags.nth(i).get_attribute("aria-label") for i in range(tags.count())]
    return [combobox(page, label).input_value()]


def alerts(page) -> list[str]:
    return [" ".join(t.split()) for t in page.locator('[data-testid="stAlert"]').all_inner_texts()]


def curve_models(page) -> list[tuple[set[str], set[str]]]:
    """For each chart shown: the models its marks are drawn for (each mark's description names it)
    and its legend's labels."""
    return [
        (set(marks), set(legend))
        for marks, legend in page.evaluate(
            """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
                .filter(c => c.checkVisibility() && c.querySelector('.marks'))
                .map(c => [[...c.querySelectorAll('.marks [aria-label]')]
                               .map(m => /(?:^|; )model: ([^;]+)/.exec(m.getAttribute('aria-label'))?.[1])
                               .filter(Boolean),
                           [...c.querySelectorAll('.role-legend-label text')].map(t => t.textContent)])"""
        )
    ]


def show_tab(page, name: str) -> None:
    page.locator('[role="tab"]').filter(has_text=name).first.click()
    page.wait_for_timeout(300)  # the tab's chart is drawn when it is shown


def check_serving_state(page, ms_per_token: str) -> None:
    """The serving page as the acceptance test leaves it: the uploaded model beside GPT-3 and GLaM on
    H100 under a 20 ms TPOT target that GPT-3 misses: one warning line naming it and the widget, the
    others' cards, table and curves still there."""
    assert chosen(page, "Model") == [UPLOADED]
    assert chosen(page, "Dense baseline") == ["gpt3-175b"]
    assert chosen(page, "Compare also (any number of models)") == ["glam-64b-64e"]
    assert chosen(page, "Chip") == ["h100-sxm"]
    assert float(number_input(page, "TPOT target (ms)").input_value()) == 20
    warned = [a for a in alerts(page) if "not shown" in a]
    assert len(warned) == 1, alerts(page)
    assert warned[0].startswith("⚠️ gpt3-175b not shown: tpot_ms=20"), warned
    assert "Change TPOT target (ms) under More inputs" in warned[0], warned
    assert page.locator('[data-testid="stException"]').count() == 0
    wait_card(page, "ms / token", ms_per_token)  # the uploaded model's figure, as the API computes it
    show_tab(page, "Latency vs throughput")
    # the tab's chart is drawn once shown: wait for its marks (a loaded machine takes seconds)
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
            .some(c => c.checkVisibility() && c.querySelector('.marks [aria-label]'))""",
        timeout=30_000,
    )
    marks, legend = curve_models(page)[0]  # time per output token against throughput: every model's curve
    assert {UPLOADED, "glam-64b-64e"} <= marks <= {UPLOADED, "glam-64b-64e", "gpt3-175b"}, marks
    assert marks <= legend, legend  # named as on the page (never the upload's file on the server)
    assert page.get_by_text("; no curve.").count() == 0  # every model has its curve


def test_uploaded_model_compared_layouts_missed_target_and_link(server, chromium, tmp_path):
    """Issue 25's acceptance: a Hugging Face config.json uploaded on the training page, compared with
    GLaM and GPT-3, the layouts view for each; the serving page with a TPOT target GPT-3 misses (one
    line names it, the others' curves still drawn); the page's link in a fresh context restores it."""
    import json

    from glamsim.cost import estimate_serving
    from glamsim.formatting import fmt

    config = tmp_path / "config.json"
    config.write_text(json.dumps(LLAMA_CONFIG))
    context = chromium.new_context(viewport={"width": 1280, "height": 1600})
    page = context.new_page()
    open_path(page, f"{server}/Training_what-if", "Training what-if")
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Add a model file")
    uploader.locator('input[type="file"]').set_input_files(str(config))
    page.wait_for_selector('[data-testid="stAlert"]:has-text("added for this session")', timeout=60_000)
    settle(page)
    added = [a for a in alerts(page) if "added for this session" in a]
    assert added and f"model '{UPLOADED}' ({UPLOADED} (dense))" in added[0], alerts(page)
    assert chosen(page, "Model") == [UPLOADED]  # the upload becomes the page's model
    assert chosen(page, "Dense baseline") == ["gpt3-175b"]
    choose(page, "Compare also (any number of models)", "glam-64b-64e")
    assert chosen(page, "Compare also (any number of models)") == ["glam-64b-64e"]
    assert "t_compare=glam-64b-64e" in page.url and "models=" in page.url, page.url

    page.locator('[data-testid="stCheckbox"]').filter(has_text="Show the layouts that fit, for every model").click()
    settle(page)
    page.wait_for_selector('h3:has-text("Layouts that fit on")', timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    for name in (UPLOADED, "gpt3-175b", "glam-64b-64e"):  # one tab each, a ranked table in it
        show_tab(page, name)
        panel = page.locator('[role="tabpanel"]:visible').filter(has=page.locator('[data-testid="stDataFrame"]'))
        assert panel.count() >= 1, f"no layouts table for {name}: {alerts(page)}"
    assert combobox(page, "Layout to use").count() == 1  # the main model's layouts can be picked

    go(page, server, "Serving_what-if", "Serving what-if")
    choose(page, "Model", UPLOADED)  # kept in the session: every page's menus list it
    choose(page, "Compare also (any number of models)", "glam-64b-64e")
    choose(page, "Chip", "h100-sxm")
    page.locator('[data-testid="stExpander"] summary').filter(has_text="More inputs").click()
    type_number(page, "TPOT target (ms)", 20)
    settle(page)
    page.wait_for_selector('[data-testid="stAlert"]:has-text("gpt3-175b not shown")', timeout=60_000)
    ms_per_token = fmt(estimate_serving(model=str(config), chip="h100-sxm", tpot_ms=20)["decode_step_s"] * 1e3)
    check_serving_state(page, ms_per_token)
    link = page.url
    assert "models=" in link and "s_tpot_ms=20" in link, link

    fresh = chromium.new_context(viewport={"width": 1280, "height": 1600})  # no session, no uploads: the link alone
    shared = fresh.new_page()
    open_path(shared, link, "Serving what-if")
    shared.wait_for_selector(CHART, timeout=90_000)
    settle(shared)
    check_serving_state(shared, ms_per_token)
    assert not [a for a in alerts(shared) if "Link value ignored" in a], alerts(shared)
    fresh.close()
    context.close()

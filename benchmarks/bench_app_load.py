"""The dashboard under load: N concurrent sessions changing widgets on the training and serving pages.

Starts `glamsim app --port PORT` (a free port on 127.0.0.1) and drives N sessions at once for a
duration.  Each session, in turn, types a new value into a number field (training: Chips; serving:
the batch size) and waits for the settled page: the metric card shows the value the API gives for
that input and Streamlit's status widget is gone; every few changes it moves to the other page by
the sidebar link, as a user does.  Sessions are headless Chromium contexts driven by Playwright
(Debian's /usr/bin/chromium, as tests/test_app_browser.py finds it); where Playwright or Chromium is
missing (or with --apptest), Streamlit AppTest sessions in threads instead (the same script runs, in
this process, one at a time as AppTest is not thread-safe, so a time includes the queue; no websocket
or browser; said so in the output).

Prints the p50/p95/max time from a widget change (Enter) to the settled page, the number of changes,
the errors (a Streamlit exception box on the page, a JavaScript page error, a change that did not
settle within the timeout; goal: 0) and the server's peak memory (RSS of the server's process tree,
sampled every 0.25 s with psutil, else /proc).  Nothing is asserted.

    .venv/bin/python benchmarks/bench_app_load.py [--sessions 20] [--seconds 120] [--apptest]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and os.path.exists(p)), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
FLAGS += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
CHANGES_PER_PAGE = 4  # widget changes before a session moves to the other page


def pages() -> dict:
    """Per page: (url path, title, number field label, AppTest key, values, card label, expected card text)."""
    from glamsim.cost import estimate_serving, estimate_training
    from glamsim.formatting import fmt
    from glamsim.outputs import format_value

    chips = [1024, 2048, 4096]  # counts GLaM 64B/64E fits (the MFU is predicted from the layout)
    batches = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    return {
        "training": (
            "Training_what-if",
            "Training what-if",
            "Chips",
            "t_chips",
            chips,
            "Energy, facility (MWh)",
            {n: format_value("energy_mwh", estimate_training(chips=n).energy_mwh) for n in chips},
        ),
        "serving": (
            "Serving_what-if",
            "Serving what-if",
            "Batch size (sequences decoded together)",
            "s_batch",
            batches,
            "ms / token",
            {b: fmt(estimate_serving(batch=b)["decode_step_s"] * 1e3) for b in batches},
        ),
    }


# ---- the server and its memory ----


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    glamsim = Path(sys.executable).with_name("glamsim")
    argv = [str(glamsim), "app", "--port", str(port)] if glamsim.exists() else [sys.executable, "-m", "glamsim"]
    if not glamsim.exists():
        argv += ["app", "--port", str(port)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 90
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return proc
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            sys.exit(f"error: the dashboard did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.3)


def tree_rss(pid: int) -> int:
    """Bytes resident in process `pid` and its descendants (psutil, else /proc)."""
    try:
        import psutil

        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total
    except ImportError:
        pass
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += kids.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process `pid` and its descendants so far (psutil; else 0)."""
    try:
        import psutil

        root = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])
    except Exception:
        return 0.0


class Sampler(threading.Thread):
    """Peak RSS of a process tree, sampled every `every` seconds until stopped."""

    def __init__(self, pid: int, every: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak, self.first = pid, every, 0, tree_rss(pid)
        self.cpu0 = self.cpu = tree_cpu(pid)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self.cpu = max(self.cpu, tree_cpu(self.pid))
            self.stop.wait(self.every)


# ---- sessions in Chromium ----

WAIT_CARD = """([label, value]) => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
    m.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim() === label &&
    m.querySelector('[data-testid="stMetricValue"]')?.innerText.trim() === value)"""


async def settle(page, timeout: float) -> None:
    await page.wait_for_timeout(50)  # the rerun's status widget appears within a frame of the change
    await page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout)


async def browser_session(i, browser, url, spec, until, timeout, stats) -> None:
    rng = random.Random(i)
    context = await browser.new_context(viewport={"width": 1280, "height": 1600})
    page = await context.new_page()
    page.on("pageerror", lambda e: stats["js"].append(f"session {i}: {e}"))
    names = list(spec)
    name = names[i % 2]  # half the sessions start on each page
    try:
        path, title = spec[name][:2]
        await page.goto(f"{url}/{path}", wait_until="domcontentloaded", timeout=timeout)
        await page.wait_for_selector(f'h1:has-text("{title}")', timeout=timeout)
        await settle(page, timeout)
        current = None
        while time.time() < until:
            for _ in range(CHANGES_PER_PAGE):
                if time.time() >= until:
                    break
                path, title, label, _key, values, card_label, expected = spec[name]
                box = page.locator(f'[data-testid="stNumberInput"] input[aria-label="{label}"]')
                value = rng.choice([v for v in values if v != current])
                await box.fill(str(value))
                start = time.perf_counter()
                await box.press("Enter")
                try:
                    await page.wait_for_function(WAIT_CARD, arg=[card_label, expected[value]], timeout=timeout)
                    await settle(page, timeout)
                    stats["times"].append(time.perf_counter() - start - 0.05)  # less settle's fixed wait
                    current = value
                except Exception as err:  # a change that never settled
                    stats["unsettled"].append(f"session {i} {name} {label}={value}: {type(err).__name__}")
                    current = None
                boxes = page.locator('[data-testid="stException"]')
                if await boxes.count():
                    stats["exceptions"].append(f"session {i} {name}: {(await boxes.first.inner_text())[:300]}")
            name = names[1 - names.index(name)]
            path, title = spec[name][:2]
            await page.locator(f'[data-testid="stSidebarNav"] a[href="{url}/{path}"]').click()
            await page.wait_for_selector(f'h1:has-text("{title}")', timeout=timeout)
            await settle(page, timeout)
            current = int(
                await page.locator(f'[data-testid="stNumberInput"] input[aria-label="{spec[name][2]}"]').input_value()
            )
    except Exception as err:
        stats["session"].append(f"session {i}: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
    finally:
        await context.close()


async def run_browsers(url, spec, sessions, seconds, timeout) -> dict:
    from playwright.async_api import async_playwright

    stats = {"times": [], "exceptions": [], "js": [], "unsettled": [], "session": []}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        until = time.time() + seconds
        await asyncio.gather(*(browser_session(i, browser, url, spec, until, timeout, stats) for i in range(sessions)))
        await browser.close()
    return stats


# ---- sessions as AppTest threads (no browser) ----


SWITCH = threading.Lock()  # AppTest is not thread-safe (shared page registry, script compiler): one run at a time


def apptest_session(i, spec, until, stats) -> None:
    from streamlit.testing.v1 import AppTest

    rng = random.Random(i)
    names = list(spec)
    name = names[i % 2]
    try:
        at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=300)
        with SWITCH:
            at.run()
        while time.time() < until:
            with SWITCH:
                at.switch_page(f"pages/{'1_Training_what-if' if name == 'training' else '2_Serving_what-if'}.py")
                at.run()
            for _ in range(CHANGES_PER_PAGE):
                if time.time() >= until:
                    break
                key, values = spec[name][3], spec[name][4]
                at.number_input(key=key).set_value(rng.choice(values))
                start = time.perf_counter()
                with SWITCH:  # the time includes the wait for the other sessions' runs (a queue)
                    at.run()
                stats["times"].append(time.perf_counter() - start)
                if at.exception:
                    stats["exceptions"].append(f"session {i} {name}: {str(at.exception[0].value)[:300]}")
            name = names[1 - names.index(name)]
    except Exception as err:
        stats["session"].append(f"session {i}: {type(err).__name__}: {str(err).splitlines()[0][:200]}")


def run_apptest(spec, sessions, seconds) -> dict:
    stats = {"times": [], "exceptions": [], "js": [], "unsettled": [], "session": []}
    until = time.time() + seconds
    threads = [threading.Thread(target=apptest_session, args=(i, spec, until, stats)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=120.0, help="how long the sessions change widgets")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds a change may take before it is an error")
    ap.add_argument("--apptest", action="store_true", help="AppTest sessions in threads, even where Chromium runs")
    args = ap.parse_args()

    try:
        import playwright  # noqa: F401

        browsers = CHROMIUM is not None and not args.apptest
    except ImportError:
        browsers = False
    spec = pages()
    print(
        f"{args.sessions} concurrent sessions for {args.seconds:g} s on {os.cpu_count()} CPUs, "
        + (
            f"headless Chromium contexts ({CHROMIUM}, Playwright) on `glamsim app`"
            if browsers
            else "Streamlit AppTest sessions in threads, one script run at a time (AppTest is not thread-safe), "
            "no browser, no websocket; the server's memory is this process's"
        )
    )
    t0 = time.perf_counter()
    if browsers:
        port = free_port()
        server = start_server(port)
        sampler = Sampler(server.pid)
        sampler.start()
        try:
            stats = asyncio.run(
                run_browsers(f"http://127.0.0.1:{port}", spec, args.sessions, args.seconds, args.timeout * 1e3)
            )
        finally:
            sampler.stop.set()
            sampler.join()
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
    else:
        sampler = Sampler(os.getpid())
        sampler.start()
        stats = run_apptest(spec, args.sessions, args.seconds)
        sampler.stop.set()
        sampler.join()
    wall = time.perf_counter() - t0

    t = np.array(stats["times"]) * 1e3
    if len(t):
        print(
            f"  widget change to settled page: p50 {np.percentile(t, 50):.0f} ms, p95 {np.percentile(t, 95):.0f} ms, "
            f"max {t.max():.0f} ms over {len(t)} changes ({len(t) / args.seconds:.1f} per second)"
        )
    else:
        print("  no change settled")
    errors = sum(len(stats[k]) for k in ("exceptions", "js", "unsettled", "session"))
    print(
        f"  errors: {errors} (exceptions on the page {len(stats['exceptions'])}, JavaScript errors "
        f"{len(stats['js'])}, changes not settled in {args.timeout:g} s {len(stats['unsettled'])}, "
        f"sessions ended early {len(stats['session'])}; goal 0)"
    )
    for k in ("exceptions", "js", "unsettled", "session"):
        for line in stats[k][:3]:
            print(f"    {k}: {line}")
    print(
        f"  server peak memory (RSS of its process tree): {sampler.peak / 2**20:,.0f} MiB "
        f"(at start {sampler.first / 2**20:,.0f} MiB); server CPU {sampler.cpu - sampler.cpu0:.0f} s "
        f"in {wall:.0f} s of wall time on {os.cpu_count()} CPUs (the rest: the sessions); load average "
        f"{os.getloadavg()[0]:.1f} at the end"
    )


if __name__ == "__main__":
    main()

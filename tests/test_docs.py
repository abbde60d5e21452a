"""The documentation: the MkDocs site builds strictly and offline, and README.md is a front page.

`mkdocs build --strict` turns every warning into a failure: a link to a missing page or anchor, a
cross-reference to an API object that does not exist, an `::: module` that cannot be collected, a
page left out of the navigation.  The build runs with proxies pointing at a closed port, so any
attempt to download (fonts, plugins' assets) fails the test instead of passing on a networked
machine only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_CHARS = 12_000
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def offline_env() -> dict[str, str]:
    env = dict(os.environ)
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens, a download fails at once
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env[var] = closed
    for var in ("no_proxy", "NO_PROXY"):
        env.pop(var, None)
    env["NO_MKDOCS_2_WARNING"] = "1"  # Material's end-of-life banner, noise in a failure report
    return env


def test_site_builds_strictly_offline(tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(site),
        ],
        cwd=ROOT,
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    for page in (
        "index.html",
        "conventions/index.html",
        "model/index.html",
        "measurement/index.html",
        "cost/index.html",
        "parallelism/index.html",
        "studies/index.html",
        "faces/index.html",
        "safety/index.html",
        "benchmarks/index.html",
        "api/index.html",
        "api/cost/index.html",
    ):
        assert (site / page).is_file(), page
    html = (site / "api" / "cost" / "index.html").read_text(encoding="utf-8")
    assert 'id="glamsim.cost.training.estimate_training"' in html  # the API pages hold the docstrings
    conventions = (site / "conventions" / "index.html").read_text(encoding="utf-8")
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layered = [m.strip() for c in lint["contracts"] for layer in c.get("layers", []) for m in re.split("[:|]", layer)]
    assert layered and all(f"<code>{m}</code>" in conventions for m in layered)  # the layers table, generated
    for path in site.rglob("*.html"):
        assert "fonts.googleapis.com" not in path.read_text(encoding="utf-8"), f"{path}: external fonts"


def slug(heading: str) -> str:
    """GitHub's (and MkDocs' toc) anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(md: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", md.read_text(encoding="utf-8"), flags=re.S)  # no headings in code
    return {slug(h) for h in HEADING.findall(text)}


def test_readme_is_a_front_page():
    text = README.read_text(encoding="utf-8")
    assert len(text) <= MAX_README_CHARS, f"README.md has {len(text):,} characters (at most {MAX_README_CHARS:,})"
    assert "make app" in text and "make test" in text
    assert "make docs" in text


def test_readme_links_resolve():
    text = re.sub(r"```.*?```", "", README.read_text(encoding="utf-8"), flags=re.S)
    links = LINK.findall(text)
    assert links, "README.md links to no page"
    bad = []
    for target in links:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (README.parent / path).resolve() if path else README
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {path or 'README.md'}")
    assert not bad, "README.md has broken relative links:\n" + "\n".join(bad)


def test_readme_links_every_docs_page():
    text = README.read_text(encoding="utf-8")
    for page in (
        "index",
        "conventions",
        "model",
        "measurement",
        "cost",
        "parallelism",
        "studies",
        "faces",
        "safety",
        "benchmarks",
    ):
        assert f"(docs/{page}.md" in text, f"README.md does not link docs/{page}.md"

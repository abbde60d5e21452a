"""The layers hold: import-linter's contracts (pyproject.toml) pass, and two plain AST scans say the
same things in a form that needs no tool: the JAX model never imports streamlit, and JAX is
imported at module level only by the packages that run it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "glamsim"
JAX_STACK = {"jax", "flax", "optax", "orbax"}
# the packages that run JAX; everything else (cost model, studies, plots, schemas, api) reads records
JAX_ALLOWED = ("model", "parallel", "measure", "trainer.py", "cli")


def imported_roots(nodes) -> set[str]:
    """Top-level package names imported by these statements (absolute imports only)."""
    roots = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def module_level(tree: ast.Module):
    """The statements run on import: the module body, into if/try/with blocks, not into functions
    or classes."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody", "handlers"):
            todo.extend(getattr(node, field, []))


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"lint-imports failed:\n{result.stdout}\n{result.stderr}"


def test_model_and_parallel_never_import_streamlit():
    files = sorted((PACKAGE / "model").glob("*.py")) + sorted((PACKAGE / "parallel").glob("*.py"))
    assert files
    found = [str(f.relative_to(ROOT)) for f in files if "streamlit" in imported_roots(ast.walk(parse(f)))]
    assert found == []


def test_only_the_jax_packages_import_jax_at_module_level():
    offenders, scanned = [], 0
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in JAX_ALLOWED:
            continue
        scanned += 1
        found = imported_roots(module_level(parse(path))) & JAX_STACK
        if found:
            offenders.append(f"glamsim/{rel.as_posix()}: {', '.join(sorted(found))}")
    assert scanned > 10  # the scan saw the cost model, studies, schemas ...
    assert offenders == [], "import JAX inside the function that needs it, or move the code to a JAX package"


def test_ruff_lint_and_format_are_clean():
    """`ruff check` and `ruff format --check` (configured in pyproject.toml) pass over the tree."""
    ruff = Path(sys.executable).parent / "ruff"
    for args in (["check", "."], ["format", "--check", "."]):
        r = subprocess.run([str(ruff), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"ruff {' '.join(args)}:\n{r.stdout[-3000:]}{r.stderr[-1000:]}"

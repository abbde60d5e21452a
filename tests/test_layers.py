"""The layers hold: import-linter's contracts (pyproject.toml) pass, and plain AST scans say the
same things in a form that needs no tool: the JAX model never imports streamlit, JAX is imported
at module level only by the packages that run it, and the dashboard (app/, which import-linter
cannot check: it is no package) imports from glamsim only the front door and the shared layers."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "glamsim"
APP = ROOT / "app"
JAX_STACK = {"jax", "flax", "optax", "orbax"}
# the packages that run JAX; everything else (cost model, studies, plots, schemas, api) reads records
JAX_ALLOWED = ("model", "parallel", "measure", "trainer.py", "experiments", "cli")


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


def test_importing_the_front_door_loads_no_jax():
    """`glamsim.api.isoflop` trains with JAX, importing its runner inside the call (the one import the
    no-JAX contract ignores, pyproject.toml): importing the front door itself must still load no JAX."""
    roots = sorted(JAX_STACK)
    code = (
        f"import sys, glamsim.api; print(sorted(m for m in sys.modules if m.split('.')[0] in {roots})); "
        "print('glamsim.experiments' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["[]", "False"]


def test_ruff_lint_and_format_are_clean():
    """`ruff check` and `ruff format --check` (configured in pyproject.toml) pass over the tree."""
    ruff = Path(sys.executable).parent / "ruff"
    for args in (["check", "."], ["format", "--check", "."]):
        r = subprocess.run([str(ruff), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"ruff {' '.join(args)}:\n{r.stdout[-3000:]}{r.stderr[-1000:]}"


# ---- the dashboard's contract: app/ imports the front door and the shared layers only -------------

# Modules app/ may import from (a package: only what its __all__ exports; never a `_name`), and why.
APP_MODULES = {
    "glamsim": "the package's own exports (count, load_model, ModelConfig, ...)",
    "glamsim.api": "the Python front door",
    "glamsim.scenario": "every input once: the pages build their widgets from the scenario fields",
    "glamsim.outputs": "the output registry: labels, units, formats",
    "glamsim.plots": "the figures every face draws",
    "glamsim.profiles": "chip and datacenter profiles and their registry",
    "glamsim.config": "model presets, the strict readers, ConfigError",
    "glamsim.formatting": "numbers as people read them",
    "glamsim.plausible": "the unit-slip rules and words every face shows (the front door's, as plain Python)",
    "glamsim.records": "the measurement record (uploaded, or run on the Measure page)",
    # beyond the front door and the schemas named in issue 21, judged legitimate:
    "glamsim.uncertain": "an uncertain input (low, nominal, high) is a data schema, like a scenario field",
    "glamsim.accounting": "the analytic counts' exports (count, published_deltas, which glamsim re-exports)",
    "glamsim.cost": "the cost package's exports: the single-scenario estimate a what-if page shows, with its ledger",
    "glamsim.studies": "the study package's exports: the built-in studies, a spec, running it",
}
# Single names from elsewhere, and why.
APP_NAMES = {
    ("glamsim.measure.run", "measure"): "the Measure page runs the JAX model here, imported only when asked",
}
# Imported today from behind the front door: each should go (a front-door or package export
# instead); listed so that the list only shrinks.  (module, name); name "" = the module itself.
APP_TO_GO = {
    ("glamsim.cost.compare", "compare_models"): "Home: the MoE vs dense comparison table",
    ("glamsim.cost.measured", "measured_inputs"): "Training page: a measurement's MFU for the chosen chip",
    ("glamsim.cost.measured", "measured_routing"): "Serving page: a measurement's routing skew",
    ("glamsim.cost.measured", "device_matches"): "Measure page: whether the record's device is the chip",
    ("glamsim.cost.report", "plain_statement"): "Training and Serving pages: the statement for a paper",
    ("glamsim.cost.reproduce", "reproduce"): "Paper check page: the paper's comparison",
    ("glamsim.cost.resolve", ""): "ui.profile_defaults: replays the cost model's profile resolution rules",
    ("glamsim.cost.ledger", "Ledger"): "ui.profile_defaults: the ledger those rules write into",
    ("glamsim.studies.scenario", "DEFAULTS"): "Scaling explorer: the study columns' defaults",
    ("glamsim.studies.runner", "chart"): "ui_figures.study_figure: a study's own figure",
    ("glamsim.studies.spec", "FigureSpec"): "ui_figures.study_figure: the figure's spec",
}


def _glamsim(dotted: str) -> bool:
    return dotted.split(".")[0] == "glamsim"


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def app_imports() -> dict[tuple[str, str], list[str]]:
    """(module, name) -> where, for every glamsim import in app/ (name "" for a whole module; `from
    package import submodule` counts as the submodule), at any depth of the code."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(APP.rglob("*.py")):
        for node in ast.walk(parse(path)):
            pairs = []
            if isinstance(node, ast.Import):
                pairs = [(a.name, "") for a in node.names if _glamsim(a.name)]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and _glamsim(node.module or ""):
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    pairs.append((sub, "") if _is_module(sub) else (node.module, a.name))
            for pair in pairs:
                found.setdefault(pair, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _allowed(module: str, name: str) -> bool:
    if any(part.startswith("_") for part in [*module.split("."), name] if part):
        return False
    if (module, name) in APP_NAMES:
        return True
    if module not in APP_MODULES:
        return False
    exports = getattr(importlib.import_module(module), "__all__", None) if name else None
    return exports is None or name in exports


def test_app_imports_only_the_front_door_and_the_shared_layers():
    found = app_imports()
    assert len({w.split(":")[0] for where in found.values() for w in where}) >= 8  # ui, Home, the pages
    bad = [
        f"{w}: {m}{'.' + n if n else ''}"
        for (m, n), where in sorted(found.items())
        if (m, n) not in APP_TO_GO and not _allowed(m, n)
        for w in where
    ]
    assert bad == [], "app/ imports from behind glamsim's front door (see APP_MODULES in tests/test_layers.py)"


def test_the_list_of_app_imports_to_remove_only_shrinks():
    found = app_imports()
    stale = sorted(f"{m}{'.' + n if n else ''}" for m, n in APP_TO_GO if (m, n) not in found)
    assert stale == [], "no longer imported by app/: remove these from APP_TO_GO in tests/test_layers.py"

"""The package's shape, kept by tests (issue #15): features are siblings over a shared core, the
core and the shared Airflow glue import no feature, and no module or function outgrows a screen's
worth of reading.

Imports are read from the source (every ``import``/``from`` statement, the ones inside functions
too), so a lazy import that would break the rule at run time is caught as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.package import ROOT, area, module_name, modules

# Each feature's modules may import the core, the shared glue and their own package; never
# another feature. What two of them share moves down.
FEATURES = ("replication", "changes", "files", "extracts", "transform")
# Composition: the replication DAG factory (database and file tables in one DAG per source), the
# operators package (the Airflow face of the replication and files features) and the `tributary`
# command (cli: the configs, extracts, pools and lake, from a shell). They may
# import features; nothing below them imports them.
COMPOSITION = ("factory", "operators", "cli")

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
# Where the line limits apply: the code users run and read (tests and generated data aside).
CODE = ("plugins", "dags", "scripts", "bench")


def _imports(path: Path, name: str | None = None) -> set[str]:
    """The ``tributary`` modules ``path`` (module ``name``) imports, absolute names (relative
    imports resolved)."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            # `from tributary import files` imports the module tributary.files
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "tributary" or m.startswith("tributary.")}


MODULES = modules()
KNOWN_AREAS = {area(m) for m in MODULES}


def _imported_areas(path: Path) -> set[str]:
    return {area(m) for m in _imports(path)} & KNOWN_AREAS


def _violations(allowed: set[str] | None, forbidden: set[str], names: list[str]) -> list[str]:
    found = []
    for module in names:
        for other in sorted(_imported_areas(MODULES[module]) & forbidden):
            if allowed is None or other not in allowed:
                found.append(f"{module} imports tributary.{other}")
    return found


@pytest.mark.parametrize("feature", FEATURES)
def test_a_feature_imports_no_other_feature(feature: str) -> None:
    mine = [m for m in MODULES if area(m) == feature]
    assert mine, f"feature package tributary.{feature} is missing"
    others = set(FEATURES) - {feature}
    assert _violations(None, others | set(COMPOSITION), mine) == []


def test_the_core_and_the_glue_import_no_feature() -> None:
    below = [m for m in MODULES if area(m) not in (*FEATURES, *COMPOSITION) and m != "tributary"]
    assert _violations(None, set(FEATURES) | set(COMPOSITION), below) == []


def test_the_import_reader_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    # the checks above are only as good as this reader: an import inside a function counts
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import tributary.lake\ndef f():\n    from .transform import project\n    from .. import windows\n",
        encoding="utf-8",
    )
    found = _imports(probe, "tributary.files.probe")
    assert {"tributary.lake", "tributary.files.transform.project", "tributary.windows"} <= found
    assert area("tributary.files.probe") == "files"
    assert _violations(None, {"windows"}, ["tributary.files.extract"]) == []


def test_no_module_imports_another_modules_private_names() -> None:
    found = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tributary"):
                own = node.level == 1 and path.name == "__init__.py"  # a package's own modules
                private = [a.name for a in node.names if a.name.startswith("_") and a.name != "__version__"]
                if private and not own:
                    found.append(f"{module} imports {private} from {node.module}")
    assert found == [], "make these public (no leading underscore) or move them where they are used"


def _code_files() -> list[Path]:
    return sorted(p for top in CODE for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts)


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _code_files()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these modules by job (at most {MAX_MODULE_LINES} lines): {long}"


def test_no_function_is_over_60_lines() -> None:
    long = []
    for path in _code_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == [], f"split these into steps of at most {MAX_FUNCTION_LINES} lines: {long}"

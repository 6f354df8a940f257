"""The modules of the ``tributary`` package, read from its files: what the layout tests check."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "plugins" / "tributary"


def module_name(path: Path) -> str:
    """``plugins/tributary/files/read.py`` -> ``tributary.files.read`` (a package: its name)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def area(module: str) -> str:
    """The top-level piece of ``tributary`` a module belongs to (``files``, ``lake``, ...)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def modules() -> dict[str, Path]:
    """Every module of the package, by name, sorted."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}

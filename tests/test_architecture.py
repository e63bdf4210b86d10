"""The layering: the library never imports the applications, and ``import irsde`` is light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import irsde

PACKAGE = Path(irsde.__file__).resolve().parent
#: packages that are applications over the library (they may import anything), and
#: ``python -m irsde``, the command line's entry point
APPLICATIONS = ("cli", "web", "apps")
ENTRY_POINTS = ("__main__.py",)
#: what no library module may import
FORBIDDEN = (*(f"irsde.{app}" for app in APPLICATIONS), "benchmarks")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _library_modules() -> list[Path]:
    return [
        p
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.relative_to(PACKAGE).parts[0] not in (*APPLICATIONS, *ENTRY_POINTS)
    ]


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module of a ``from ... import`` (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports anywhere (top level, functions, ``from . import x``)."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, is_package)
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_the_walk_sees_relative_absolute_and_nested_imports(tmp_path):
    sub = PACKAGE / "data" / "datasets.py"
    assert "irsde.io.list_images" in imported_modules(sub)  # `from ..io import list_images`
    names = imported_modules(PACKAGE / "cli" / "bench.py")
    assert "irsde.apps.bench" in names  # inside a function, relative
    assert _forbidden("irsde.cli.degrade") and _forbidden("benchmarks.quality")
    assert not _forbidden("irsde.client") and not _forbidden("irsde.weights")


@pytest.mark.parametrize("path", _library_modules(), ids=lambda p: _module_name(p))
def test_library_never_imports_the_applications(path):
    bad = sorted(n for n in imported_modules(path) if _forbidden(n))
    assert not bad, f"{_module_name(path)} imports {', '.join(bad)}"


def test_core_import_loads_no_application_or_heavy_module():
    heavy = [*FORBIDDEN, "matplotlib", "scipy", "fastapi", "uvicorn", "skimage", "tensorboard"]
    code = (
        "import sys, irsde; from irsde import IRSDE; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} "
        f"or any(m == h or m.startswith(h + '.') for h in {heavy!r})))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]", res.stdout

"""The web process never loads the classifier; importing a module connects to nothing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CHECK = """
import sys
import web.app, web.views, models, models.services.tickets.commands, workers.main
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
print(",".join(heavy))
"""


def test_web_and_services_import_no_model_libraries() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_triage_package_import_is_light() -> None:
    code = "import sys, triage; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


PROJECT_PACKAGES = ("models", "web", "workers", "tests", "bench")


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports (absolute names; relative imports as written)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def test_triage_imports_no_project_package() -> None:
    """triage/ is pure ML: it may import itself and libraries, never models, web or workers
    (also not inside functions or under TYPE_CHECKING)."""
    files = sorted((Path(__file__).parents[2] / "triage").rglob("*.py"))
    assert files, "the triage package was not found"
    offending = {
        f"{path.name}: {name}"
        for path in files
        for name in _imported_modules(path)
        if name.startswith(".") or name.split(".")[0] in PROJECT_PACKAGES
    }
    assert not offending, sorted(offending)


def test_the_web_does_not_import_the_model_loading_parts_of_triage() -> None:
    code = (
        "import sys, web.app, web.views\n"
        "print(','.join(sorted(m for m in ('triage.embedder', 'triage.encoder', "
        "'triage.train', 'triage.predict') if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""

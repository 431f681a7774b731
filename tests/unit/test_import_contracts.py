"""The package boundaries (STYLE.md rule 14), checked by import-linter in the normal suite.

The contracts live in ``pyproject.toml`` under ``[tool.importlinter]``; ``make lint`` runs the
same ``lint-imports``. Each contract is checked on its own so a failure names it, and each is
shown to catch a violation on a small tree that breaks it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from models.settings import REPO_ROOT

PYPROJECT = REPO_ROOT / "pyproject.toml"
CONTRACTS = {
    c["id"]: c for c in tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
}
ARGS = ("--no-cache", "--no-logo", "--config", str(PYPROJECT))
LINT = "import sys; from importlinter.cli import lint_imports_command as m; sys.exit(m())"


def lint_imports(root: Path, contract: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` for one contract of our configuration, over the packages under root."""
    return subprocess.run(
        [sys.executable, "-c", LINT, *ARGS, "--contract", contract],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("contract", sorted(CONTRACTS))
def test_the_code_keeps_the_contract(contract: str) -> None:
    result = lint_imports(REPO_ROOT, contract)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{CONTRACTS[contract]['name']} KEPT" in result.stdout


# Every services package, as the layers contract names them.
SERVICES = [
    name.strip()
    for layer in CONTRACTS["services-layers"]["layers"]
    for name in layer.replace(":", "|").split("|")
]


def write(root: Path, module: str, source: str = "") -> None:
    """A package ``module`` (and its parents) under root, with ``source`` as its body."""
    parts = module.split(".")
    for depth in range(1, len(parts) + 1):
        folder = root.joinpath(*parts[:depth])
        folder.mkdir(exist_ok=True)
        init = folder / "__init__.py"
        if not init.exists():
            init.write_text("")
    if source:
        (root.joinpath(*parts) / "__init__.py").write_text(source)


# One small tree of the project's packages per contract, with one violation of it.
VIOLATIONS = {
    "triage-pure": {"triage.text": "import models.ticket\n", "models.ticket": ""},
    "models-below-web": {"models.services.notify": "import web.i18n\n", "web.i18n": ""},
    "web-not-worker": {"web.cli.triage": "import workers.context\n", "workers.context": ""},
    "services-layers": {"models.services.notify": "import models.services.knowledge\n"},
    "no-cycles": {
        "models.services.tickets.portal": "import models.services.tickets.attachments\n",
        "models.services.tickets.attachments": "import models.services.tickets.portal\n",
    },
}


def test_every_contract_is_shown_to_catch_a_violation() -> None:
    assert set(VIOLATIONS) == set(CONTRACTS)


@pytest.mark.parametrize("contract", sorted(VIOLATIONS))
def test_the_contract_catches_a_violation(contract: str, tmp_path: Path) -> None:
    for package in ("models", "web.cli", "workers", "triage", "bench"):
        write(tmp_path, package)
    for name in SERVICES:
        write(tmp_path, f"models.services.{name}")
    for module, source in VIOLATIONS[contract].items():
        write(tmp_path, module, source)
    result = lint_imports(tmp_path, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{CONTRACTS[contract]['name']} BROKEN" in result.stdout

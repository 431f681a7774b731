"""The web process never loads the classifier; importing a module connects to nothing."""

from __future__ import annotations

import subprocess
import sys

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

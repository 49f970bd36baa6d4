"""The README's promises stay true: CI runs its exact commands, and its reference tables are generated."""

from __future__ import annotations

import re

from scripts.update_readme import render
from tests.conftest import ROOT

START = " && .venv/bin/portrait-booth up"


def readme() -> str:
    return (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_install_then_test_command():
    install_and_start, test = re.findall(r"```bash\n(.*?)\n```", readme(), re.S)[:2]
    assert install_and_start.endswith(START)
    install = install_and_start.removesuffix(START)
    assert f"`{install}`" in readme()  # spelled out on its own as well
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install in script and test in script
    assert script.index(install) < script.index(test)


def test_reference_tables_are_generated_from_the_settings_objects():
    assert render(readme()) == readme(), "run: python scripts/update_readme.py"

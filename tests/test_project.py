"""The README's promises stay true: CI runs its exact commands, and its settings table is generated."""

from __future__ import annotations

import re

from style_server.config import settings_reference
from tests.conftest import ROOT


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [blocks[0].strip(), blocks[1].strip()]


def test_ci_runs_the_readme_install_then_test_command():
    install, test = readme_commands()
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install in script and test in script
    assert script.index(install) < script.index(test)


def test_settings_table_is_generated_from_the_settings_object():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- settings:begin -->\n")[1].split("\n<!-- settings:end -->")[0]
    assert table == settings_reference()

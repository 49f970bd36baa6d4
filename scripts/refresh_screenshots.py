"""Refresh the README's kiosk pictures (docs/screenshots/) on purpose.

The kiosk tests take the screenshots while a visitor and an operator use the kiosk (offscreen Qt, a demo
video as the camera, a real style server and inbox on 127.0.0.1); on their own they write them to a
temporary folder, so a test run never changes tracked files. This script runs those tests with
``PORTRAIT_SCREENSHOTS`` pointing at docs/screenshots:

    .venv/bin/python scripts/refresh_screenshots.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs" / "screenshots"
TESTS = (
    "test_whole_visitor_flow_ends_with_one_mail",  # 1-attract ... 7-result
    "test_lost_network_keeps_the_portrait_and_sends_it_once_later",  # 8-offline
    "test_missing_camera_is_explained_and_reconnects",  # 9-camera-missing
    "test_operator_panel_behind_pin_persists_settings",  # 10-operator
)


def main() -> int:
    SHOTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PORTRAIT_SCREENSHOTS": str(SHOTS), "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, "-m", "pytest", "-q", "tests/test_kiosk.py", "-k", " or ".join(TESTS)]
    result = subprocess.run(command, cwd=ROOT, env=env)
    if result.returncode == 0:
        names = ", ".join(sorted(p.name for p in SHOTS.glob("*.png")))
        print(f"screenshots refreshed in {SHOTS.relative_to(ROOT)}/: {names}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())

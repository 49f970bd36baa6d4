"""Refresh the README's kiosk pictures (docs/screenshots/) on purpose.

The kiosk tests take the screenshots while a visitor and an operator use the kiosk (a demo video as the
camera, a real style server and inbox on 127.0.0.1); on their own they write them to a temporary folder, so
a test run never changes tracked files. This script runs those tests with the screenshot folders pointing
at docs/screenshots:

* offscreen Qt (``tests/test_kiosk.py``): ``1-attract.png`` ... ``10-operator.png``; the operator panel's
  event frame (``tests/test_event_frame.py``): ``12-event-frame.png``;
* a real X window (``tests/test_kiosk_window.py``: Xvfb at 1280x800, xdotool taps, English and German):
  the German ones are kept, ``window/de-1-attract.png`` ... ``window/de-7-result.png`` (needs ``xvfb`` and
  ``xdotool``).

    .venv/bin/python scripts/refresh_screenshots.py            # both
    .venv/bin/python scripts/refresh_screenshots.py --offscreen-only
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs" / "screenshots"
WINDOW_SHOTS = SHOTS / "window"
TESTS = (
    "test_whole_visitor_flow_ends_with_one_mail",  # 1-attract ... 7-result
    "test_lost_network_keeps_the_portrait_and_sends_it_once_later",  # 8-offline
    "test_missing_camera_is_explained_and_reconnects",  # 9-camera-missing
    "test_operator_panel_behind_pin_persists_settings",  # 10-operator
)


def run(command: list[str], env: dict[str, str]) -> int:
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offscreen-only", action="store_true", help="skip the real-window (Xvfb) pictures")
    args = parser.parse_args(argv)
    SHOTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PORTRAIT_SCREENSHOTS": str(SHOTS), "QT_QPA_PLATFORM": "offscreen"}
    pytest = [sys.executable, "-m", "pytest", "-q"]
    code = run([*pytest, "tests/test_kiosk.py", "-k", " or ".join(TESTS)], env)
    if code == 0:
        code = run([*pytest, "tests/test_event_frame.py", "-k", "test_the_panel_sends_the_saved_frame"], env)
    if code == 0 and not args.offscreen_only:
        if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
            print("no Xvfb or xdotool: real-window pictures not refreshed (apt-get install -y xvfb xdotool)")
            return 1
        WINDOW_SHOTS.mkdir(parents=True, exist_ok=True)
        code = run([*pytest, "tests/test_kiosk_window.py"], {**env, "PORTRAIT_WINDOW_SCREENSHOTS": str(WINDOW_SHOTS)})
        for english in WINDOW_SHOTS.glob("en-*.png"):  # the README keeps the German ones (English: above)
            english.unlink()
    if code == 0:
        names = ", ".join(sorted(str(p.relative_to(SHOTS)) for p in SHOTS.rglob("*.png")))
        print(f"screenshots refreshed in {SHOTS.relative_to(ROOT)}/: {names}")
    return code


if __name__ == "__main__":
    sys.exit(main())

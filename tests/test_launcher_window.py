"""``portrait-booth up`` on a bare Linux: the kiosk's window needs system libraries (Qt's X11 plugin links
them); the launcher finds the missing ones with ``ldd`` on the real plugin and says exactly what to install."""

from __future__ import annotations

import ctypes
import shutil
from pathlib import Path

import pytest

from portrait_booth.launcher import SONAMES, install_advice, missing_window_libraries, xcb_plugin

pytestmark = pytest.mark.skipif(xcb_plugin() is None or shutil.which("ldd") is None, reason="needs Linux and ldd")


def plugin_missing(tmp_path: Path, renames: dict[bytes, bytes]) -> Path:
    """A copy of the real plugin, beside the real Qt libraries, that asks for libraries under other names (as
    on a machine that lacks them)."""
    real = xcb_plugin()
    qt = real.parent.parent.parent
    (tmp_path / "Qt" / "plugins" / "platforms").mkdir(parents=True)
    (tmp_path / "Qt" / "lib").symlink_to(qt / "lib")  # the plugin finds Qt through $ORIGIN/../../lib
    data = real.read_bytes()
    for old, new in renames.items():
        assert len(old) == len(new) and data.count(old + b"\0") >= 1, old
        data = data.replace(old + b"\0", new + b"\0")
    copy = tmp_path / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    copy.write_bytes(data)
    return copy


def test_missing_libraries_are_named_with_the_packages_to_install(tmp_path):
    plugin = plugin_missing(
        tmp_path, {b"libxcb-icccm.so.4": b"libxcb-icccm.so.9", b"libxcb-keysyms.so.1": b"libxcb-keysyms.so.7"}
    )
    missing = missing_window_libraries(plugin)
    # On a machine without the real libraries their real names are missing too.
    already_missing = set(missing_window_libraries(xcb_plugin()))
    assert set(missing) - already_missing == {"libxcb-icccm.so.9", "libxcb-keysyms.so.7"}
    advice = install_advice(missing)
    assert "sudo apt-get install -y libxcb-icccm4 libxcb-keysyms1" in advice
    assert "libxcb-icccm.so.9" in advice
    print(advice)


def test_the_real_plugin_is_checked_library_by_library():
    missing = set(missing_window_libraries())
    for soname in SONAMES.values():
        try:
            ctypes.CDLL(soname)
            loads = True
        except OSError:
            loads = False
        assert loads == (soname not in missing), soname
    print(f"the kiosk window's system libraries on this machine: {len(SONAMES) - len(missing)} of {len(SONAMES)} found")

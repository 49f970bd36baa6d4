"""Running the booth's services: the HTTP server, scale-out workers and mailers, the TLS fingerprint, and the
local mail catcher."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from ..config import Settings, get_settings


def add_commands(sub: argparse._SubParsersAction) -> None:
    srv = sub.add_parser("serve", help="run the HTTP job service (settings: PORTRAIT_* variables)")
    srv.add_argument("--host")
    srv.add_argument("--port", type=int)
    srv.add_argument(
        "--tls",
        action="store_const",
        const="auto",
        help="serve HTTPS with a self-signed certificate made on first start (same as PORTRAIT_TLS=auto)",
    )

    srv.add_argument("--backend", choices=["sqlite", "nats"], help="where jobs live (same as PORTRAIT_BACKEND)")
    _add_nats_url(srv)
    srv.set_defaults(run=cmd_serve)
    wrk = sub.add_parser("worker", help="paint jobs from a NATS cluster (one per GPU; scale-out)")
    _add_nats_url(wrk)
    wrk.add_argument("--lanes", default="fast,gatys", help="the lanes this worker paints: fast, gatys or both")
    wrk.add_argument("--device", help="cpu, cuda or cuda:N (default: PORTRAIT_DEVICE)")
    wrk.set_defaults(run=cmd_worker)
    mail = sub.add_parser("mailer", help="send the booth's mails from a NATS cluster (scale-out)")
    _add_nats_url(mail)
    mail.set_defaults(run=cmd_mailer)
    tls = sub.add_parser("tls-fingerprint", help="print the SHA-256 fingerprint of the server's TLS certificate")
    tls.set_defaults(run=cmd_tls_fingerprint)
    inbox = sub.add_parser("dev-inbox", help="catch the booth's mail locally (no SMTP account needed)")
    inbox.add_argument("--host", default="127.0.0.1")
    inbox.add_argument("--port", type=int, default=8025)
    inbox.add_argument("--dir", type=Path, default=Path("data/inbox"), help="where caught mails are kept")
    inbox.set_defaults(run=cmd_dev_inbox)


def _add_nats_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nats-url", help="NATS servers, comma-separated (same as PORTRAIT_NATS_URL)")


def _scale_settings(args, **updates) -> Settings | None:
    """The settings with the command line's overrides; None (and a message) if NATS would be reached unsafely."""
    nats_url = getattr(args, "nats_url", None)
    updates = {k: v for k, v in {**updates, "nats_url": nats_url}.items() if v is not None}
    settings = Settings.model_validate({**get_settings().model_dump(), **updates})
    if problems := settings.storage.nats_problems():
        print("error: " + "\n  - ".join(problems), file=sys.stderr)
        return None
    if settings.storage.backend == "nats" and (unreachable := _unreachable_nats(settings.storage.nats_servers)):
        print(f"error: {unreachable}", file=sys.stderr)
        return None
    return settings


def _unreachable_nats(urls: list[str], timeout: float = 5.0) -> str | None:
    """Why none of the NATS servers can be reached (a name not found, nothing listening), in one line without the
    credentials; None when one answers. A cluster mid-election answers here and is waited for later."""
    problems = []
    for url in urls:
        parsed = urlsplit(url if "://" in url else f"nats://{url}")
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 4222
        where = f"{parsed.scheme}://{host}:{port}"
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            return None
        except socket.gaierror:
            problems.append(f"{where} (the name {host} is not known)")
        except OSError as exc:
            problems.append(f"{where} ({exc.strerror or type(exc).__name__})")
    return f"cannot reach NATS at {', '.join(problems)}: check PORTRAIT_NATS_URL (or --nats-url)"


def _no_styles(settings: Settings) -> bool:
    """True (and one line for the operator) when the models folder offers nothing to paint: a server or worker
    that started anyway would accept jobs it can only fail. A broken card raises EngineError (one line too)."""
    from ..engine.catalogue import Catalogue

    if len(Catalogue.load(settings.engine.models_dir)) > 0:
        return False
    print(
        f"error: no style to paint: {settings.engine.models_dir} has no style cards (PORTRAIT_MODELS_DIR); leave it "
        "unset for the styles shipped with the server",
        file=sys.stderr,
    )
    return True


def cmd_serve(args) -> int:
    settings = _scale_settings(args, host=args.host, port=args.port, tls=args.tls, backend=args.backend)
    if settings is None or _no_styles(settings):
        return 2
    if problems := settings.exposure_problems():
        print(
            f"error: refusing to listen on {settings.server.host}, beyond this machine:\n  - "
            + "\n  - ".join(problems),
            file=sys.stderr,
        )
        return 2
    import uvicorn

    from ..service.app import create_app
    from ..service.data_lock import DataFolderInUse, hold_data_folder
    from ..service.deadlines import header_protocol
    from ..service.logs import setup_logging

    try:  # held until this process ends; a NATS API node keeps no jobs in its folder
        data_lock = hold_data_folder(settings.storage.data_dir) if settings.storage.backend == "sqlite" else None
    except DataFolderInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    setup_logging()
    ssl_options = {}
    if settings.security.tls_enabled:
        tls = _tls_files(settings)
        if tls is None:
            return 2
        ssl_options = {"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)}
        print(tls.announcement(), flush=True)
        logging.getLogger("style_server.tls").info(tls.announcement())
    # uvicorn stops gracefully on SIGTERM, then raises the signal again under the handler it found: with this one,
    # a service manager's stop ends with status 0 instead of "killed by SIGTERM".
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=settings.server.keep_alive_timeout,
        http=header_protocol(settings.server.header_timeout),  # slow clients: see service/deadlines.py
        **ssl_options,
    )
    if data_lock is not None:
        data_lock.close()
    return 0


def cmd_worker(args) -> int:
    from ..service.jobtypes import LANES
    from ..service.logs import setup_logging
    from ..service.workers import run_worker

    lanes = [lane.strip() for lane in args.lanes.split(",") if lane.strip()]
    if not lanes or any(lane not in LANES for lane in lanes):
        print(f"error: --lanes takes {' and/or '.join(LANES)}, comma-separated (got {args.lanes!r})", file=sys.stderr)
        return 2
    if _metrics_refused():
        return 2
    if _no_styles(get_settings()):  # before reaching NATS: nothing to paint is the first thing to fix
        return 2
    settings = _scale_settings(args, backend="nats")
    if settings is None:
        return 2
    setup_logging()
    asyncio.run(run_worker(settings, lanes, args.device))
    return 0


def cmd_mailer(args) -> int:
    from ..service.logs import setup_logging
    from ..service.workers import run_mailer

    if _metrics_refused():
        return 2
    settings = _scale_settings(args, backend="nats")
    if settings is None:
        return 2
    setup_logging()
    asyncio.run(run_mailer(settings))
    return 0


def _metrics_refused() -> bool:
    """True (and one line for the operator) when a worker's or mailer's metrics would listen beyond loopback."""
    from ..service.metrics_server import metrics_host_problem

    if problem := metrics_host_problem(get_settings()):
        print(f"error: {problem}", file=sys.stderr)
        return True
    return False


def _tls_files(settings):
    from ..service.tls import tls_files

    try:
        return tls_files(settings)
    except (OSError, ValueError) as exc:  # unreadable or missing certificate files, a PEM that is not one
        print(f"error: TLS certificate: {exc}", file=sys.stderr)
        return None


def cmd_tls_fingerprint(args) -> int:
    """For operators: the fingerprint to enter in each kiosk (the certificate is made now if it is missing)."""
    tls = _tls_files(get_settings())
    if tls is None:
        return 2
    print(tls.announcement())
    print(f"certificate: {tls.cert_file}{' (made now)' if tls.created else ''}", file=sys.stderr)
    return 0


def cmd_dev_inbox(args) -> int:
    import time

    from ..dev_inbox import start_inbox

    controller = start_inbox(args.dir, args.host, args.port)
    print(f"dev inbox listening on {args.host}:{args.port}; mails are kept in {args.dir}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()

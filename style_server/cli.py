"""``style-server``: stylise, compare, train and list styles from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import socket
import sys
from pathlib import Path
from types import UnionType
from typing import Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from shared.lanes import FAST
from shared.protocol import JobOptions, Method, describe

from .config import Settings, engine_from_settings, get_settings
from .engine.errors import EngineError, InvalidParameter, validated
from .engine.params import GatysParams, TrainParams


def _add_style_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style", help="style id from `style-server styles`, or a blend: starry-night:0.7,the-scream:0.3")
    p.add_argument(
        "--style-image",
        action="append",
        default=[],
        metavar="IMG[:WEIGHT]",
        help="use your own painting as the style (repeat to blend)",
    )
    p.add_argument("--size", type=int, default=None, help="longest side of the result in pixels")
    p.add_argument("--preserve-color", action="store_true", help="keep the portrait's own colours")
    p.add_argument("--face-protect", action="store_true", help="keep faces recognisable")
    p.add_argument("--device", default=None, help="auto, cpu or cuda (default from settings)")


# Fields the CLI gives in its own words (--size, --preserve-color, --face-protect), or leaves to the server.
GATYS_OWN_OPTIONS = frozenset({"size", "output_size", "preserve_color", "face_protect", "preview_every"})


def _add_model_options(parser, model: type[BaseModel], skip: frozenset[str] = frozenset()) -> None:
    """One option per field of ``model``: the flag from its name, the type from its annotation (choices from a
    Literal), the help from its description and default. Fields with no command-line form (tuples) are left out."""
    for name, field in model.model_fields.items():
        kind = _option_type(field.annotation)
        if name in skip or kind is None:
            continue
        default = "" if field.default is None else f" (default: {field.default})"
        option = {"dest": name, "default": None, "help": f"{field.description or ''}{default}".strip()}
        if kind is bool:
            option["action"] = argparse.BooleanOptionalAction
        elif isinstance(kind, tuple):  # a Literal's values
            option["choices"] = kind
        else:
            option.update(type=kind, metavar={int: "N", float: "X"}.get(kind, "TEXT"))
        parser.add_argument(f"--{name.replace('_', '-')}", **option)


def _option_type(annotation) -> type | tuple | None:
    """int, float, str or bool; a Literal's values; ``X | None`` as X; None for anything else."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    if get_origin(annotation) in (Union, UnionType):
        kinds = [a for a in get_args(annotation) if a is not type(None)]
        return _option_type(kinds[0]) if len(kinds) == 1 else None
    return annotation if annotation in (int, float, str, bool) else None


def _model_values(args: argparse.Namespace, model: type[BaseModel], skip: frozenset[str] = frozenset()) -> dict:
    """The options of ``_add_model_options`` the user gave, as field values (the rest keep the model's defaults)."""
    return {n: v for n in model.model_fields if n not in skip and (v := getattr(args, n, None)) is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="style-server", description="Portrait Booth style engine and server.")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("stylize", help="paint one portrait")
    s.add_argument("input", type=Path)
    s.add_argument("-o", "--output", type=Path, required=True)
    s.add_argument("--method", choices=get_args(Method), default=FAST.method, help="fast network or Gatys masterpiece")
    s.add_argument("--strength", type=float, default=1.0, help="fast method: 1 = full painting, 0 = photo")
    _add_style_args(s)
    _add_model_options(s.add_argument_group("gatys (masterpiece) options"), GatysParams, GATYS_OWN_OPTIONS)

    c = sub.add_parser("compare", help="run fast and gatys on the same portrait and write a report")
    c.add_argument("input", type=Path)
    c.add_argument("-o", "--output", type=Path, default=Path("comparison"), help="report folder")
    _add_style_args(c)
    _add_model_options(c.add_argument_group("gatys (masterpiece) options"), GatysParams, GATYS_OWN_OPTIONS)

    st = sub.add_parser(
        "study", help="every portrait x painting x size with arbitrary fast, Johnson fast and Gatys: table + sheets"
    )
    st.add_argument("--portraits", type=Path, required=True, help="folder of portrait photos (.jpg, .png, .webp)")
    st.add_argument("--styles", help="painting ids, comma-separated (default: every painting in the catalogue)")
    st.add_argument("--sizes", default="256,512", help="longest sides in pixels, comma-separated (default: 256,512)")
    st.add_argument("--methods", help="comma-separated subset of arbitrary, johnson, gatys (default: all three)")
    st.add_argument("-o", "--output", type=Path, default=Path("study"), help="report folder")
    st.add_argument("--append", action="store_true", help="add to the report already in the folder")
    st.add_argument("--tile", type=int, default=160, help="side of each picture on the contact sheets")
    st.add_argument(
        "--face-protect",
        action=argparse.BooleanOptionalAction,
        default=JobOptions.model_fields["face_protect"].default,
        help="keep faces recognisable, as the booth does (default: the booth's default)",
    )
    st.add_argument("--device", default=None, help="auto, cpu or cuda (default from settings)")
    gatys_group = st.add_argument_group("gatys (masterpiece) options; --iterations: the server's, unless given")
    _add_model_options(gatys_group, GatysParams, GATYS_OWN_OPTIONS)

    lst = sub.add_parser("styles", help="list the style catalogue")
    lst.add_argument("--json", action="store_true")

    t = sub.add_parser("train", help="train a fast style network from one painting")
    t.add_argument("--style", type=Path, required=True, help="the painting")
    t.add_argument("--content-dir", type=Path, required=True, help="folder of training photos")
    t.add_argument("--id", required=True, help="style id, e.g. starry-night-johnson")
    t.add_argument("--name", required=True)
    t.add_argument("--artist", required=True)
    t.add_argument("--licence", default="public domain")
    t.add_argument("--work-dir", type=Path, help="checkpoints and previews (default: ./training/<id>)")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--device", default=None)
    _add_model_options(t.add_argument_group("training options"), TrainParams)

    sub.add_parser("download-vgg", help="fetch torchvision's VGG19 weights (needs internet)")

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

    wrk = sub.add_parser("worker", help="paint jobs from a NATS cluster (one per GPU; scale-out)")
    _add_nats_url(wrk)
    wrk.add_argument("--lanes", default="fast,gatys", help="the lanes this worker paints: fast, gatys or both")
    wrk.add_argument("--device", help="cpu, cuda or cuda:N (default: PORTRAIT_DEVICE)")
    mail = sub.add_parser("mailer", help="send the booth's mails from a NATS cluster (scale-out)")
    _add_nats_url(mail)

    sub.add_parser("tls-fingerprint", help="print the SHA-256 fingerprint of the server's TLS certificate")

    inbox = sub.add_parser("dev-inbox", help="catch the booth's mail locally (no SMTP account needed)")
    inbox.add_argument("--host", default="127.0.0.1")
    inbox.add_argument("--port", type=int, default=8025)
    inbox.add_argument("--dir", type=Path, default=Path("data/inbox"), help="where caught mails are kept")
    return parser


def _add_nats_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nats-url", help="NATS servers, comma-separated (same as PORTRAIT_NATS_URL)")


def _scale_settings(args, **updates) -> Settings | None:
    """The settings with the command line's overrides; None (and a message) if NATS would be reached unsafely."""
    nats_url = getattr(args, "nats_url", None)
    updates = {k: v for k, v in {**updates, "nats_url": nats_url}.items() if v is not None}
    settings = Settings.model_validate({**get_settings().model_dump(), **updates})
    if problems := settings.nats_problems():
        print("error: " + "\n  - ".join(problems), file=sys.stderr)
        return None
    if settings.backend == "nats" and (unreachable := _unreachable_nats(settings.nats_servers)):
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return COMMANDS[args.command](args)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        print(f"error: settings (PORTRAIT_* variables or .env): {describe(exc, whole='settings')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _engine(args):
    return engine_from_settings(get_settings(), getattr(args, "device", None))


def _style_images(specs: list[str]):
    from .engine.imageio import load_image

    images = []
    for spec in specs:
        path, weight = spec, 1.0
        head, sep, tail = spec.rpartition(":")
        if sep and tail.replace(".", "", 1).isdigit():
            path, weight = head, float(tail)
        images.append((load_image(path, get_settings().max_input_pixels), weight))
    return images


def _gatys_params(args, size: int | None):
    from .engine.params import make_params

    values = _model_values(args, GatysParams, GATYS_OWN_OPTIONS)
    values.update(preserve_color=args.preserve_color, face_protect=args.face_protect)
    if size:
        values["size"] = size
    return make_params(**values)


def cmd_stylize(args) -> int:
    from .engine.fast import FastOptions
    from .engine.imageio import load_image, save_image_atomic
    from .engine.runtime import check_portrait_shape

    _check_output(args.output)
    engine = _engine(args)
    photo = load_image(args.input, get_settings().max_input_pixels)
    choice = engine.choose(args.style, _style_images(args.style_image))
    size = _output_size(args.size, photo)
    fast = args.method == FAST.method
    painted_side = size or (max(photo.size) if fast else min(max(photo.size), 512))
    check_portrait_shape(photo.width, photo.height, painted_side)  # the networks' limits, as on the server
    if fast:
        options = validated(
            FastOptions,
            size=size,
            strength=args.strength,
            preserve_color=args.preserve_color,
            face_protect=args.face_protect,
        )
        [result] = engine.fast.stylize([photo], [engine.fast_style(choice)], options)
    else:
        result = _run_gatys(engine, photo, choice, _gatys_params(args, size or min(max(photo.size), 512)))
    save_image_atomic(result, args.output)
    print(f"wrote {args.output} ({result.width}x{result.height}, {args.method})")
    return 0


def _output_size(requested: int | None, photo) -> int | None:
    limit = get_settings().max_output_side
    if requested is not None and not 64 <= requested <= limit:
        raise InvalidParameter(f"--size must be between 64 and {limit} pixels (got {requested})")
    if requested is None and max(photo.size) > limit:
        return limit
    return requested


def _check_output(path: Path) -> None:
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise InvalidParameter(f"output {path} must end in .png, .jpg or .webp")


def _run_gatys(engine, photo, choice, params):
    from tqdm import tqdm

    styles = choice.gatys_styles()
    with tqdm(total=sum(iterations for _, iterations in params.scales()), desc="painting", unit="it") as bar:

        def progress(p):
            bar.update(p.iteration - bar.n)
            bar.set_postfix(level=f"{p.level + 1}/{p.levels}", loss=f"{p.losses['total']:.4f}")

        result = engine.gatys().run(photo, styles, params, on_progress=progress)
    return result.image


def cmd_compare(args) -> int:
    from research.compare import compare

    from .engine.imageio import load_image

    engine = _engine(args)
    photo = load_image(args.input, get_settings().max_input_pixels)
    choice = engine.choose(args.style, _style_images(args.style_image))
    params = _gatys_params(args, args.size or 384)
    report = compare(engine, photo, choice, params, args.output)
    for method, m in report["methods"].items():
        print(
            f"{method:6s} {m['seconds']:8.2f}s  style loss {m['style_loss']:.4f}  content loss {m['content_loss']:.4f}"
        )
    print(f"report: {args.output / 'comparison.html'}")
    return 0


def cmd_study(args) -> int:
    from tqdm import tqdm

    from research.study import METHOD_NAMES, METHODS, REPORT_HTML, REPORT_MD, paintings, run_study

    from .engine.fast import FastOptions
    from .engine.imageio import load_image
    from .engine.params import make_params

    settings = get_settings()
    sizes = _int_list(args.sizes, "--sizes")
    if bad := [s for s in sizes if not 64 <= s <= settings.max_output_side]:
        raise InvalidParameter(f"--sizes must be between 64 and {settings.max_output_side} pixels (got {bad[0]})")
    if not 32 <= args.tile <= 1024:
        raise InvalidParameter(f"--tile must be between 32 and 1024 pixels (got {args.tile})")
    methods = tuple(dict.fromkeys(m.strip() for m in (args.methods or ",".join(METHODS)).split(",") if m.strip()))
    if not methods or not set(methods) <= set(METHODS):
        raise InvalidParameter(f"--methods: choose from {', '.join(METHODS)} (got {args.methods!r})")
    files = sorted(p for p in args.portraits.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    if not files:
        raise InvalidParameter(f"no portraits (.jpg, .png, .webp) in {args.portraits}")
    portraits = {p.stem: load_image(p, settings.max_input_pixels) for p in files}
    engine = _engine(args)
    cards = paintings(engine, [s.strip() for s in args.styles.split(",") if s.strip()] if args.styles else None)
    values = {"iterations": settings.gatys_iterations, **_model_values(args, GatysParams, GATYS_OWN_OPTIONS)}
    gatys = make_params(**values, face_protect=args.face_protect)
    fast = FastOptions(face_protect=args.face_protect)
    total = len(sizes) * len(portraits) * len(cards) * len(methods)
    with tqdm(total=total, desc="study", unit="painting") as bar:
        begun = 0

        def on_step(label, progress) -> None:
            nonlocal begun
            if progress is None:  # a new painting begins: the ones before it are done
                bar.update(begun - bar.n)
                begun += 1
                bar.set_postfix_str(label)
            else:
                bar.set_postfix_str(f"{label} {progress.iteration}/{progress.total_iterations}")

        report = run_study(
            engine, portraits, cards, sizes, gatys, fast, args.output, methods, args.append, on_step, args.tile
        )
        bar.update(total - bar.n)
    for s in report.summary:
        median = "not trained" if s.median_seconds is None else f"{s.median_seconds:8.3f}s"
        face = "-" if s.face_rate is None else f"{s.face_rate:.2f}"
        print(f"{METHOD_NAMES[s.method]:15s} {s.size:5d} px  {s.runs:3d} made  median {median}  face kept {face}")
    print(f"report: {args.output / REPORT_MD} and {args.output / REPORT_HTML}")
    return 0


def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidParameter(
            f"{option} takes whole numbers separated by commas, e.g. 256,512 (got {text!r})"
        ) from None
    if not values:
        raise InvalidParameter(f"{option} needs at least one number")
    return list(dict.fromkeys(values))


def cmd_styles(args) -> int:
    from .engine.catalogue import Catalogue

    catalogue = Catalogue.load(get_settings().models_dir)
    if args.json:
        print(json.dumps([{**c.model_dump(mode="json"), "methods": c.methods} for c in catalogue], indent=2))
        return 0
    for card in catalogue:
        print(f"{card.id:22s} {card.kind:10s} {'+'.join(card.methods):10s} {card.attribution}")
    return 0


def cmd_train(args) -> int:
    from tqdm import tqdm

    from .engine.imageio import load_image
    from .engine.training import export_style, train

    params = validated(TrainParams, **_model_values(args, TrainParams))
    engine = _engine(args)
    style = load_image(args.style)
    work_dir = args.work_dir or Path("training") / args.id
    vgg, _ = engine.vgg()
    with tqdm(total=params.iterations, desc=f"training {args.id}", unit="step") as bar:

        def on_step(step, losses):
            bar.update(step - bar.n)
            bar.set_postfix(style=f"{losses['style']:.4f}", content=f"{losses['content']:.4f}")

        report = train(style, args.content_dir, work_dir, params, vgg, engine.device, args.resume, on_step)
    sample = load_image(next(p for p in sorted(args.content_dir.rglob("*")) if p.is_file()))
    card = export_style(
        report,
        args.style,
        get_settings().models_dir,
        args.id,
        args.name,
        args.artist,
        args.licence,
        sample,
        str(engine.device),
    )
    print(f"trained {card.id}: {report.iterations} steps in {report.seconds:.0f}s -> {card.folder}")
    return 0


def cmd_download_vgg(args) -> int:
    from .engine.vgg import load_vgg

    s = get_settings()
    _, source = load_vgg(cache_dir=s.cache_dir, allow_download=True)
    print(f"loss network ready: {source.origin}")
    return 0


def _no_styles(settings: Settings) -> bool:
    """True (and one line for the operator) when the models folder offers nothing to paint: a server or worker
    that started anyway would accept jobs it can only fail. A broken card raises EngineError (one line too)."""
    from .engine.catalogue import Catalogue

    if len(Catalogue.load(settings.models_dir)) > 0:
        return False
    print(
        f"error: no style to paint: {settings.models_dir} has no style cards (PORTRAIT_MODELS_DIR); leave it unset "
        "for the styles shipped with the server",
        file=sys.stderr,
    )
    return True


def cmd_serve(args) -> int:
    settings = _scale_settings(args, host=args.host, port=args.port, tls=args.tls, backend=args.backend)
    if settings is None or _no_styles(settings):
        return 2
    if problems := settings.exposure_problems():
        print(
            f"error: refusing to listen on {settings.host}, beyond this machine:\n  - " + "\n  - ".join(problems),
            file=sys.stderr,
        )
        return 2
    import uvicorn

    from .service.app import create_app
    from .service.data_lock import DataFolderInUse, hold_data_folder
    from .service.deadlines import header_protocol
    from .service.logs import setup_logging

    try:  # held until this process ends; a NATS API node keeps no jobs in its folder
        data_lock = hold_data_folder(settings.data_dir) if settings.backend == "sqlite" else None
    except DataFolderInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    setup_logging()
    ssl_options = {}
    if settings.tls_enabled:
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
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=settings.keep_alive_timeout,
        http=header_protocol(settings.header_timeout),  # slow clients: see service/deadlines.py
        **ssl_options,
    )
    if data_lock is not None:
        data_lock.close()
    return 0


def cmd_worker(args) -> int:
    from .service.jobtypes import LANES
    from .service.logs import setup_logging
    from .service.workers import run_worker

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
    from .service.logs import setup_logging
    from .service.workers import run_mailer

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
    from .service.metrics_server import metrics_host_problem

    if problem := metrics_host_problem(get_settings()):
        print(f"error: {problem}", file=sys.stderr)
        return True
    return False


def _tls_files(settings):
    from .service.tls import tls_files

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

    from .dev_inbox import start_inbox

    controller = start_inbox(args.dir, args.host, args.port)
    print(f"dev inbox listening on {args.host}:{args.port}; mails are kept in {args.dir}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


COMMANDS = {
    "stylize": cmd_stylize,
    "compare": cmd_compare,
    "study": cmd_study,
    "styles": cmd_styles,
    "train": cmd_train,
    "download-vgg": cmd_download_vgg,
    "serve": cmd_serve,
    "worker": cmd_worker,
    "mailer": cmd_mailer,
    "tls-fingerprint": cmd_tls_fingerprint,
    "dev-inbox": cmd_dev_inbox,
}

if __name__ == "__main__":
    sys.exit(main())

"""``style-server``: paint, study, train and list styles from the command line, and run the booth's services.
One module per command group (``painting``, ``studies``, ``serving``), each adding its commands to the parser;
options that mirror a pydantic model are generated from its fields (``options``)."""

from __future__ import annotations

import argparse
import logging
import sys

from pydantic import ValidationError

from shared.protocol import describe

from ..config import Settings
from ..engine.errors import EngineError
from . import painting, serving, studies


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="style-server", description="Portrait Booth style engine and server.")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (painting, studies, serving):
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.run(args)
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

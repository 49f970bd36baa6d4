"""A local SMTP inbox (aiosmtpd) for booths without a mail account: it catches every mail and keeps it."""

from __future__ import annotations

import email
import email.policy
import time
from pathlib import Path

from aiosmtpd.controller import Controller

from .engine.imageio import write_atomic


class InboxHandler:
    def __init__(self, folder: Path, echo: bool = True) -> None:
        self.folder, self.echo = folder, echo
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**9:09d}.eml"
        # written whole, then renamed: whoever reads the folder (a test, an operator) never sees half a mail
        write_atomic(self.folder / name, lambda handle: handle.write(raw))
        if self.echo:
            message = email.message_from_bytes(raw, policy=email.policy.default)
            print(
                f"dev inbox: mail to {', '.join(envelope.rcpt_tos)}: {message['Subject']} -> {self.folder / name}",
                flush=True,
            )
        return "250 Message accepted for delivery"


def start_inbox(folder: Path, host: str = "127.0.0.1", port: int = 8025, echo: bool = True) -> Controller:
    controller = Controller(InboxHandler(folder, echo), hostname=host, port=port)
    controller.start()
    return controller


def read_inbox(folder: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(folder.glob("*.eml"))]

"""How the kiosk trusts its style server: https with a pinned certificate, plain http only on this machine.

Venue Wi-Fi is shared with strangers, so portraits and e-mail addresses leave the kiosk only over TLS to
exactly the server the operator confirmed: its certificate's SHA-256 fingerprint is pinned (typed into the
operator panel, or shown there on first contact with a "Trust this server" button). The confirmed
certificate is kept in the kiosk's data folder and becomes the only certificate the kiosk's TLS context
trusts, so a different certificate fails the handshake before a single byte of a request is sent.
Host names are not checked: venues hand out new IP addresses, the pin is what identifies the server.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from shared.net import is_loopback
from shared.tls import fingerprint, normalise_fingerprint, peer_certificate, pem_fingerprint

log = logging.getLogger(__name__)
PLAIN_HTTP_ADVICE = (
    "plain http:// is allowed only to this machine (127.0.0.1 or localhost): portraits and e-mail addresses "
    "would cross the venue network unencrypted. Start the server with `style-server serve --tls` and enter "
    "https://<host>:<port> here, then confirm its certificate fingerprint."
)


@dataclass(frozen=True)
class Trust:
    """The outcome for one server URL. ``verify`` is None when nothing may be sent (see ``problem``)."""

    verify: ssl.SSLContext | bool | None
    problem: str = ""
    offered: str = ""  # the fingerprint the server presented, for the operator to confirm (trust on first use)
    retry: bool = False  # the problem may go away by itself (server unreachable): try again later

    @property
    def ok(self) -> bool:
        return self.verify is not None


def url_problem(url: str) -> str:
    """Why the kiosk will not talk to this URL ("" when it may)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not a server URL; write it like https://192.168.1.20:8000"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return PLAIN_HTTP_ADVICE
    return ""


def pinned_context(pem: str) -> ssl.SSLContext:
    """A TLS client context whose only trusted certificate is ``pem`` (no system CAs, no host name check)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # the pin identifies the server; venues change IP addresses
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the pinned certificate itself is the anchor
    context.load_verify_locations(cadata=pem)
    return context


class TrustStore:
    """The pinned certificate on disk (``<data_dir>/tls/server.pem``) and how to reach a decision."""

    def __init__(self, data_dir: Path) -> None:
        self.pem_file = data_dir / "tls" / "server.pem"

    def stored(self, pinned: str) -> ssl.SSLContext | None:
        """The context for the stored certificate if it is the pinned one (no network needed)."""
        if not pinned or not self.pem_file.is_file():
            return None
        pem = self.pem_file.read_text()
        try:
            if pem_fingerprint(pem) != normalise_fingerprint(pinned):
                return None
        except ValueError:
            return None
        return pinned_context(pem)

    def decide_offline(self, url: str, pinned: str) -> Trust | None:
        """A decision that needs no network, or None when the server's certificate must be fetched."""
        problem = url_problem(url)
        if problem:
            return Trust(None, problem)
        if urlsplit(url).scheme == "http":
            return Trust(True)  # loopback: nothing crosses a network
        if pinned:
            try:
                normalise_fingerprint(pinned)
            except ValueError as exc:
                return Trust(None, f"the pinned fingerprint is not valid: {exc}")
        context = self.stored(pinned)
        return Trust(context) if context is not None else None

    def decide(self, url: str, pinned: str, timeout: float = 10.0) -> Trust:
        """Blocking (it may contact the server): call from a worker thread."""
        decided = self.decide_offline(url, pinned)
        if decided is not None:
            return decided
        parts = urlsplit(url)
        try:
            der = peer_certificate(parts.hostname, parts.port or 443, timeout=timeout)
        except (OSError, ssl.SSLError) as exc:
            return Trust(None, f"cannot reach the server to check its certificate ({exc}); trying again", retry=True)
        seen = fingerprint(der)
        if not pinned:
            return Trust(
                None,
                "This server is not trusted yet. Compare its certificate fingerprint with the one the server "
                f"printed at start (or `style-server tls-fingerprint`):\n{seen}\nIf they match, tap Trust this "
                "server. Until then portraits wait on this kiosk.",
                offered=seen,
            )
        if seen != normalise_fingerprint(pinned):
            log.warning("the server at %s presents certificate %s, not the pinned one: refusing to send", url, seen)
            return Trust(
                None,
                "REFUSING TO SEND: the server's certificate is not the pinned one."
                f"\npinned: {normalise_fingerprint(pinned)}\nserver: {seen}"
                "\nIf the server really got a new certificate, enter its new fingerprint.",
            )
        pem = ssl.DER_cert_to_PEM_cert(der)
        self.pem_file.parent.mkdir(parents=True, exist_ok=True)
        part = self.pem_file.with_suffix(".part")
        part.write_text(pem)
        part.replace(self.pem_file)
        return Trust(pinned_context(pem))

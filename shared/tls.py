"""Certificate fingerprints, the same on the server (which prints them) and the kiosk (which pins them).

Standard library only: the kiosk needs no crypto package to pin a certificate.
"""

from __future__ import annotations

import hashlib
import re
import ssl

_HEX = re.compile(r"[0-9A-F]{64}")


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as uppercase hex pairs joined by colons: ``AA:BB:...`` (95 characters)."""
    return normalise_fingerprint(hashlib.sha256(der).hexdigest())


def normalise_fingerprint(text: str) -> str:
    """Accept what an operator types or pastes (any case, with or without colons, spaces or a ``SHA256:``
    prefix) and return the canonical ``AA:BB:...`` form. Raises ValueError for anything else."""
    cleaned = text.strip().upper()
    for prefix in ("SHA-256", "SHA256"):
        if cleaned.startswith(prefix):
            cleaned = cleaned[len(prefix) :].lstrip(" :=")
            break
    digits = re.sub(r"[\s:]", "", cleaned)
    if not _HEX.fullmatch(digits):
        raise ValueError(
            "a certificate fingerprint is 64 hexadecimal digits (SHA-256), e.g. AB:CD:...; "
            "the server prints it at start and with `style-server tls-fingerprint`"
        )
    return ":".join(digits[i : i + 2] for i in range(0, 64, 2))


def peer_certificate(host: str, port: int, timeout: float = 10.0) -> bytes:
    """The certificate the server at host:port presents, as DER, without verifying it (for pinning)."""
    pem = ssl.get_server_certificate((host, port), timeout=timeout)
    return ssl.PEM_cert_to_DER_cert(pem)


def pem_fingerprint(pem: str) -> str:
    """Fingerprint of a PEM certificate (the first one in the text, e.g. of a chain file)."""
    match = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S)
    if match is None:
        raise ValueError("no PEM certificate found")
    return fingerprint(ssl.PEM_cert_to_DER_cert(match.group(0)))

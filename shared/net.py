"""Addresses: which hosts are this machine (the kiosk talks plain HTTP only to them; the server listens beyond
them only with strong keys and TLS; /metrics answers them without a token)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; anything else (names, 0.0.0.0, LAN addresses) is reachable by others."""
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

"""How the kiosk reaches the server, and how far it trusts it: nothing is sent before the trust is decided."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Signal

from .api import ServerApi, ServerUnavailable, UntrustedServer
from .config import KioskConfig
from .tasks import UiBridge
from .trust import Trust, TrustStore

log = logging.getLogger(__name__)


class ServerConnection(QObject):
    """Holds ``api`` (None while the server is not trusted) and ``trust``; given the kiosk's worker bridge and
    its trust store. It says how it stands (``news``: an i18n id, a fingerprint offered to trust on first use,
    the values of the text) and when the trust is decided (``decided``), trusted or not."""

    news = Signal(str, str, dict)
    decided = Signal()

    def __init__(self, bridge: UiBridge, trust_store: TrustStore) -> None:
        super().__init__()
        self.bridge, self.trust_store = bridge, trust_store
        self.api: ServerApi | None = None
        self.trust = Trust(None, "checking the server…", retry=True)
        self.checking = False
        self._config: KioskConfig | None = None

    def connect_to(self, config: KioskConfig) -> None:
        """(Re)decide how to reach the server of ``config``. Nothing is sent until this says the server is
        trusted: visitors' requests wait in the outbox meanwhile."""
        self.close()
        self._config = config
        decided = self.trust_store.decide_offline(config.server_url, config.server_fingerprint)
        if decided is not None:
            self._trusted(config, decided)
            return
        self.checking = True
        self._say("panel.checking")
        self.bridge.run(
            lambda: self.trust_store.decide(config.server_url, config.server_fingerprint),
            lambda trust: self._trusted(config, trust),
            lambda exc: self._trusted(config, Trust(None, f"cannot check the server: {exc}", retry=True)),
            what="checking the server's certificate",
        )

    def _trusted(self, config: KioskConfig, trust: Trust) -> None:
        self.checking = False
        if config is not self._config:  # the operator changed the connection meanwhile
            return
        self.trust = trust
        if trust.ok:
            self.api = ServerApi(
                config.server_url,
                config.api_key,
                verify=trust.verify,
                events_read_timeout=config.events_read_timeout_s,
            )
            if config.server_fingerprint:
                self._say("panel.server_pinned", url=config.server_url, fingerprint=config.server_fingerprint)
            else:
                self._say("panel.server", url=config.server_url)
        else:
            log.warning("not sending to %s: %s", config.server_url, trust.problem.splitlines()[0])
            self._say("panel.untrusted", trust.offered, problem=trust.problem)
        self.decided.emit()

    def server(self) -> ServerApi:
        """The server, if it may be talked to (worker threads)."""
        api = self.api
        if api is None:
            raise ServerUnavailable(self.trust.problem.splitlines()[0] if self.trust.problem else "not connected")
        return api

    def may_retry(self) -> bool:
        """Whether deciding again may help (the server could not be reached to check its certificate)."""
        return self.api is None and self.trust.retry and not self.checking

    def refused(self, exc: Exception) -> None:
        """A request failed: if the server's certificate was refused, the operator reads why."""
        if isinstance(exc, UntrustedServer) and self._config is not None:
            self._say("panel.refusing", url=self._config.server_url, why=exc)

    def close(self) -> None:
        if self.api is not None:
            self.api.close()
        self.api = None

    def _say(self, text_id: str, offered: str = "", **values: Any) -> None:
        self.news.emit(text_id, offered, values)

"""How the kiosk reaches the server, and how far it trusts it: nothing is sent before the trust is decided."""

from __future__ import annotations

import logging

from .api import ServerApi, ServerUnavailable, UntrustedServer
from .config import KioskConfig
from .trust import Trust

log = logging.getLogger(__name__)


class ServerConnection:
    """Mixed into ``BoothWindow``: holds ``api`` (None while the server is not trusted) and ``trust``."""

    api: ServerApi | None
    trust: Trust

    def _connect(self) -> None:
        """(Re)decide how to reach the server. Nothing is sent until this says the server is trusted:
        visitors' requests wait in the outbox meanwhile."""
        if self.api is not None:
            self.api.close()
        self.api = None
        config = self.config
        decided = self.trust_store.decide_offline(config.server_url, config.server_fingerprint)
        if decided is not None:
            self._trusted(config, decided)
            return
        self._checking_trust = True
        self.operator.show_connection("panel.checking")
        self.bridge.run(
            lambda: self.trust_store.decide(config.server_url, config.server_fingerprint),
            lambda trust: self._trusted(config, trust),
            lambda exc: self._trusted(config, Trust(None, f"cannot check the server: {exc}", retry=True)),
            what="checking the server's certificate",
        )

    def _trusted(self, config: KioskConfig, trust: Trust) -> None:
        self._checking_trust = False
        if config is not self.config:  # the operator changed the connection meanwhile
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
                self.operator.show_connection(
                    "panel.server_pinned",
                    url=config.server_url,
                    fingerprint=config.server_fingerprint,
                )
            else:
                self.operator.show_connection("panel.server", url=config.server_url)
        else:
            log.warning("not sending to %s: %s", config.server_url, trust.problem.splitlines()[0])
            self.operator.show_connection("panel.untrusted", trust.offered, problem=trust.problem)
        self._send_saved_frame()  # an event frame saved meanwhile (refused and kept back if not trusted)
        self.load_styles()
        self.flush_outbox()

    def _server(self) -> ServerApi:
        """The server, if it may be talked to (worker threads)."""
        api = self.api
        if api is None:
            raise ServerUnavailable(self.trust.problem.splitlines()[0] if self.trust.problem else "not connected")
        return api

    def _trust_offered(self, seen: str) -> None:
        """The operator compared the fingerprint and trusts this server (trust on first use)."""
        if seen:
            self.apply_config(self.config.model_copy(update={"server_fingerprint": seen}))

    def _untrusted(self, exc: Exception) -> None:
        if isinstance(exc, UntrustedServer):
            self.operator.show_connection("panel.refusing", url=self.config.server_url, why=exc)

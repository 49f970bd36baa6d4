"""Settings in groups, each read from its flat ``PORTRAIT_<NAME>`` variable (``style_server/config.py``)."""

from __future__ import annotations

import pytest

from style_server.config import Settings


def test_a_setting_is_read_by_its_flat_name_and_by_an_older_one_and_lands_in_its_group(monkeypatch):
    monkeypatch.setenv("PORTRAIT_FAST_SIZE", "640")
    monkeypatch.setenv("PORTRAIT_API_KEYS", '{"kiosk-1": "a-key"}')
    monkeypatch.setenv("PORTRAIT_NATS_MAX_DELIVERIES", "7")  # the name it had when only NATS counted deliveries
    settings = Settings()
    assert (settings.engine.fast_size, settings.security.api_keys) == (640, {"kiosk-1": "a-key"})
    assert settings.storage.max_deliveries == 7
    monkeypatch.setenv("PORTRAIT_MAX_DELIVERIES", "5")  # both names set: the name now wins
    assert Settings().storage.max_deliveries == 5
    assert Settings(max_deliveries=2).storage.max_deliveries == 2  # in code, over the environment
    assert Settings(nats_max_deliveries=4).storage.max_deliveries == 4
    with pytest.raises(ValueError, match="unknown setting 'fast_sise'"):
        Settings(fast_sise=640)

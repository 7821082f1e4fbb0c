"""The server-side limits every pooled PostgreSQL session carries, and their
environment variables."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.postgres.database import SessionLimits
from service.runtime.wiring import session_limits
from service.settings import Settings, SettingsError


def test_defaults_become_server_settings() -> None:
    """Timeouts in milliseconds, keepalive in seconds, all of them set by default."""
    assert SessionLimits().server_settings() == {
        "statement_timeout": "30000",
        "lock_timeout": "5000",
        "idle_in_transaction_session_timeout": "10000",
        "tcp_keepalives_idle": "5",
        "tcp_keepalives_interval": "2",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": "10000",
    }


def test_the_environment_overrides_and_zero_leaves_the_servers_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """KAIROS_PG_* in seconds; 0 drops the setting (the server's own applies)."""
    monkeypatch.setenv("KAIROS_PG_LOCK_TIMEOUT", "1.5")
    monkeypatch.setenv("KAIROS_PG_STATEMENT_TIMEOUT", "0")
    monkeypatch.setenv("KAIROS_PG_KEEPALIVE_COUNT", "0")
    limits = session_limits(Settings.load())
    assert limits.lock_timeout == timedelta(seconds=1.5)
    settings = limits.server_settings()
    assert settings["lock_timeout"] == "1500"
    assert "statement_timeout" not in settings
    assert "tcp_keepalives_count" not in settings
    assert settings["idle_in_transaction_session_timeout"] == "10000"


@pytest.mark.parametrize(
    ("name", "value"),
    [("KAIROS_PG_LOCK_TIMEOUT", "-1"), ("KAIROS_PG_IDLE_IN_TRANSACTION_TIMEOUT", "soon")],
)
def test_a_negative_or_bad_value_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """A typo stops the start rather than running without limits."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        Settings.load()

"""What the service takes from its surroundings besides storage: the clock it reads and
sleeps on, the change feed that wakes its loops, and the holiday sources of calendars."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Literal, Protocol

from domain.calendar import HolidaySource


class Clock(Protocol):
    """The only source of "now" for the service, and of its waits: the loops sleep on
    it, so a test steps them with a fake clock instead of waiting for real time."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` of this clock's time have passed (at once for 0 or
        less). Cancellable."""
        ...


# What changed, as a change feed reports it: schedules (a fire may be due sooner),
# the outbox (events to relay), or "all" after the feed (re)connected, since what
# changed while it was away was not reported.
Change = Literal["schedules", "outbox", "all"]


class ChangeFeed(Protocol):
    """Wake-ups for the scheduler's loops when committed data changes (PostgreSQL:
    LISTEN/NOTIFY). A feed only shortens waits: the loops poll while it is not
    listening, so nothing is lost with it, only later."""

    @property
    def listening(self) -> bool:
        """Whether changes are reported now (connected and listening)."""
        ...

    async def follow(self, on_change: Callable[[Change], None]) -> None:
        """Call ``on_change`` for each change and with ``"all"`` after every (re)connection,
        until cancelled. A lost connection is opened again with backoff; an outage never
        raises here (it is logged once, and ``listening`` is False meanwhile)."""
        ...


class HolidayProvider(Protocol):
    def holidays(self, source: HolidaySource, year: int) -> Mapping[date, str]:
        """Holidays of ``source`` in ``year`` (date -> name).

        Raises ``InvalidCalendar`` when the source is unknown or malformed (a country or
        subdivision the provider does not know, an unparsable iCalendar document).
        """
        ...

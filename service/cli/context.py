"""What the operator commands share: the resources they know, their context (the API
client, the output format, the clock) and text helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.cli import output
from service.cli.client import ApiClient

KINDS = {"schedule": "/schedules", "job": "/jobs", "calendar": "/calendars", "worker": "/workers"}
RESOURCES = {
    "schedules": "schedule",
    "schedule": "schedule",
    "jobs": "job",
    "job": "job",
    "calendars": "calendar",
    "calendar": "calendar",
    "workers": "worker",
    "worker": "worker",
    "runs": "run",
    "run": "run",
    "replicas": "replica",
    "replica": "replica",
}
DEFAULT_RUNS = 50
RECENT_RUNS = 5
NEXT_FIRES = 5
Out = Callable[[str], None]


@dataclass
class Context:
    client: ApiClient
    out: Out
    fmt: str
    now: datetime
    colour: bool

    def emit(self, doc: Any, text: Callable[[], str]) -> None:
        """The API's document (json, yaml) or the text for a person (table)."""
        self.out(output.document(doc, self.fmt) if self.fmt != "table" else text())


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.splitlines())

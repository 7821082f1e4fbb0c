"""The field types and renderers the API's models share: instants, ids, durations,
the bounded integers of ``domain.bounds``, choices taken from the domain's enums, the
trigger's schema, and the answers' examples (real answers, ``examples.json``)."""

from __future__ import annotations

import enum
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr
from pydantic.json_schema import WithJsonSchema

from domain import bounds
from domain.job import Priority
from domain.schedule import MisfirePolicy, OverlapPolicy

# Real answers, rendered by the routes (tests check each still validates against its model).
EXAMPLES: dict[str, Any] = json.loads(
    Path(__file__).parent.with_name("examples.json").read_text(encoding="utf-8")
)


def _example(name: str) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLES[name]]})


Instant = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


Id = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]


Duration = Annotated[
    StrictStr | StrictInt | StrictFloat,
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "number"}],
            "description": "ISO 8601 (PT5M), a short form (30s, 5m, 2h) or seconds",
            "examples": ["PT5M", "30s", 300],
        }
    ),
]


# Integer fields' documented ranges: the ones ``domain.bounds`` enforces.
Attempts = Annotated[StrictInt, Field(ge=1, le=bounds.MAX_ATTEMPTS)]


Concurrency = Annotated[StrictInt, Field(ge=1, le=bounds.MAX_CONCURRENCY)]


Fires = Annotated[StrictInt, Field(ge=1, le=bounds.MAX_FIRES)]


Catchup = Annotated[StrictInt, Field(ge=0, le=bounds.MAX_CATCHUP)]


Buffered = Annotated[StrictInt, Field(ge=1, le=bounds.MAX_BUFFERED)]


Capacity = Annotated[StrictInt, Field(ge=1, le=bounds.MAX_CAPACITY)]


BackfillRuns = Annotated[StrictInt, Field(ge=1, le=bounds.MAX_BACKFILL_RUNS)]


Name = Annotated[StrictStr, Field(min_length=1, max_length=bounds.MAX_NAME)]


TOKEN_EXAMPLE = "3f2a9c1e8b7d4e6fa0b1c2d3e4f5a6b7"


LeaseToken = Annotated[StrictStr, Field(min_length=1, max_length=64)]


Json = dict[str, Any]


# A priority by its lower-case name, as the API shows it.
PRIORITIES = tuple(p.name.lower() for p in Priority)


def choices(*values: str) -> WithJsonSchema:
    """A string field whose values the domain checks, listed in the schema."""
    return WithJsonSchema({"type": "string", "enum": list(values)})


def choices_of(
    enum_type: type[enum.StrEnum], without: enum.StrEnum | None = None
) -> WithJsonSchema:
    """The values of a domain enum as a string field's choices."""
    return choices(*(member.value for member in enum_type if member is not without))


PriorityName = Annotated[str, choices(*PRIORITIES)]


Overlap = Annotated[StrictStr, choices_of(OverlapPolicy)]


Misfire = Annotated[StrictStr, choices_of(MisfirePolicy)]


TRIGGER_SCHEMA: Json = {
    "description": "When the schedule fires; ``type`` selects the shape.",
    "oneOf": [
        {
            "title": "CRON",
            "type": "object",
            "properties": {
                "type": {"const": "CRON"},
                "expression": {
                    "type": "string",
                    "description": "5 fields, or 6 with seconds first; L, W, # supported",
                    "examples": ["30 2 * * 1-5", "*/15 * * * * *"],
                },
            },
            "required": ["type", "expression"],
            "additionalProperties": False,
        },
        {
            "title": "RRULE",
            "type": "object",
            "properties": {
                "type": {"const": "RRULE"},
                "rrule": {
                    "type": "string",
                    "description": "an RRULE, with a DTSTART line unless the schedule gives "
                    "start_at",
                    "examples": ["DTSTART:20260105T090000\nRRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1"],
                },
            },
            "required": ["type", "rrule"],
            "additionalProperties": False,
        },
        {
            "title": "FIXED_DELAY",
            "type": "object",
            "properties": {
                "type": {"const": "FIXED_DELAY"},
                "every": {"anyOf": [{"type": "string"}, {"type": "number"}]},
                "mode": {"type": "string", "enum": ["rate", "delay"]},
            },
            "required": ["type", "every"],
            "additionalProperties": False,
        },
        {
            "title": "ONE_SHOT",
            "type": "object",
            "properties": {
                "type": {"const": "ONE_SHOT"},
                "at": {"type": "string", "examples": ["2026-12-24T18:00:00+01:00"]},
            },
            "required": ["type", "at"],
            "additionalProperties": False,
        },
        {
            "title": "EVENT",
            "type": "object",
            "properties": {
                "type": {"const": "EVENT"},
                "subject": {"type": "string", "examples": ["orders.created"]},
                "debounce": {"anyOf": [{"type": "string"}, {"type": "number"}]},
            },
            "required": ["type", "subject"],
            "additionalProperties": False,
        },
    ],
}


Trigger = Annotated[dict[str, Any], WithJsonSchema(TRIGGER_SCHEMA)]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)

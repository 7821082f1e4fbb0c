"""What every request parser shares: refusing unknown fields, requiring a create's
fields, and the checked readers of names, integers, durations, choices and ids (the
limits of ``domain.bounds``)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import TypeVar

from domain import bounds
from domain.changes import Keep
from domain.durations import parse_duration
from domain.errors import InvalidRequest, InvalidSchedule
from domain.job import Priority

Doc = Mapping[str, object]
E = TypeVar("E", bound=enum.Enum)

SYSTEM_PREFIX = "system."  # names of Kairos' own jobs and schedules


def require(doc: Doc, *names: str) -> None:
    """A create needs these fields (a PATCH does not)."""
    for name in names:
        if name not in doc:
            raise InvalidRequest(f"{name} is required", field=name)


def refuse_unknown(doc: object, allowed: frozenset[str], where: str = "") -> Doc:
    """``doc`` as an object of known fields."""
    if not isinstance(doc, Mapping):
        raise InvalidRequest("expected an object", field=where or "body")
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown field {where}{unknown[0]!r}", field=where + unknown[0])
    return doc


def integer(value: object, field: str, *, minimum: int, maximum: int) -> int:
    return bounds.integer(value, field, minimum=minimum, maximum=maximum)


def name(value: object, field: str = "name") -> str:
    found = bounds.text(value, field, maximum=bounds.MAX_NAME)
    if found.startswith(SYSTEM_PREFIX):
        raise InvalidRequest(f"names starting with {SYSTEM_PREFIX!r} are reserved", field="name")
    return found


def duration(value: object, field: str, maximum: timedelta = bounds.MAX_DURATION) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidRequest(f"{field} must be a duration like 'PT5M', '30s' or 300", field=field)
    return bounds.duration(parse_duration(str(value), field=field), field, maximum=maximum)


def setting(value: object, field: str, maximum: timedelta = bounds.MAX_DURATION) -> timedelta:
    """A duration that is not a schedule's timing (a job's timeout or backoff, a worker's
    lease): a bad one is ``INVALID_REQUEST``, as any other bad field of a job is."""
    try:
        return duration(value, field, maximum)
    except InvalidSchedule as exc:
        raise InvalidRequest(exc.message, field=exc.field, reason=exc.reason) from None


def choice(enum_type: type[E], value: object, field: str) -> E:
    """A member of ``enum_type`` by its value."""
    for member in enum_type:
        if member.value == value:
            return member
    names = [m.value for m in enum_type]
    raise InvalidRequest(f"{field} must be one of {names}", field=field) from None


def priority(value: object, field: str = "priority") -> Priority:
    """A priority by its lower-case name (``low`` .. ``critical``)."""
    try:
        return Priority[str(value).upper()]
    except KeyError:
        names = [m.name.lower() for m in Priority]
        raise InvalidRequest(f"{field} must be one of {names}", field=field) from None


def object_of(value: object, field: str) -> dict[str, object]:
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"{field} must be an object", field=field)
    bounds.document(value, field)
    return {str(k): v for k, v in value.items()}


MAX_LABELS = 32
MAX_LABEL_KEY = 100
MAX_LABEL_VALUE = 200


def labels(value: object, field: str = "labels") -> dict[str, str]:
    """A label map: at most 32 entries, text keys (1 to 100 characters) and text
    values (at most 200)."""
    if not isinstance(value, Mapping) or len(value) > MAX_LABELS:
        raise InvalidRequest(
            f"{field} must be an object of at most {MAX_LABELS} text values", field=field
        )
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_LABEL_KEY:
            raise InvalidRequest(f"{field}: keys are 1 to {MAX_LABEL_KEY} characters", field=field)
        if not isinstance(item, str) or len(item) > MAX_LABEL_VALUE:
            raise InvalidRequest(
                f"{field}.{key} must be text of at most {MAX_LABEL_VALUE} characters",
                field=f"{field}.{key}",
            )
        out[key] = item
    return out


def uuid_of(value: object, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidRequest(f"{field} must be a UUID", field=field) from None


T = TypeVar("T")


def given(value: T | Keep, default: T) -> T:
    return default if isinstance(value, Keep) else value


def required(value: T | Keep, field: str) -> T:
    """A field a create needs (a PATCH does not)."""
    if isinstance(value, Keep):
        raise InvalidRequest(f"{field} is required", field=field)
    return value

"""Target configurations (docs/semantics.md, *Targets*), checked when a job is written
so a bad one is refused with its field named, never discovered at 3 a.m. by the first
delivery.

``HttpTarget`` is the typed form of an ``HTTP`` target's config; the HTTP adapter builds
its requests from it. Bodies are templates: a string leaf may use ``${run_id}``,
``${schedule_id}``, ``${job_id}``, ``${tenant_id}``, ``${nominal_at}``, ``${attempt}``;
a leaf that is exactly ``${payload}`` becomes the run's payload object. Without a body,
the run's context document is sent (``default_body``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from string import Template
from typing import Any
from urllib.parse import urlsplit

from domain.durations import parse_duration
from domain.errors import InvalidRequest
from domain.triggers import EventTrigger

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
# Set by Kairos (signature, framing) or by the connection: a target may not override them.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)
TEMPLATE_VARIABLES = frozenset(
    {"run_id", "schedule_id", "job_id", "tenant_id", "nominal_at", "attempt", "payload"}
)
DEFAULT_HTTP_TIMEOUT = timedelta(seconds=30)
MAX_HTTP_TIMEOUT = timedelta(minutes=15)
MAX_URL = 2048
MAX_HEADERS = 50
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
_QUEUE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_WORKER_TYPE = re.compile(r"[a-z0-9][a-z0-9._-]{0,199}")


def check_config(kind: str, config: Mapping[str, Any]) -> None:
    """Refuse a config its kind cannot deliver (``InvalidRequest`` naming the field)."""
    if kind == "HTTP":
        HttpTarget.parse(config)
    elif kind == "QUEUE":
        queue_name(config)
    elif kind == "EVENT":
        event_subject(config)
    elif kind == "WORKER":
        _only(config, {"type"})
        worker_type(config.get("type"))


def event_subject(config: Mapping[str, Any]) -> str:
    """An EVENT target's subject (in the tenant's namespace): event-trigger token rules,
    no wildcards."""
    _only(config, {"subject"})
    subject = config.get("subject")
    field = "target.config.subject"
    if not isinstance(subject, str) or "*" in subject or ">" in subject:
        raise InvalidRequest(
            "EVENT target needs a subject without wildcards, e.g. 'reports.generate'",
            field=field,
        )
    try:
        EventTrigger(subject=subject)  # the same token rules as event triggers
    except ValueError as exc:
        raise InvalidRequest(str(exc), field=field) from None
    return subject


def worker_type(value: object, field: str = "target.config.type") -> str:
    """A WORKER job's type: lower case, so it never collides with a target kind."""
    if not isinstance(value, str) or not _WORKER_TYPE.fullmatch(value):
        raise InvalidRequest(
            f"{field} must be a job type like 'reports.generate' (lower-case letters, "
            "digits, '.', '_', '-'; at most 200 characters)",
            field=field,
        )
    return value


def queue_name(config: Mapping[str, Any]) -> str:
    _only(config, {"queue"})
    value = config.get("queue")
    if not isinstance(value, str) or not _QUEUE.fullmatch(value):
        raise InvalidRequest(
            "target.config.queue must be 1-64 letters, digits, '_' or '-'",
            field="target.config.queue",
        )
    return value


def _only(config: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(config) - allowed)
    if unknown:
        field = f"target.config.{unknown[0]}"
        raise InvalidRequest(f"unknown field {field!r}", field=field)


@dataclass(frozen=True, slots=True)
class HttpTarget:
    url: str
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = None  # None: the run's context document
    expected_status: frozenset[int] | None = None  # None: any 2xx
    timeout: timedelta = DEFAULT_HTTP_TIMEOUT

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> HttpTarget:
        _only(config, {"url", "method", "headers", "body", "expected_status", "timeout"})
        return cls(
            url=_url(config.get("url")),
            method=_method(config.get("method", "POST")),
            headers=_headers(config.get("headers", {})),
            body=_body(config.get("body")),
            expected_status=_statuses(config.get("expected_status")),
            timeout=_timeout(config.get("timeout")),
        )

    def accepts(self, status: int) -> bool:
        if self.expected_status is None:
            return 200 <= status < 300
        return status in self.expected_status

    def render_body(self, context: Mapping[str, Any]) -> Any:
        """The body document for one attempt (``context``: the run's variables)."""
        if self.body is None:
            return default_body(context)
        return _render(self.body, context)


def default_body(context: Mapping[str, Any]) -> dict[str, Any]:
    return {key: context[key] for key in sorted(TEMPLATE_VARIABLES) if key in context}


def _render(node: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        if node == "${payload}":
            return context.get("payload", {})
        return Template(node).safe_substitute({k: str(v) for k, v in context.items()})
    if isinstance(node, list):
        return [_render(item, context) for item in node]
    if isinstance(node, dict):
        return {key: _render(value, context) for key, value in node.items()}
    return node


def _url(value: Any) -> str:
    field = "target.config.url"
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        raise InvalidRequest(f"{field} must be an http(s) URL of at most {MAX_URL}", field=field)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        raise InvalidRequest(f"{field} is not a valid URL: {exc}", field=field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"{field} must be an http or https URL with a host", field=field)
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest(
            f"{field} must not carry credentials; use target.config.headers", field=field
        )
    if parts.fragment:
        raise InvalidRequest(f"{field} must not have a fragment", field=field)
    return value


def _method(value: Any) -> str:
    method = str(value).upper()
    if method not in METHODS:
        raise InvalidRequest(
            f"target.config.method must be one of {sorted(METHODS)}", field="target.config.method"
        )
    return method


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    field = "target.config.headers"
    if not isinstance(value, Mapping) or len(value) > MAX_HEADERS:
        raise InvalidRequest(f"{field} must be an object of at most {MAX_HEADERS}", field=field)
    out = []
    for name, text in value.items():
        where = f"{field}.{name}"
        if not _HEADER_NAME.fullmatch(str(name)):
            raise InvalidRequest(f"{where}: not a valid header name", field=where)
        if name.lower() in RESERVED_HEADERS:
            raise InvalidRequest(f"{where}: set by Kairos, cannot be configured", field=where)
        if not isinstance(text, str) or "\r" in text or "\n" in text or len(text) > 4096:
            raise InvalidRequest(f"{where}: must be one line of text", field=where)
        out.append((str(name), text))
    return tuple(out)


def _body(value: Any) -> Any:
    for text in _strings(value):
        template = Template(text)
        if not template.is_valid():
            raise InvalidRequest(
                f"target.config.body: invalid template {text!r} (write $$ for a $)",
                field="target.config.body",
            )
        unknown = sorted(set(template.get_identifiers()) - TEMPLATE_VARIABLES)
        if unknown:
            raise InvalidRequest(
                f"target.config.body: unknown variable ${{{unknown[0]}}}; known: "
                f"{sorted(TEMPLATE_VARIABLES)}",
                field="target.config.body",
            )
    return value


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    if isinstance(node, dict):
        return [s for item in node.values() for s in _strings(item)]
    return []


def _statuses(value: Any) -> frozenset[int] | None:
    field = "target.config.expected_status"
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise InvalidRequest(f"{field} must be a non-empty list of status codes", field=field)
    for code in value:
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise InvalidRequest(f"{field}: {code!r} is not an HTTP status code", field=field)
        if 300 <= code < 400:
            raise InvalidRequest(f"{field}: redirects are not followed ({code})", field=field)
    return frozenset(value)


def _timeout(value: Any) -> timedelta:
    field = "target.config.timeout"
    if value is None:
        return DEFAULT_HTTP_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidRequest(f"{field} must be a duration like '10s'", field=field)
    timeout = parse_duration(str(value), field=field)
    if not timedelta(0) < timeout <= MAX_HTTP_TIMEOUT:
        raise InvalidRequest(f"{field} must be positive and at most 15 minutes", field=field)
    return timeout

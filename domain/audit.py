"""An audit entry: one mutating API call, by whom, on what, with the resource as it was
before and after (signing secrets never included)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.ids import TenantId

REDACTED_KEYS = frozenset({"secret"})


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    tenant_id: TenantId
    id: uuid.UUID
    at: datetime
    actor: str
    method: str
    path: str
    status: int
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


def redact(document: Any) -> Any:
    """The document without secret values, at any depth."""
    if isinstance(document, Mapping):
        return {k: "[redacted]" if k in REDACTED_KEYS else redact(v) for k, v in document.items()}
    if isinstance(document, list):
        return [redact(item) for item in document]
    return document

"""Who is calling (docs/semantics.md, *Tenancy and access*): a tenant and its scopes,
from a verified token only.

Scopes nest: ``scheduler:admin`` may do what ``scheduler:operate`` may, which may do
what ``scheduler:read`` may. Anything not granted is denied.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from domain.ids import TenantId


class Scope(enum.StrEnum):
    READ = "scheduler:read"
    OPERATE = "scheduler:operate"
    ADMIN = "scheduler:admin"


_RANK = {Scope.READ: 1, Scope.OPERATE: 2, Scope.ADMIN: 3}


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: TenantId
    scopes: frozenset[Scope]
    subject: str = ""

    def allows(self, needed: Scope) -> bool:
        return any(_RANK[held] >= _RANK[needed] for held in self.scopes)


def parse_scopes(value: object) -> frozenset[Scope]:
    """Scopes from a claim: a space-separated string (RFC 8693 ``scope``) or a list.
    Unknown scopes are ignored (a token may carry other services' scopes)."""
    items = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    known = {s.value: s for s in Scope}
    return frozenset(known[i] for i in items if isinstance(i, str) and i in known)

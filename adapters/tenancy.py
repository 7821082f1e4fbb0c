"""The storage adapters' guard on tenancy: a unit of work of one tenant writes only that
tenant's objects (row-level security would refuse the row; this names the mistake)."""

from __future__ import annotations

from domain.ids import TenantId


def require_tenant(owner: TenantId, tenant: TenantId) -> None:
    """Refuse to write an object of one tenant inside another tenant's transaction."""
    if owner != tenant:
        raise ValueError(f"object of tenant {owner} written in a transaction of {tenant}")

"""Which scope each endpoint needs, as its route declares it (``deps.Admin``,
``deps.Operate``, ``deps.Read`` or ``deps.PUBLIC``), gathered into one table for
documentation and tests. A route that declares none is not in this table: the app is
not built (``deps.check_scopes``), so nobody can call it (docs/engine.md, *Access*).

- jobs, their targets and secrets, calendars, schedules' definitions, the audit trail
  and usage: admin;
- pausing, resuming, triggering and backfilling schedules, retrying and cancelling
  runs, and the external worker protocol: operate;
- every read: read;
- every tenant's usage (``/admin/usage``) and the scheduler's replicas
  (``/admin/replicas``): admin of the operator's tenant only (checked by the route);
- the health probes and metrics: public.
"""

from __future__ import annotations

from adapters.http.deps import check_scopes
from adapters.http.routes import ROUTERS
from domain.access import Scope

_ALL = check_scopes(route for router in ROUTERS for route in router.routes)

POLICY: dict[tuple[str, str], Scope] = {k: s for k, s in _ALL.items() if s is not None}

# Answered without credentials and about no tenant: probes of the process.
PUBLIC = frozenset(k for k, s in _ALL.items() if s is None)

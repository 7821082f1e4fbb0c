"""Every endpoint x every way a caller can be wrong (docs/semantics.md, *Tenancy and
access*): no token, expired, wrong audience or issuer, ``alg=none``, HS256 signed with
the public key, an unknown ``kid`` → 401; a scope below the route's → 403; the route's
own scope passes; tenant B's ids with tenant A's token → 404 on every path that takes an
id."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.routing import APIRoute
from jwt.algorithms import ECAlgorithm

from adapters.auth.tokens import StaticKeys, TokenVerifier
from adapters.http.api import bearer, create_app
from adapters.http.policy import POLICY, PUBLIC
from adapters.memory.database import MemoryDatabase
from adapters.secrets import FernetSecretBox
from domain.access import Scope
from domain.ids import TenantId

KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_JWK = {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1"}
VERIFIER = TokenVerifier(StaticKeys({"keys": [PUBLIC_JWK]}), "https://idp.example", "kairos")
APP = create_app(
    MemoryDatabase(),
    auth=bearer(VERIFIER),
    secrets=FernetSecretBox(FernetSecretBox.generate_key()),
    operator=TenantId("acme"),  # so acme's admin token passes /admin/usage too
)
ALL_ROUTES = {
    (method, route.path)
    for route in APP.routes
    if isinstance(route, APIRoute)
    for method in route.methods or ()
}
ROUTES = sorted(ALL_ROUTES - PUBLIC)
BELOW = {Scope.ADMIN: "scheduler:operate", Scope.OPERATE: "scheduler:read", Scope.READ: "x:y"}


def token(tenant: str = "acme", scope: str = "scheduler:admin", **over: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "https://idp.example",
        "aud": "kairos",
        "tenant": tenant,
        "scope": scope,
        "exp": now + 300,
        **over,
    }
    kid = claims.pop("kid", "k1")
    return jwt.encode(claims, KEY, algorithm="ES256", headers={"kid": kid})


def hs256_with_public_key() -> str:
    pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": "https://idp.example", "aud": "kairos", "tenant": "acme", "exp": now + 60}
    head = b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    body = b64(json.dumps({**claims, "scope": "scheduler:admin"}).encode())
    return f"{head}.{body}.{b64(hmac.new(pem, f'{head}.{body}'.encode(), hashlib.sha256).digest())}"


BAD = {
    "no token": None,
    "expired": lambda: token(exp=int(time.time()) - 600),
    "wrong aud": lambda: token(aud="other"),
    "wrong iss": lambda: token(iss="https://evil.example"),
    "alg none": lambda: jwt.encode(
        {"iss": "https://idp.example", "aud": "kairos", "tenant": "acme", "exp": 2**40},
        None,  # type: ignore[arg-type]
        algorithm="none",
    ),
    "HS256 with the public key": hs256_with_public_key,
    "unknown kid": lambda: token(kid="k9"),
}


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://kairos") as client:
        yield client


def fill(path: str, ids: dict[str, str] | None = None) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: (ids or {}).get(m[1], str(uuid.uuid4())), path)


async def call(
    api: httpx.AsyncClient, method: str, path: str, bearer_token: str | None, body: Any = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
    if method in ("GET", "DELETE"):
        return await api.request(method, path, headers=headers)
    return await api.request(method, path, headers=headers, json={} if body is None else body)


def test_every_route_has_a_scope() -> None:
    """Deny by default: each route of the app is in the policy (or one of the public
    health probes), and nothing else is."""
    assert set(ROUTES) == set(POLICY)
    assert ALL_ROUTES - set(POLICY) == PUBLIC


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_bad_credentials_are_401_and_scopes_are_enforced(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    """Each bad credential 401 (with WWW-Authenticate); the scope below the route's 403;
    the route's own scope gets past authorisation (its answer is about the request)."""
    url = fill(path)
    for case, make in BAD.items():
        r = await call(api, method, url, make() if make else None)
        assert (r.status_code, r.json()["error"]["code"]) == (401, "UNAUTHORIZED"), case
        assert r.headers["www-authenticate"].startswith("Bearer")
    needed = POLICY[(method, path)]
    r = await call(api, method, url, token(scope=BELOW[needed]))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "FORBIDDEN")
    r = await call(api, method, url, token(scope=needed.value))
    assert r.status_code not in (401, 403), r.text


async def test_another_tenants_ids_are_404_on_every_path(api: httpx.AsyncClient) -> None:
    """Objects of globex, addressed with acme's admin token: 404 on every route that
    takes an id (and globex itself still sees them)."""
    globex = token("globex")
    gh = {"Authorization": f"Bearer {globex}"}
    job = await api.post(
        "/jobs",
        json={"name": "j", "target": {"kind": "HTTP", "config": {"url": "https://a.example"}}},
        headers=gh,
    )
    schedule = await api.post(
        "/schedules",
        json={
            "name": "s",
            "job_id": job.json()["id"],
            "trigger": {"type": "CRON", "expression": "0 3 * * *"},
        },
        headers=gh,
    )
    sid = schedule.json()["id"]
    calendar = await api.post("/calendars", json={"name": "c"}, headers=gh)
    run = await api.post(f"/schedules/{sid}/trigger", json={}, headers=gh)
    backfill = await api.post(
        f"/schedules/{sid}/backfill",
        json={"from": "2026-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z"},
        headers=gh,
    )
    worker = await api.post(
        "/workers/register", json={"name": "w", "capabilities": ["x"]}, headers=gh
    )
    ids = {
        "job_id": job.json()["id"],
        "secret_id": job.json()["secret_id"],
        "schedule_id": sid,
        "calendar_id": calendar.json()["id"],
        "run_id": run.json()["id"],
        "backfill_id": backfill.json()["id"],
        "worker_id": worker.json()["id"],
    }
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/schedules/{schedule_id}/backfill"): {
            "from": "2026-01-01T00:00:00Z",
            "to": "2026-01-02T00:00:00Z",
        },
        ("POST", "/runs/{run_id}/complete"): {"token": "1"},
        ("POST", "/runs/{run_id}/fail"): {"token": "1", "error": "x"},
        ("POST", "/workers/{worker_id}/report"): {"outcomes": []},
    }
    acme = token("acme")
    kinds = set()
    for method, path in ROUTES:
        if "{" not in path:
            continue
        r = await call(api, method, fill(path, ids), acme, bodies.get((method, path)))
        assert (r.status_code, r.json()["error"]["code"]) == (404, "NOT_FOUND"), (method, path)
        kinds.add(path.split("/")[1])
    assert kinds == {"jobs", "schedules", "backfills", "calendars", "runs", "workers"}
    assert (await api.get(f"/runs/{ids['run_id']}", headers=gh)).status_code == 200

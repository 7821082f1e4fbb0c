"""Bounded input at the API's boundary (memory adapters, fake clock): every number,
instant, duration and text has a range the storage can hold; NUL, lone surrogates,
deep nesting, tampered cursors and oversized headers answer the envelope naming the
field, and nothing is half-written."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from adapters.auth.tokens import StaticKeys, TokenVerifier
from adapters.http.api import bearer, create_app, header_principal
from adapters.http.ratelimit import RateLimiter
from adapters.memory.database import MemoryDatabase
from domain import bounds
from tests.api.support import ACME, error

EVENT_JOB = {"name": "ping", "target": {"kind": "EVENT", "config": {"subject": "pings"}}}


@pytest.fixture
async def api(db: MemoryDatabase) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(db, auth=header_principal))
    async with httpx.AsyncClient(transport=transport, base_url="http://kairos") as client:
        yield client


async def raw(api: httpx.AsyncClient, method: str, path: str, text: str) -> httpx.Response:
    """Send ``text`` as the JSON body byte for byte (lone surrogates stay escaped)."""
    return await api.request(
        method,
        path,
        content=text.encode(),
        headers={**ACME, "content-type": "application/json"},
    )


async def job_id(api: httpx.AsyncClient) -> str:
    r = await api.post("/jobs", json=EVENT_JOB, headers=ACME)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def schedule(job: str, **more: Any) -> dict[str, Any]:
    return {
        "name": "nightly",
        "job_id": job,
        "trigger": {"type": "CRON", "expression": "0 3 * * *"},
        **more,
    }


async def count(api: httpx.AsyncClient, what: str) -> int:
    return len((await api.get(f"/{what}", headers=ACME)).json()["items"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_concurrency", 2**31),
        ("max_concurrency", 0),
        ("max_attempts", 2**31),
        ("max_attempts", 2**63),
        ("max_attempts", bounds.MAX_ATTEMPTS + 1),
        ("timeout", "P99999999D"),
        ("timeout", 10**30),
        ("timeout", "P8D"),
    ],
)
async def test_job_numbers_outside_their_range_are_422_and_nothing_is_written(
    api: httpx.AsyncClient, field: str, value: Any
) -> None:
    """max_concurrency 2^31 (which once crashed the claim loop), max_attempts 2^31 and
    2^63, absurd timeouts: 422 naming the field; no job is stored."""
    r = await api.post("/jobs", json={**EVENT_JOB, field: value}, headers=ACME)
    assert (r.status_code, error(r)["details"]["field"]) == (422, field), r.text
    assert await count(api, "jobs") == 0


@pytest.mark.parametrize(
    ("field", "more"),
    [
        ("max_fires", {"max_fires": 2**64}),
        ("max_fires", {"max_fires": 2**31}),
        ("start_at", {"start_at": "9999-12-31T00:00:00Z"}),
        ("end_at", {"end_at": "0001-01-01T00:00:00Z"}),
        ("max_catchup", {"max_catchup": 2**40}),
        ("max_buffered", {"max_buffered": 2**40}),
        ("catchup_window", {"catchup_window": "P99999D"}),
        ("max_jitter", {"max_jitter": "P30D"}),
        ("trigger.expression", {"trigger": {"type": "CRON", "expression": "0 " * 600_000}}),
        ("at", {"trigger": {"type": "ONE_SHOT", "at": "9999-12-31T23:59:59+00:00"}}),
        ("trigger.every", {"trigger": {"type": "FIXED_DELAY", "every": "1e300"}}),
        ("trigger.every", {"trigger": {"type": "FIXED_DELAY", "every": 10**20}}),
        ("subject", {"trigger": {"type": "EVENT", "subject": ".".join(["a"] * 10_000)}}),
        ("timezone", {"timezone": "Europe/" + "x" * 10_000}),
    ],
)
async def test_schedule_values_outside_their_range_are_422_and_nothing_is_written(
    api: httpx.AsyncClient, field: str, more: dict[str, Any]
) -> None:
    """max_fires 2^64, start_at 9999-12-31 (once a 500 in the zone engine), a 1 MB cron
    expression, an EVENT subject of 10,000 tokens: 422 naming the field, nothing stored."""
    job = await job_id(api)
    r = await api.post("/schedules", json=schedule(job, **more), headers=ACME)
    assert r.status_code == 422, r.text
    assert error(r)["details"]["field"].endswith(field), error(r)
    assert await count(api, "schedules") == 0


async def test_every_range_is_in_the_openapi_schema_too(api: httpx.AsyncClient) -> None:
    """The limits the API documents are the ones it enforces (one definition)."""
    schema = (await api.get("/openapi.json")).json()["components"]["schemas"]
    attempts = schema["JobCreate"]["properties"]["max_attempts"]["anyOf"][0]
    assert attempts.get("maximum") == bounds.MAX_ATTEMPTS, attempts
    concurrency = schema["JobCreate"]["properties"]["max_concurrency"]["anyOf"][0]
    assert concurrency.get("maximum") == bounds.MAX_CONCURRENCY, concurrency


def http_job(**config: Any) -> dict[str, Any]:
    target = {"kind": "HTTP", "config": {"url": "https://example.com/", **config}}
    return {"name": "h", "target": target}


def event_target(subject: str) -> dict[str, Any]:
    return {"kind": "EVENT", "config": {"subject": subject}}


def holiday(name: str) -> dict[str, Any]:
    return {"date": "2026-12-24", "name": name}


def worker(**more: Any) -> dict[str, Any]:
    return {"name": "w", "capabilities": ["x"], **more}


STRINGS = [
    ("name", lambda s: {**EVENT_JOB, "name": s}, "/jobs"),
    ("target.config.subject", lambda s: {**EVENT_JOB, "target": event_target(s)}, "/jobs"),
    ("target.config.url", lambda s: http_job(url="https://example.com/" + s), "/jobs"),
    ("target.config.headers.X-A", lambda s: http_job(headers={"X-A": s}), "/jobs"),
    ("target.config.body.k", lambda s: http_job(body={"k": s}), "/jobs"),
    ("name", lambda s: {"name": s}, "/calendars"),
    ("holidays[0].name", lambda s: {"name": "c", "holidays": [holiday(s)]}, "/calendars"),
    ("name", lambda s: worker(name=s), "/workers/register"),
    ("capabilities[0]", lambda s: worker(capabilities=[s]), "/workers/register"),
    ("labels.zone", lambda s: worker(labels={"zone": s}), "/workers/register"),
    ("version", lambda s: worker(version=s), "/workers/register"),
]  # fmt: skip


@pytest.mark.parametrize("bad", ["a\u0000b", "a\ud800b", "\udfff"])
@pytest.mark.parametrize(("field", "body", "path"), STRINGS)
async def test_nul_and_lone_surrogates_are_422_naming_the_field(
    api: httpx.AsyncClient, bad: str, field: str, body: Any, path: str
) -> None:
    """NUL or a lone surrogate in any string of any body (names, subjects, URLs,
    headers, bodies, holiday names, worker fields): 422 naming the field, never a 500."""
    r = await raw(api, "POST", path, json.dumps(body(bad)))
    assert r.status_code == 422, r.text
    assert error(r)["details"]["field"] == field, error(r)


@pytest.mark.parametrize("bad", ["a\u0000b", "a\ud800b"])
async def test_payload_keys_values_cron_and_trigger_payloads_refuse_bad_text(
    api: httpx.AsyncClient, bad: str
) -> None:
    """Schedule payload keys and values, a cron expression and a trigger's payload:
    422 naming where; the schedule list stays as it was."""
    job = await job_id(api)
    for body, field in [
        (schedule(job, payload={"k": bad}), "payload.k"),
        (schedule(job, payload={bad: 1}), "payload"),
        (schedule(job, trigger={"type": "CRON", "expression": f"0 *{bad}"}), "trigger.expression"),
        (schedule(job, payload={"deep": [{"x": [bad]}]}), "payload.deep[0].x[0]"),
    ]:  # fmt: skip
        r = await raw(api, "POST", "/schedules", json.dumps(body))
        assert (r.status_code, error(r)["details"]["field"]) == (422, field), r.text
    assert await count(api, "schedules") == 0
    made = await api.post("/schedules", json=schedule(job), headers=ACME)
    sid = made.json()["id"]
    r = await raw(api, "POST", f"/schedules/{sid}/trigger", json.dumps({"payload": {"x": bad}}))
    assert (r.status_code, error(r)["details"]["field"]) == (422, "payload.x")
    runs = (await api.get(f"/schedules/{sid}/runs", headers=ACME)).json()["items"]
    assert runs == []


async def test_a_payload_nested_300_deep_is_422(api: httpx.AsyncClient) -> None:
    """Nesting past the documented depth (deeper than the database's jsonb limit once
    reached) is refused at the boundary, for schedules and triggers alike."""
    job = await job_id(api)
    deep: Any = "leaf"
    for _ in range(300):
        deep = {"a": deep}
    r = await raw(api, "POST", "/schedules", json.dumps(schedule(job, payload=deep)))
    assert r.status_code == 422, r.text
    assert error(r)["details"]["field"].startswith("payload.a.a")
    deep_list = "[" * 100_000 + "]" * 100_000  # deeper than Python's own parser goes
    r = await raw(api, "POST", "/schedules", deep_list)
    assert r.status_code in (400, 422), r.text
    error(r)


async def test_a_nul_in_a_path_segment_is_an_envelope_not_a_500(
    api: httpx.AsyncClient,
) -> None:
    """POST /jobs/%00/secrets, and NUL in a query parameter: 422 envelope."""
    r = await api.post("/jobs/%00/secrets", json={}, headers=ACME)
    assert (r.status_code, error(r)["details"]["field"]) == (422, "path")
    r = await api.get("/runs?status=%00", headers=ACME)
    assert (r.status_code, error(r)["details"]["field"]) == (422, "status")


@pytest.mark.parametrize(
    "decoded",
    [
        "[" * 5_000 + "]" * 5_000,
        '{"a": 1, "b": 2}',
        '["2026-01-01T00:00:00", "00000000-0000-0000-0000-000000000001"]',
        "[1, 2]",
        '"x"',
    ],
)
async def test_a_tampered_cursor_is_422(api: httpx.AsyncClient, decoded: str) -> None:
    """A cursor that decodes to deep nesting (once a RecursionError), the wrong shape,
    or a time without offset: 422 naming cursor."""
    cursor = base64.urlsafe_b64encode(decoded.encode()).decode().rstrip("=")
    for path in ("/runs", "/jobs", "/schedules"):
        r = await api.get(f"{path}?cursor={cursor}", headers=ACME)
        assert (r.status_code, error(r)["details"]["field"]) == (422, "cursor"), path


async def test_oversized_headers_and_bodies_answer_the_envelope(
    api: httpx.AsyncClient,
) -> None:
    """A 1 MB Idempotency-Key: 431; a 3 MB body: 413; both the envelope."""
    job = await job_id(api)
    sid = (await api.post("/schedules", json=schedule(job), headers=ACME)).json()["id"]
    r = await api.post(
        f"/schedules/{sid}/trigger", json={}, headers={**ACME, "Idempotency-Key": "k" * 1_000_000}
    )
    assert (r.status_code, error(r)["details"]["field"]) == (431, "idempotency-key")
    r = await api.post(
        f"/schedules/{sid}/trigger", json={"payload": {"x": "y" * 3_000_000}}, headers=ACME
    )
    assert (r.status_code, error(r)["details"]["field"]) == (413, "body")
    r = await api.post(
        f"/schedules/{sid}/trigger", json={}, headers={**ACME, "Idempotency-Key": "k" * 300}
    )
    assert (r.status_code, error(r)["details"]["field"]) == (422, "Idempotency-Key")


async def test_if_match_outside_the_version_range_is_422(api: httpx.AsyncClient) -> None:
    """An If-Match version that no integer column holds is refused, not a 500."""
    job = await job_id(api)
    sid = (await api.post("/schedules", json=schedule(job), headers=ACME)).json()["id"]
    for value in ('"99999999999999999999"', '"-1"', '"x"'):
        r = await api.patch(
            f"/schedules/{sid}", json={"max_catchup": 2}, headers={**ACME, "If-Match": value}
        )
        assert (r.status_code, error(r)["details"]["field"]) == (422, "If-Match"), value


# -- denied calls cost the caller --------------------------------------------------------

KEY = ec.generate_private_key(ec.SECP256R1())
JWK = {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1"}


def token(scope: str) -> str:
    claims = {
        "iss": "https://idp.example",
        "aud": "kairos",
        "tenant": "acme",
        "sub": "svc",
        "scope": scope,
        "exp": int(time.time()) + 300,
    }
    return jwt.encode(claims, KEY, algorithm="ES256", headers={"kid": "k1"})


async def test_denied_calls_are_rate_limited_and_audited_in_a_bounded_way(
    db: MemoryDatabase,
) -> None:
    """300 POSTs with a read-only token: the first 20 (the burst) are 403, the rest
    429; they write one audit row, not 300; the admin still sees the trail."""
    verifier = TokenVerifier(StaticKeys({"keys": [JWK]}), "https://idp.example", "kairos")
    limiter = RateLimiter(rate=0.001, burst=20)
    app = create_app(db, auth=bearer(verifier), limiter=limiter)
    reader = {"Authorization": f"Bearer {token('scheduler:read')}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kairos") as api:
        statuses = [
            (await api.post("/jobs", json=EVENT_JOB, headers=reader)).status_code
            for _ in range(300)
        ]
        assert statuses[:20] == [403] * 20
        assert set(statuses[20:]) == {429}
        async with db.transaction("acme") as tx:  # type: ignore[arg-type]
            trail = await tx.audit.list(after=None, limit=1000)
    assert len(trail) == 1
    assert (trail[0].status, trail[0].after) == (403, {"denied_since_last": 0})

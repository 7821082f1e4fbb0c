"""The served OpenAPI types every endpoint: request and response models with examples,
the error envelope on every error status, validation errors as 422 naming the field."""

from __future__ import annotations

from typing import Any

import httpx

from adapters.http import models as m
from adapters.http.api import create_app, header_principal
from adapters.http.policy import POLICY, PUBLIC
from adapters.memory.database import MemoryDatabase
from tests.api.support import ACME, error

APP = create_app(MemoryDatabase(), auth=header_principal)
SPEC: dict[str, Any] = APP.openapi()
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
UNTYPED = {("get", "/metrics")}  # Prometheus text, not JSON


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, ops in SPEC["paths"].items()
        for method, op in ops.items()
        if (method, path) not in UNTYPED
    ]


def ref(schema: dict[str, Any]) -> str:
    """The component a (possibly optional) body or answer refers to."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    (only,) = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return ref(only)


def test_every_answer_and_body_is_a_named_model_and_bodies_have_examples() -> None:
    """Each operation's success answer is a model (or 204 empty); each request body is a
    model with an example; response models refuse undeclared fields."""
    assert len(operations()) == len(POLICY) + len(PUBLIC) - len(UNTYPED)
    for method, path, op in operations():
        success = [code for code in op["responses"] if code.startswith("2")]
        assert len(success) == 1, (method, path)
        answer = op["responses"][success[0]]
        if success[0] == "204":
            assert "content" not in answer, (method, path)
            continue
        model = ref(answer["content"]["application/json"]["schema"])
        assert SCHEMAS[model].get("additionalProperties") is False, model
        body = op.get("requestBody")
        if body is not None:
            name = ref(body["content"]["application/json"]["schema"])
            assert SCHEMAS[name].get("examples"), f"{method} {path}: {name} has no example"


def test_every_error_status_is_the_envelope() -> None:
    """401, 403, 404, 422, 429 (and the rest) answer the documented envelope."""
    for method, path, op in operations():
        if path.startswith("/health/"):
            continue
        for status in ("401", "403", "404", "422", "429"):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert ref(schema) == "Error", (method, path, status)
    assert "HTTPValidationError" not in SCHEMAS  # FastAPI's own shape is not what we answer


async def test_validation_errors_name_the_field_and_docs_are_served() -> None:
    """A wrong JSON type, an unknown field, a missing one: 422 INVALID_REQUEST naming the
    field; bad JSON 400; the domain's own check still names its field; /docs serves."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=APP), base_url="http://kairos"
    ) as api:
        job = {"name": "j", "target": {"kind": "EVENT", "config": {"subject": "s"}}}
        cases = [
            ({**job, "max_attempts": "5"}, "max_attempts"),
            ({**job, "colour": "red"}, "colour"),
            ({"target": job["target"]}, "name"),
            ({**job, "target": {"kind": "EVENT", "confg": {}}}, "target.confg"),
        ]
        for body, field in cases:
            r = await api.post("/jobs", json=body, headers=ACME)
            assert r.status_code == 422, body
            assert (error(r)["code"], error(r)["details"]["field"]) == ("INVALID_REQUEST", field)
        r = await api.post(
            "/jobs", content=b"{not json", headers={**ACME, "Content-Type": "application/json"}
        )
        assert (r.status_code, error(r)["code"]) == (400, "INVALID_REQUEST")
        job_id = (await api.post("/jobs", json=job, headers=ACME)).json()["id"]
        bad_cron = {"name": "s", "job_id": job_id, "trigger": {"type": "CRON", "expression": "x"}}
        r = await api.post("/schedules", json=bad_cron, headers=ACME)
        assert (r.status_code, error(r)["code"]) == (422, "INVALID_SCHEDULE")
        assert error(r)["details"]["field"] == "cron"  # the part of the trigger at fault
        assert (await api.get("/docs")).status_code == 200
        assert (await api.get("/openapi.json")).json()["info"]["title"] == "Kairos"


def test_the_answers_examples_still_fit_their_models() -> None:
    """The examples shown in the OpenAPI (real answers) validate against their models,
    and the main resources' answers have one."""
    for name, example in m.EXAMPLES.items():
        getattr(m, name).model_validate(example)
    for name in ("Job", "Schedule", "Run", "Calendar", "Worker", "Backfill", "Stats"):
        assert SCHEMAS[name].get("examples"), name


async def test_docs_serve_their_own_assets_and_send_the_bearer_token() -> None:
    """/docs loads swagger-ui from Kairos (no CDN); the document declares the bearer
    scheme on every tenant operation and none on the probes."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=APP), base_url="http://kairos"
    ) as api:
        page = (await api.get("/docs")).text
        assert "/docs/assets/swagger-ui-bundle.js" in page
        assert "/docs/assets/swagger-ui.css" in page
        assert "cdn" not in page.lower()
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
            r = await api.get(f"/docs/assets/{asset}")
            assert r.status_code == 200, asset
            assert len(r.content) > 10_000, asset
        document = (await api.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for method, path, op in operations():
        public = path.startswith("/health/") or path == "/metrics"
        assert op["security"] == ([] if public else [{"bearer": []}]), (method, path)

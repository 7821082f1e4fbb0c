"""Property-based tests of the served OpenAPI (schemathesis): generated requests to every
operation never get a 5xx, and every answer conforms to the documented schema and
content type. Bounded: a few examples per operation, no deadline."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from adapters.http.api import create_app, header_principal
from adapters.memory.database import MemoryDatabase
from adapters.secrets import FernetSecretBox

APP = create_app(
    MemoryDatabase(),
    auth=header_principal,
    secrets=FernetSecretBox(FernetSecretBox.generate_key()),
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_answers_match_the_schema(case: schemathesis.Case[Any]) -> None:
    """Any generated request: never a 5xx; the answer's content type and body fit."""
    case.call_and_validate(
        headers={"Kairos-Tenant": "acme"},
        checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
    )

"""OpenAPI links: which answer's id feeds which later call (a created job's ``id`` is
the ``job_id`` of ``GET /jobs/{job_id}``). Documentation for people and generators
alike: schemathesis' stateful phase follows them to create, read, change and delete
real objects in one sequence."""

from __future__ import annotations

from typing import Any

# (the operation that answers an object, its success status, the path parameter its
# ``id`` fills, the path prefix of the operations that take that parameter)
SOURCES = (
    ("post", "/jobs", "201", "job_id", "/jobs/{job_id}"),
    ("post", "/schedules", "201", "schedule_id", "/schedules/{schedule_id}"),
    ("post", "/calendars", "201", "calendar_id", "/calendars/{calendar_id}"),
    ("post", "/workers/register", "201", "worker_id", "/workers/{worker_id}"),
    ("post", "/schedules/{schedule_id}/trigger", "200", "run_id", "/runs/{run_id}"),
    ("post", "/schedules/{schedule_id}/backfill", "200", "backfill_id", "/backfills/{backfill_id}"),
)  # fmt: skip


def add_links(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with a link from each source's answer to every operation under its
    prefix (in place; returned for chaining)."""
    paths: dict[str, dict[str, Any]] = schema.get("paths", {})
    for method, path, status, parameter, prefix in SOURCES:
        answer = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if answer is None:
            continue
        links = answer.setdefault("links", {})
        for target, operations in sorted(paths.items()):
            if not (target == prefix or target.startswith(prefix + "/")):
                continue
            for verb, operation in sorted(operations.items()):
                name = f"{verb.upper()} {target}"
                links[name] = {
                    "operationId": operation["operationId"],
                    "parameters": {parameter: "$response.body#/id"},
                }
    return schema

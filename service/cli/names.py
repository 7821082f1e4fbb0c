"""Names to ids through the API, for the operator commands (``operate.py``)."""

from __future__ import annotations

import contextlib
from typing import Any

from service.cli.client import EXIT_USAGE, ApiClient, ApiError, CliError, is_uuid
from service.cli.context import KINDS


async def find(client: ApiClient, kind: str, name: str) -> list[dict[str, Any]]:
    """Every ``kind`` (schedule, job, calendar, worker) named exactly ``name`` (or whose
    id it is)."""
    path = KINDS[kind]
    if is_uuid(name):
        try:
            return [await client.get(f"{path}/{name}")]
        except ApiError as exc:
            if exc.status != 404:
                raise
    params: dict[str, Any] = {}
    if "name" in await client.query_parameters("GET", path):
        params["name"] = name
    items, _ = await client.items(path, **params)
    return [item for item in items if item.get("name") == name]


async def resolve(client: ApiClient, kind: str, name: str) -> dict[str, Any]:
    """The one ``kind`` named ``name``: unknown is exit 1, ambiguous exit 2."""
    found = await find(client, kind, name)
    if not found:
        raise CliError(f"no {kind} named {name!r}")
    if len(found) > 1:
        ids = ", ".join(str(item.get("id")) for item in found[:5])
        raise CliError(
            f"{len(found)} {kind}s are named {name!r}: give the id of one ({ids})", EXIT_USAGE
        )
    return found[0]


RUN_SCAN = 5  # pages of the newest runs searched for an id prefix


async def run_id(client: ApiClient, text: str) -> str:
    """A run's id as given, or the one id among the newest runs that starts with
    ``text`` (at least 4 characters)."""
    if is_uuid(text):
        return text
    prefix = text.lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef-" for c in prefix):
        raise CliError(f"{text!r} is not a run id (nor 4 or more of its first characters)", 2)
    found: list[str] = []
    scanned = 0
    async with contextlib.aclosing(client.pages("/runs")) as pages:
        async for page, _ in pages:
            found += [str(r["id"]) for r in page if str(r["id"]).startswith(prefix)]
            scanned += 1
            if len(found) > 1 or scanned >= RUN_SCAN:
                break
    if not found:
        raise CliError(f"no recent run's id starts with {text!r}: give its whole id")
    if len(found) > 1:
        raise CliError(f"several runs' ids start with {text!r}: give more of it", EXIT_USAGE)
    return found[0]


async def _names(client: ApiClient, path: str) -> dict[str, str]:
    """id -> name of every live item of a list (to show names beside ids)."""
    items, _ = await client.items(path)
    return {str(item.get("id")): str(item.get("name")) for item in items}


async def _name_of(client: ApiClient, path: str, id: str) -> str:
    try:
        return str((await client.get(f"{path}/{id}"))["name"])
    except ApiError as exc:
        if exc.status == 404:
            return id
        raise

"""The worker SDK against a Kairos that answers 503 (its database is down) for a while:
it keeps registering and claiming with backoff, then works, instead of ending."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import httpx

from kairos_worker.worker import RunContext, Worker

RUN = {
    "run_id": "r1",
    "type": "report",
    "attempt": 1,
    "max_attempts": 3,
    "schedule_id": "s1",
    "nominal_at": "2026-01-01T00:00:00+00:00",
    "payload": {},
    "lease_token": 7,
    "timeout_at": None,
    "job": None,
}
UNAVAILABLE = {"error": {"code": "UNAVAILABLE", "message": "the database is down"}}


async def test_a_kairos_unavailable_for_a_while_is_waited_out() -> None:
    """Two 503s to register and three to claim: the worker retries, then runs the job
    and reports it; it stops only when told to."""
    calls: Counter[str] = Counter()
    reports: list[dict[str, list[dict[str, object]]]] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path.rsplit("/", 1)[-1]
        calls[path] += 1
        if path == "register":
            if calls[path] <= 2:
                return httpx.Response(503, json=UNAVAILABLE)
            return httpx.Response(200, json={"id": "w1"})
        if path == "claim":
            if calls[path] <= 3:
                return httpx.Response(503, json=UNAVAILABLE)
            if calls[path] > 4:
                await asyncio.sleep(0.05)  # the long poll finds nothing
            runs = [RUN] if calls[path] == 4 else []
            return httpx.Response(200, json={"runs": runs})
        if path == "report":
            reports.append(json.loads(request.content))
            return httpx.Response(200, json={"lost": []})
        return httpx.Response(200, json={})

    worker = Worker(
        url="http://kairos.test",
        token="t",
        poll_wait=0.01,
        transport=httpx.MockTransport(answer),
    )
    handled = asyncio.Event()

    @worker.handler("report")
    async def report(context: RunContext) -> None:
        handled.set()

    stop = asyncio.Event()
    task = asyncio.create_task(worker.serve(stop))
    await asyncio.wait_for(handled.wait(), 30)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 10)
    assert calls["register"] == 3
    assert calls["claim"] >= 4
    assert [o["run_id"] for r in reports for o in r["outcomes"]] == ["r1"]

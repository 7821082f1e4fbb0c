"""A benchmark worker built on the SDK: each run POSTs its payload to the no-op
receiver (``RECEIVER_URL``), the same request the HTTP target makes (unsigned)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kairos_worker import RunContext, Worker

worker = Worker(
    os.environ["KAIROS_API_URL"],
    token=os.environ["KAIROS_TOKEN"],
    name=f"bench-sdk-{os.getpid()}",
    concurrency=int(os.environ.get("WORKER_CONCURRENCY", "32")),
    poll_wait=1.0,
)
RECEIVER = os.environ["RECEIVER_URL"]
client = httpx.AsyncClient(timeout=10)


@worker.handler("bench.noop")
async def noop(run: RunContext) -> None:
    response = await client.post(RECEIVER, json={"run_id": run.run_id, "payload": run.payload})
    response.raise_for_status()


if __name__ == "__main__":
    print("ready", flush=True)
    worker.run()

"""An example service that runs Kairos jobs with the worker SDK.

It handles WORKER jobs of type ``reports.generate``: "generates" a report by sleeping
``payload.seconds`` (default 0.1) and appending a line to ``REPORTS_OUT``. It stops on
SIGTERM after the reports in progress are finished (the SDK's drain).

    export KAIROS_TOKEN=$(kairos token --tenant acme --scope scheduler:operate)
    KAIROS_API_URL=http://127.0.0.1:8080 python examples/reports_worker.py

Its job, created once through the API:

    POST /jobs {"name": "reports", "target": {"kind": "WORKER",
                                              "config": {"type": "reports.generate"}}}

Settings (environment): ``WORKER_CONCURRENCY`` (4), ``WORKER_LEASE`` seconds (30),
``WORKER_HEARTBEAT`` seconds (5), ``WORKER_GRACE`` seconds (30), ``REPORTS_OUT`` (a
file; default ``reports.out``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from kairos_worker import Retry, RunContext, Worker

worker = Worker(
    os.environ.get("KAIROS_API_URL", "http://127.0.0.1:8080"),
    token=os.environ["KAIROS_TOKEN"],
    name=os.environ.get("WORKER_NAME", f"reports-{os.getpid()}"),
    concurrency=int(os.environ.get("WORKER_CONCURRENCY", "4")),
    lease=float(os.environ.get("WORKER_LEASE", "30")),
    heartbeat_interval=float(os.environ.get("WORKER_HEARTBEAT", "5")),
    grace=float(os.environ.get("WORKER_GRACE", "30")),
    version="example-1",
)
OUT = Path(os.environ.get("REPORTS_OUT", "reports.out"))


def record(line: str) -> None:
    with OUT.open("a") as out:
        out.write(line + "\n")
        out.flush()


@worker.handler("reports.generate")
async def generate(run: RunContext) -> None:
    seconds = float(run.payload.get("seconds", 0.1))
    if run.attempt == 1 and run.payload.get("busy_first"):
        raise Retry(after=float(run.payload["busy_first"]), reason="report store busy")
    record(f"start {run.run_id} {run.attempt} {os.getpid()}")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        record(f"cancelled {run.run_id} {run.attempt} {os.getpid()}")
        raise
    record(f"done {run.run_id} {run.attempt} {os.getpid()}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    print(f"reports worker {os.getpid()} starting", flush=True)
    worker.run()

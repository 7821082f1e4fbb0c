"""Kairos worker SDK: run Kairos jobs in your own service.

    from kairos_worker import Worker, Retry, RunContext

    worker = Worker("http://kairos:8080", token=TOKEN, name="reports", concurrency=4)

    @worker.handler("reports.generate")
    async def generate(run: RunContext) -> None:
        if not ready():
            raise Retry(after=30, reason="upstream not ready")
        ...

    worker.run()  # until SIGTERM/SIGINT, then drains

``TOKEN`` is a bearer JWT with ``scheduler:operate``; its tenant is the worker's.
A handler is called once per attempt of a run of a ``WORKER`` job whose ``type`` it
declared. It returns (the attempt succeeded), raises ``Retry`` (failed, retry no sooner
than ``after`` seconds), or raises anything else (failed, the job's backoff applies).
When Kairos cancels the run (``POST /runs/{id}/cancel``) the handler's task is cancelled:
it sees ``asyncio.CancelledError`` and should stop promptly; the run ends ``cancelled``.

The worker registers, heartbeats (extending its leases and learning of cancellations
and drains), long-polls for runs up to its free concurrency, and on SIGTERM or a drain
stops claiming, lets handlers finish within ``grace``, reports the rest as failed so
they are retried at once elsewhere, and deregisters. Outcomes are re-sent until Kairos
has them; one it refuses as ``LEASE_LOST`` (the run was taken back) is dropped.
"""

from kairos_worker._version import __version__
from kairos_worker.worker import Retry, RunContext, Worker

__all__ = ["Retry", "RunContext", "Worker", "__version__"]

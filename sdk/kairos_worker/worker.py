"""The worker: the REST protocol of ``/workers`` and ``/runs/{id}/complete|fail``.

One client of one protocol: registration, heartbeats, claims, reports and outage
handling share the worker's lease and backoff state, so the module (about 430 lines)
stays whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

log = logging.getLogger("kairos_worker")

Handler = Callable[["RunContext"], Awaitable[None]]
REPORT_BATCH = 500


class Retry(Exception):
    """Fail this attempt and ask Kairos to retry no sooner than ``after`` seconds."""

    def __init__(self, after: float | None = None, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.after = after
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RunContext:
    """One attempt of one run, as Kairos handed it over."""

    run_id: str
    type: str
    attempt: int
    max_attempts: int
    schedule_id: str
    nominal_at: datetime
    payload: Mapping[str, Any]
    lease_token: str
    timeout_at: datetime | None
    job: Mapping[str, Any] | None

    @classmethod
    def parse(cls, doc: Mapping[str, Any]) -> RunContext:
        timeout = doc.get("timeout_at")
        return cls(
            run_id=doc["run_id"],
            type=doc["type"],
            attempt=doc["attempt"],
            max_attempts=doc["max_attempts"],
            schedule_id=doc["schedule_id"],
            nominal_at=datetime.fromisoformat(doc["nominal_at"]),
            payload=doc.get("payload") or {},
            lease_token=doc["lease_token"],
            timeout_at=datetime.fromisoformat(timeout) if timeout else None,
            job=doc.get("job"),
        )


@dataclass(eq=False)
class _Held:
    context: RunContext
    task: asyncio.Task[None] | None = None
    cancelled_by_kairos: bool = False
    lost: bool = False


@dataclass
class Worker:
    url: str
    token: str  # a bearer token with scheduler:operate; its tenant is the worker's
    name: str = "kairos-worker"
    concurrency: int = 8
    version: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    lease: float = 30.0  # seconds a claim holds a run between heartbeats
    heartbeat_interval: float = 5.0
    grace: float = 30.0  # on drain: how long handlers may take to finish
    poll_wait: float = 5.0  # long-poll of a claim
    transport: httpx.AsyncBaseTransport | None = None  # tests
    worker_id: str | None = None
    _handlers: dict[str, Handler] = field(default_factory=dict)
    _held: dict[str, _Held] = field(default_factory=dict)
    _stopping: asyncio.Event | None = None
    _slot: asyncio.Event | None = None
    _client: httpx.AsyncClient | None = None
    # Outcomes waiting to be sent; ``None`` ends the reporter.
    _outbox: asyncio.Queue[tuple[RunContext, dict[str, Any]] | None] | None = None
    _beating: _Outage = field(default_factory=lambda: _Outage("heartbeat"))

    def handler(self, job_type: str) -> Callable[[Handler], Handler]:
        """Declare the coroutine that runs jobs of ``job_type`` (a WORKER job's type)."""

        def register(fn: Handler) -> Handler:
            if job_type in self._handlers:
                raise ValueError(f"a handler for {job_type!r} is already declared")
            self._handlers[job_type] = fn
            return fn

        return register

    @property
    def in_flight(self) -> int:
        return len(self._held)

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then drain (blocking)."""
        asyncio.run(self._run_with_signals())

    async def _run_with_signals(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.serve(stop)

    async def serve(self, stop: asyncio.Event) -> None:
        """Register, work until ``stop`` is set (or Kairos says drain), drain, deregister."""
        if not self._handlers:
            raise RuntimeError("declare at least one @worker.handler(...) first")
        self._stopping = asyncio.Event()
        self._slot = asyncio.Event()
        self._outbox = asyncio.Queue()
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            timeout=self.poll_wait + 15,
            transport=self.transport,
        ) as client:
            self._client = client
            relay = asyncio.create_task(self._relay_stop(stop))
            if not await self._register():
                relay.cancel()
                return  # stopped before Kairos ever answered: nothing to undo
            beats = asyncio.create_task(self._beat_loop())
            reporter = asyncio.create_task(self._reporter())
            try:
                await self._claim_loop()
                await self._drain()
            finally:
                self._outbox.put_nowait(None)  # what is queued is sent first
                await reporter
                beats.cancel()
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beats
                await self._deregister()

    async def _relay_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        assert self._stopping is not None
        self._stopping.set()

    # -- protocol ------------------------------------------------------------------------

    async def _call(self, path: str, body: Mapping[str, Any] | None = None) -> httpx.Response:
        assert self._client is not None
        return await self._client.post(path, json=body if body is not None else {})

    async def _register(self) -> bool:
        """Register, waiting while Kairos is unreachable or unavailable (5xx); False if
        stopped first."""
        body = {
            "name": self.name,
            "capabilities": sorted(self._handlers),
            "capacity": self.concurrency,
            "version": self.version,
            "labels": dict(self.labels),
            "heartbeat_interval": self.heartbeat_interval,
        }
        assert self._stopping is not None
        outage = _Outage("register")
        while not self._stopping.is_set():
            try:
                response = await self._call("/workers/register", body)
            except httpx.TransportError as exc:
                await _sleep_unless(self._stopping, outage.failed(str(exc)))
                continue
            if _unavailable(response):
                await _sleep_unless(self._stopping, outage.failed(_message(response)))
                continue
            outage.ok()
            _raise_for(response)
            self.worker_id = response.json()["id"]
            log.info("registered as %s (%s)", self.worker_id, ", ".join(sorted(self._handlers)))
            return True
        return False

    async def _claim_loop(self) -> None:
        assert self._stopping is not None
        assert self._slot is not None
        outage = _Outage("claim")
        while not self._stopping.is_set():
            free = self.concurrency - len(self._held)
            if free <= 0:
                self._slot.clear()
                await _first(self._stopping, self._slot)
                continue
            # A claim in flight when the stop comes is awaited, not abandoned: the runs it
            # took are this worker's and are drained like the others (none waits for a
            # lease to lapse). That bounds the stop's delay by ``poll_wait``.
            try:
                response = await self._call(
                    f"/workers/{self.worker_id}/claim",
                    {"max": min(free, 100), "wait": self.poll_wait, "lease": self.lease},
                )
            except httpx.TransportError as exc:
                await _sleep_unless(self._stopping, outage.failed(str(exc)))
                continue
            if _unavailable(response):  # Kairos is up, its database or broker is not
                await _sleep_unless(self._stopping, outage.failed(_message(response)))
                continue
            outage.ok()
            if response.status_code == 409:  # offline: the heartbeat brings it back
                await _sleep_unless(self._stopping, self.heartbeat_interval / 2)
                continue
            _raise_for(response)
            answer = response.json()
            if answer.get("drain"):
                log.info("Kairos asked this worker to drain")
                self._stopping.set()
            for doc in answer["runs"]:
                self._start(RunContext.parse(doc))

    def _start(self, context: RunContext) -> None:
        held = _Held(context)
        self._held[context.run_id] = held
        held.task = asyncio.create_task(self._execute(held), name=f"run-{context.run_id}")

    async def _execute(self, held: _Held) -> None:
        context = held.context
        handler = self._handlers.get(context.type)
        outcome: dict[str, Any]
        try:
            if handler is None:
                raise LookupError(f"no handler for {context.type!r}")
            await handler(context)
            outcome = {}
        except asyncio.CancelledError:
            if held.lost:
                outcome = {"skip": True}
            elif held.cancelled_by_kairos:
                outcome = {"error": "cancelled"}
            else:
                outcome = {"error": "worker stopped during the attempt", "retry_after": 0}
        except Retry as retry:
            outcome = {"error": retry.reason, "retry_after": retry.after}
        except Exception as exc:
            outcome = {"error": f"{type(exc).__name__}: {exc}"[:2000] or type(exc).__name__}
        if outcome.pop("skip", False):
            self._release(context.run_id)
        else:
            assert self._outbox is not None
            self._outbox.put_nowait((context, outcome))

    def _release(self, run_id: str) -> None:
        self._held.pop(run_id, None)
        if self._slot is not None:
            self._slot.set()

    async def _reporter(self) -> None:
        """Send outcomes in batches (``POST /workers/{id}/report``): whatever finished
        while the previous batch was on the wire goes in the next. A batch is re-sent
        until Kairos answers; runs it reports lost (taken back) are simply dropped."""
        assert self._outbox is not None
        final = False
        while not final:
            first = await self._outbox.get()
            batch = [first]
            while not self._outbox.empty() and len(batch) < REPORT_BATCH:
                batch.append(self._outbox.get_nowait())
            final = None in batch
            items = [item for item in batch if item is not None]
            if items:
                await self._send(items)

    async def _send(self, items: list[tuple[RunContext, dict[str, Any]]]) -> None:
        body = {
            "outcomes": [
                {
                    "run_id": context.run_id,
                    "token": context.lease_token,
                    **{k: v for k, v in outcome.items() if v is not None},
                }
                for context, outcome in items
            ]
        }
        outage = _Outage(f"reporting {len(items)} outcome(s)")
        try:
            while True:
                try:
                    response = await self._call(f"/workers/{self.worker_id}/report", body)
                except httpx.TransportError as exc:
                    delay = outage.failed(str(exc))
                else:
                    if response.status_code < 500:
                        break
                    delay = outage.failed(_message(response))
                await asyncio.sleep(delay)
            outage.ok()
            if response.status_code >= 400:
                log.error("outcomes refused: %s", _message(response))
            else:
                for run_id in response.json().get("lost", []):
                    log.warning("run %s: lease lost before its outcome was recorded", run_id)
        finally:
            for context, _ in items:
                self._release(context.run_id)

    async def _beat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            await self.heartbeat()

    async def heartbeat(self) -> None:
        """One beat: extend leases, stop what Kairos cancelled or took back."""
        held = {
            run_id: h.context.lease_token
            for run_id, h in self._held.items()
            if not (h.lost or h.cancelled_by_kairos)
        }
        try:
            response = await self._call(
                f"/workers/{self.worker_id}/heartbeat", {"held": held, "lease": self.lease}
            )
        except httpx.TransportError as exc:
            self._beating.failed(str(exc))
            return
        if _unavailable(response):
            self._beating.failed(_message(response))
            return
        self._beating.ok()
        if response.status_code >= 400:
            log.warning("heartbeat refused: %s", _message(response))
            return
        answer = response.json()
        for run_id in answer.get("cancel", []):
            self._stop_run(run_id, lost=False)
        for run_id in answer.get("lost", []):
            self._stop_run(run_id, lost=True)
        if answer.get("drain") and self._stopping is not None:
            self._stopping.set()

    def _stop_run(self, run_id: str, *, lost: bool) -> None:
        held = self._held.get(run_id)
        if held is None or held.task is None or held.task.done():
            return
        held.lost = lost
        held.cancelled_by_kairos = not lost
        log.info("run %s %s; cancelling its handler", run_id, "lost" if lost else "cancelled")
        held.task.cancel()

    async def _drain(self) -> None:
        tasks = [h.task for h in self._held.values() if h.task is not None]
        if not tasks:
            return
        log.info("draining %d run(s) for up to %.0fs", len(tasks), self.grace)
        _, late = await asyncio.wait(tasks, timeout=self.grace)
        for task in late:
            task.cancel()  # reported as "worker stopped": retried at once elsewhere
        if late:
            await asyncio.wait(late)

    async def _deregister(self) -> None:
        if self.worker_id is None:
            return
        with contextlib.suppress(httpx.HTTPError):
            await self._call(f"/workers/{self.worker_id}/stop")


class _Outage:
    """One loop's trouble reaching Kairos: logged when it starts and when it ends, not
    per retry; pauses of 0.5 s doubling to 10 s, jittered."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0

    def failed(self, reason: str) -> float:
        if self.failures == 0:
            log.warning("%s: Kairos unavailable (%s); retrying with backoff", self.what, reason)
        delay: float = min(10.0, 0.5 * 2.0**self.failures)
        self.failures += 1
        return delay * (0.5 + random.random() / 2)

    def ok(self) -> None:
        if self.failures:
            log.info("%s: Kairos reachable again", self.what)
            self.failures = 0


def _unavailable(response: httpx.Response) -> bool:
    """A transient answer: Kairos (or a proxy before it) cannot serve right now."""
    return response.status_code in (429, 502, 503, 504)


def _raise_for(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise RuntimeError(f"Kairos answered {response.status_code}: {_message(response)}")


def _message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


async def _first(a: asyncio.Event, b: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)

"""A webhook receiver that answers 200 after a delay (3 s by default) and counts what it
received by ``webhook-id`` (the run id), so a harness can tell a delivered run from a
lost one and see redeliveries. Run alone it prints its port and serves until killed:

    python bench/slow_receiver.py [--delay 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SlowReceiver:
    delay: float = 3.0
    deliveries: Counter[str] = field(default_factory=Counter)  # webhook-id -> requests
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=256)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length, hook_id = 0, ""
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                    elif name.strip().lower() == "webhook-id":
                        hook_id = value.strip()
                await reader.readexactly(length)
                # Counted on arrival: a request the sender gave up on still reached us.
                self.deliveries[hook_id] += 1
                await asyncio.sleep(self.delay)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _main(delay: float) -> None:
    receiver = SlowReceiver(delay=delay)
    await receiver.start()
    print(receiver.port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=3.0)
    asyncio.run(_main(parser.parse_args().delay))

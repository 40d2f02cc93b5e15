"""How long the event loop went without running: the stall every ack and API answer waits behind.

A task asks to wake every 10 ms and records how late it woke. ``/healthz`` reports the worst stall
and how many exceeded 100 ms since start, so a load test (``bench/load.py``) or an operator can see
whether parsing, decoding or hashing ever held the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from aiohttp import web

INTERVAL = 0.01
STALL_MS = 100.0


@dataclass
class LoopMonitor:
    max_stall_ms: float = 0.0
    stalls_over_100ms: int = 0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(INTERVAL)
            late_ms = (loop.time() - before - INTERVAL) * 1000
            self.max_stall_ms = max(self.max_stall_ms, late_ms)
            if late_ms > STALL_MS:
                self.stalls_over_100ms += 1

    def report(self) -> dict[str, float | int]:
        return {"max_stall_ms": round(self.max_stall_ms, 1), "stalls_over_100ms": self.stalls_over_100ms}

    def install(self, app: web.Application) -> None:
        async def start(_: web.Application) -> None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="loop-monitor")

        async def stop(_: web.Application) -> None:
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

        app.on_startup.append(start)
        app.on_cleanup.append(stop)

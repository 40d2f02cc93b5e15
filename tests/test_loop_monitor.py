"""The loop monitor sees a stall that really happened."""

from __future__ import annotations

import asyncio
import time

from bot.http.loop_monitor import LoopMonitor


async def test_a_blocking_call_shows_up_as_a_stall() -> None:
    m = LoopMonitor()
    task = asyncio.get_running_loop().create_task(m._watch())
    await asyncio.sleep(0.05)
    time.sleep(0.15)  # hold the loop, as a parse on the loop would
    await asyncio.sleep(0.05)
    task.cancel()
    assert m.stalls_over_100ms == 1 and 120 <= m.max_stall_ms < 1000

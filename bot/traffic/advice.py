"""Advice only: no engine configured. The split is recorded and posted; nothing is pushed."""

from __future__ import annotations

import logging

from bot.traffic.protocol import Split

log = logging.getLogger(__name__)


class AdviceOnly:
    name = "advice"

    def __init__(self) -> None:
        self.applied: list[Split] = []

    async def apply(self, split: Split) -> None:
        self.applied.append(split)
        log.info("traffic advice: %s %s → %g%% (%s)", split.release, split.phase, split.percent, split.reason)

"""Where the Canary and Global gates get their numbers: the ``MetricsSource`` seam.

The gates (``gates.canary.evaluate_canary`` / ``evaluate_global``) take a
:class:`~gates.metrics.CohortPair` and never ask where it came from. This module is the one place
that decides: a source answers two questions for a release over a window, "what did each arm
report?" (:meth:`MetricsSource.cohorts`) and "how did p75 move over time?"
(:meth:`MetricsSource.p75_series`, for the chart).

Today the answer is our own database, filled by ``POST /api/v1/metrics`` and
``releasegate metrics import-lighthouse`` (:class:`DatabaseMetricsSource`). A Prometheus or
warehouse source is a new file beside this one (``bot/metrics_prometheus.py`` with a class that
has these two methods, turning PromQL/SQL results into a ``CohortPair``) plus one branch in
:func:`make_metrics_source` keyed on a setting; the gates, the lifecycle and the charts stay as
they are. :class:`NullMetricsSource` reports nothing, which every traffic gate judges
inconclusive, never passed.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from gates.metrics import CohortData, CohortPair, Window
from storage.metrics import MetricsStore, Series


class MetricsSource(Protocol):
    async def cohorts(self, release: str, window: Window, *, metrics: Collection[str] | None = None) -> CohortPair:
        """Both arms over ``window``; ``metrics`` names the vitals wanted (``None``: all)."""
        ...

    async def p75_series(self, release: str, metric: str, window: Window, buckets: int) -> Series:
        """p75 of ``metric`` per arm in ``buckets`` equal slices of ``window``."""
        ...


class DatabaseMetricsSource:
    """Samples ingested into our own ``metric_samples`` table."""

    def __init__(self, store: MetricsStore) -> None:
        self.store = store

    async def cohorts(self, release: str, window: Window, *, metrics: Collection[str] | None = None) -> CohortPair:
        return await self.store.cohorts(release, window.start, window.end, metrics=metrics)

    async def p75_series(self, release: str, metric: str, window: Window, buckets: int) -> Series:
        return await self.store.p75_series(release, metric, window.start, window.end, buckets)


class NullMetricsSource:
    """No metrics at all: every traffic gate comes out inconclusive (too few samples)."""

    async def cohorts(self, release: str, window: Window, *, metrics: Collection[str] | None = None) -> CohortPair:
        return CohortPair(CohortData(), CohortData())

    async def p75_series(self, release: str, metric: str, window: Window, buckets: int) -> Series:
        width = (window.end - window.start) / max(buckets, 1)
        times: list[datetime] = [window.start + width * i for i in range(buckets)]
        return Series(times, [None] * buckets, [None] * buckets)


def make_metrics_source(settings: Settings, engine: AsyncEngine) -> MetricsSource:
    """The source the settings ask for. Only the database exists yet, so ``settings`` is unused
    until a second source brings its own setting (e.g. ``RELEASEGATE_METRICS_SOURCE``)."""
    del settings
    return DatabaseMetricsSource(MetricsStore(engine))

"""Storage of ingested metric samples, and the reads the Canary/Global gates and charts need.

Writes are the hot path (``POST /api/v1/metrics`` takes batches of up to 10,000 items, and the
benchmark pushes a million): every batch is one transaction of driver-level ``executemany``
calls with a statement compiled once per engine, because SQLAlchemy's per-row parameter
processing would otherwise cost more than the database itself.

Reads return only what a verdict needs: vitals as numpy arrays per (cohort, metric) and counters
summed per (cohort, region) by the database, so evaluating a window of a million samples never
builds a million Python objects beyond the one float each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

import numpy as np
from sqlalchemy import ColumnElement, Float, and_, bindparam, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import col

from gates.metrics import (
    COHORTS,
    CohortData,
    CohortPair,
    Counters,
    CounterSample,
    FloatArray,
    MetricSample,
    dedupe_vitals,
)
from storage.models import MetricSampleRow, Release

TABLE: Final = MetricSampleRow.__table__  # type: ignore[attr-defined]
C: Final = TABLE.c

# Rows per executemany call: large enough that per-call overhead (a thread hop on aiosqlite, a
# pipeline flush on asyncpg) vanishes, small enough that one call never holds the GIL-free
# database thread for long.
CHUNK: Final = 5000

# Column order of the compiled insert; the tuples built in `_rows` follow it.
INSERT_COLUMNS: Final = (
    "release",
    "cohort",
    "region",
    "page",
    "kind",
    "name",
    "value",
    "sample_id",
    "rating",
    "delta",
    "navigation_type",
    "source",
    "received_at",
)
# On a re-reported web-vitals id the latest report wins entirely (value, delta, rating, ...).
_UPSERT_SET: Final = ("region", "page", "value", "rating", "delta", "navigation_type", "source", "received_at")
_CONFLICT: Final = ("release", "name", "cohort", "sample_id")
# Postgres plans the window reads from table statistics. A table that went from empty to a
# million rows in minutes (a canary's first half hour, or autovacuum turned off) still has the
# statistics of an empty one, and the planner then walks the index with a heap fetch per row and
# sorts a million rows on disk: 4-6 s instead of a 0.4 s sequential scan. So the store refreshes
# the statistics itself after this many new rows; ANALYZE samples 30,000 rows, ~0.1 s.
ANALYZE_EVERY: Final = 200_000

Sample = MetricSample | CounterSample

# Where a sample came from, in order of preference: real users, then Lighthouse imports.
SOURCES: Final = ("rum", "lab")


class Series(NamedTuple):
    """p75 per time bucket for the chart (``bot.artifacts.charts.p75_over_time_png`` takes it as is).

    ``None`` marks a bucket in which that arm had no samples; the chart draws a gap, not a zero.
    """

    times: list[datetime]  # bucket starts
    canary_p75: list[float | None]
    baseline_p75: list[float | None]


def p75(values: FloatArray) -> float:
    # "inverted_cdf" is the ceil(0.75·n)-th order statistic, the same definition the
    # lcp_p75/inp_p75 verdicts use, so the chart and the gate table never disagree.
    return float(np.quantile(values, 0.75, method="inverted_cdf"))


def _upsert_sql(engine: AsyncEngine) -> tuple[str, tuple[str, ...]]:
    """The dialect's INSERT … ON CONFLICT text and the order its positional parameters expect."""
    dialect = engine.dialect
    ins: Any = sqlite.insert(TABLE) if dialect.name == "sqlite" else postgresql.insert(TABLE)
    # inline(): no implicit RETURNING of the new ids, which executemany would only throw away.
    stmt = ins.values(**{name: bindparam(name, type_=C[name].type) for name in INSERT_COLUMNS}).inline()
    stmt = stmt.on_conflict_do_update(
        index_elements=[C[n] for n in _CONFLICT],
        index_where=C.sample_id.isnot(None),
        set_={n: stmt.excluded[n] for n in _UPSERT_SET},
    )
    compiled = stmt.compile(dialect=dialect)
    order = tuple(compiled.positiontup or ())
    if dialect.name == "sqlite" or order:
        return str(compiled), order
    raise RuntimeError(f"unsupported paramstyle {dialect.paramstyle!r} for the metrics insert")


class MetricsStore:
    """Insert and read metric samples. Safe to share; every call takes its own connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sql, order = _upsert_sql(engine)
        # Map the compiled statement's parameter order onto our fixed tuple layout once.
        self._reorder = [INSERT_COLUMNS.index(n) for n in order] if order else list(range(len(INSERT_COLUMNS)))
        # dialect_impl: on SQLite the text format comes from the dialect's DATETIME, not the
        # generic type; binding a datetime raw would store a format that compares differently.
        proc = C.received_at.type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
        self._ts: Callable[[datetime], Any] = proc if proc is not None else (lambda v: v)
        self._since_analyze = 0
        # SQLite has one writer. Without this, concurrent batches each take a pooled connection
        # and spin in SQLite's busy handler (sleeping in steps of up to 100 ms); queued here they
        # wait without a connection while the event loop parses and validates the next batch.
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    # -- writes ----------------------------------------------------------------------------

    def _rows(self, samples: Iterable[Sample], received_at: Any, source: str) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        identity = self._reorder == list(range(len(INSERT_COLUMNS)))
        for s in samples:
            if isinstance(s, MetricSample):
                row: tuple[Any, ...] = (
                    s.release,
                    s.cohort,
                    s.region,
                    s.page,
                    "vital",
                    s.name,
                    s.value,
                    s.id,
                    s.rating,
                    s.delta,
                    s.navigation_type,
                    source,
                    received_at,
                )
            else:
                row = (
                    s.release,
                    s.cohort,
                    s.region,
                    s.page,
                    "counter",
                    s.name,
                    float(s.value),
                    None,
                    None,
                    None,
                    None,
                    source,
                    received_at,
                )
            append(row if identity else tuple(row[i] for i in self._reorder))
        return rows

    async def insert(self, accepted: Sequence[Sample], received_at: datetime, source: str = "rum") -> int:
        """Store one batch in one transaction; a re-reported web-vitals id keeps its latest value.

        Returns the number of samples written (after collapsing duplicate ids within the batch).
        """
        if received_at.tzinfo is None:
            raise ValueError("received_at must be an aware datetime")
        # Postgres refuses an ON CONFLICT DO UPDATE that touches one row twice in a statement,
        # and in any case only the last report of an id matters.
        samples = dedupe_vitals(accepted)
        if not samples:
            return 0
        rows = self._rows(samples, self._ts(received_at), source)
        async with self._write_lock or contextlib.nullcontext(), self.engine.begin() as conn:
            for i in range(0, len(rows), CHUNK):
                await conn.exec_driver_sql(self._sql, rows[i : i + CHUNK])
        if self.engine.dialect.name == "postgresql":
            self._since_analyze += len(rows)
            if self._since_analyze >= ANALYZE_EVERY:
                self._since_analyze = 0
                await self.analyze()
        return len(rows)

    async def analyze(self) -> None:
        """Refresh the planner's statistics for the samples table (Postgres; a no-op elsewhere)."""
        if self.engine.dialect.name != "postgresql":
            return
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE metric_samples")

    # -- reads -----------------------------------------------------------------------------

    @staticmethod
    def _window(release: str, start: datetime, end: datetime) -> ColumnElement[bool]:
        return and_(C.release == release, C.received_at >= start, C.received_at < end)

    async def cohorts(
        self, release: str, start: datetime, end: datetime, *, metrics: Collection[str] | None = None
    ) -> CohortPair:
        """Both arms over ``[start, end)``. ``metrics`` limits which vitals are loaded (default all).

        Each vital is judged on real-user samples when the window has any, and on lab samples
        (Lighthouse imports) only when it has none: one emulated device must not dilute, or stand
        in for part of, the audience.
        """
        where = self._window(release, start, end)
        async with self.engine.connect() as conn:
            if metrics is None:
                found = await conn.execute(select(C.name).where(where, C.kind == "vital").distinct())
                metrics = [str(n) for n in found.scalars()]
            vitals: dict[str, dict[str, FloatArray]] = {c: {} for c in COHORTS}
            sources: dict[str, str] = {}
            wanted = sorted(metrics)
            for source in SOURCES:
                if not wanted:
                    break
                loaded = await self._vitals(conn, release, start, end, wanted, source)
                for name in wanted:
                    if any(name in loaded[c] for c in COHORTS):
                        sources[name] = source
                        for c in COHORTS:
                            if name in loaded[c]:
                                vitals[c][name] = loaded[c][name]
                wanted = [n for n in wanted if n not in sources]
            counter_rows = await conn.execute(
                select(C.cohort, C.region, C.name, func.sum(C.value))
                .where(where, C.kind == "counter")
                .group_by(C.cohort, C.region, C.name)
            )
            regions: dict[str, dict[str, Counters]] = {c: {} for c in COHORTS}
            for cohort, region, name, total in counter_rows:
                if cohort in regions:
                    arm = regions[cohort]
                    arm[region] = arm.get(region, Counters()).add(name, round(total))
        return CohortPair(
            canary=CohortData(vitals=vitals["canary"], regions=regions["canary"]),
            baseline=CohortData(vitals=vitals["baseline"], regions=regions["baseline"]),
            sources=sources,
        )

    async def _vitals(
        self, conn: AsyncConnection, release: str, start: datetime, end: datetime, metrics: Sequence[str], source: str
    ) -> dict[str, dict[str, FloatArray]]:
        """cohort → metric → values of one source over the window (arms with no values left out)."""
        out: dict[str, dict[str, FloatArray]] = {c: {} for c in COHORTS}
        if conn.dialect.name == "postgresql":
            # One scan, and asyncpg decodes each float8[] in C: 2-3x faster than a row per value.
            result = await conn.execute(
                select(C.cohort, C.name, func.array_agg(C.value))
                .where(
                    self._window(release, start, end),
                    C.kind == "vital",
                    C.source == source,
                    C.name.in_(sorted(metrics)),
                )
                .group_by(C.cohort, C.name)
            )
            for cohort, name, values in result:
                if cohort in out:
                    out[cohort][name] = np.asarray(values, dtype=np.float64)
            return out
        # SQLite has no array aggregate (group_concat round-trips every float through text, slower
        # than rows), so one query per (cohort, metric), each a range read of the covering index.
        for cohort in COHORTS:
            for name in metrics:
                rows = await self._sqlite_rows(conn, "value", release, name, cohort, start, end, source)
                if rows:
                    out[cohort][name] = np.fromiter((r[0] for r in rows), np.float64, len(rows))
        return out

    async def _sqlite_rows(
        self,
        conn: AsyncConnection,
        columns: str,
        release: str,
        name: str,
        cohort: str,
        start: datetime,
        end: datetime,
        source: str,
    ) -> list[tuple[Any, ...]]:
        """One arm's vital rows straight from the driver.

        SQLAlchemy's per-row Result processing costs about 2 µs a row against SQLite's own
        0.7 µs, which alone would blow the gates' budget at a million samples. ``columns`` is
        one of our own constant expressions, never user input.
        """
        sql = (
            f"SELECT {columns} FROM metric_samples WHERE release = ? AND kind = 'vital' AND name = ? "
            "AND cohort = ? AND source = ? AND received_at >= ? AND received_at < ?"
        )
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        rows = await driver.execute_fetchall(sql, (release, name, cohort, source, self._ts(start), self._ts(end)))
        return list(rows)

    async def p75_series(self, release: str, metric: str, start: datetime, end: datetime, buckets: int) -> Series:
        """p75 of ``metric`` for each arm in ``buckets`` equal slices of ``[start, end)``."""
        if buckets < 1:
            raise ValueError("buckets must be at least 1")
        if end <= start:
            raise ValueError("the series window must end after it starts")
        width = (end - start) / buckets
        arms: dict[str, tuple[FloatArray, FloatArray]] = {}
        async with self.engine.connect() as conn:
            # The same source the verdict used (see cohorts): real users if any, else lab runs.
            for source in SOURCES:
                arms = await self._timed_values(conn, release, metric, start, end, source)
                if arms:
                    break
        times = [start + width * i for i in range(buckets)]
        origin = start.astimezone(UTC).timestamp()
        out: dict[str, list[float | None]] = {}
        for cohort in COHORTS:
            secs, values = arms.get(cohort, (np.empty(0), np.empty(0)))
            # Clip: a float epoch exactly on the window's edges may land a hair outside it.
            bucket = np.clip(np.floor((secs - origin) / width.total_seconds()).astype(np.int64), 0, buckets - 1)
            order = np.argsort(bucket, kind="stable")
            bucket, values = bucket[order], values[order]
            bounds = np.searchsorted(bucket, np.arange(buckets + 1))
            slices = [values[bounds[i] : bounds[i + 1]] for i in range(buckets)]
            out[cohort] = [p75(v) if v.size else None for v in slices]
        return Series(times, out["canary"], out["baseline"])

    async def _timed_values(
        self, conn: AsyncConnection, release: str, metric: str, start: datetime, end: datetime, source: str
    ) -> dict[str, tuple[FloatArray, FloatArray]]:
        """cohort → (epoch seconds, values) of one metric and source over the window."""
        arms: dict[str, tuple[FloatArray, FloatArray]] = {}
        if conn.dialect.name == "postgresql":
            epoch = cast(func.extract("epoch", C.received_at), Float)
            result = await conn.execute(
                select(C.cohort, func.array_agg(epoch), func.array_agg(C.value))
                .where(self._window(release, start, end), C.kind == "vital", C.name == metric, C.source == source)
                .group_by(C.cohort)
            )
            for cohort, secs, values in result:
                arms[cohort] = (np.asarray(secs, np.float64), np.asarray(values, np.float64))
            return arms
        # SQLite keeps UTCDateTime as naive UTC text; julianday parses it in C (to the millisecond,
        # which only matters for a row stamped exactly on a bucket edge).
        for cohort in COHORTS:
            rows = await self._sqlite_rows(
                conn,
                "(julianday(received_at) - 2440587.5) * 86400.0, value",
                release,
                metric,
                cohort,
                start,
                end,
                source,
            )
            if rows:
                table = np.array(rows, dtype=np.float64).reshape(-1, 2)
                arms[cohort] = (table[:, 0], table[:, 1])
        return arms

    async def known_releases(self, names: Collection[str]) -> set[str]:
        """Which of ``names`` the releases table knows (any attempt, any state).

        Asks only about the names a batch mentions, so validating a batch costs one indexed
        lookup however many releases the database holds.
        """
        wanted = sorted({n for n in names if isinstance(n, str)})
        if not wanted:
            return set()
        async with self.engine.connect() as conn:
            name = col(Release.name)
            result = await conn.execute(select(name).where(name.in_(wanted)).distinct())
            return {str(n) for n in result.scalars()}

    async def counts(self, release: str) -> dict[str, dict[str, int]]:
        """Rows stored per cohort and metric name (counters: rows, not their sum)."""
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(C.cohort, C.name, func.count()).where(C.release == release).group_by(C.cohort, C.name)
            )
            out: dict[str, dict[str, int]] = {}
            for cohort, name, n in result:
                out.setdefault(str(cohort), {})[str(name)] = int(n)
        return out

    async def delete_release(self, release: str) -> int:
        """Forget a release's samples (retention, or a re-run that should start clean)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(TABLE.delete().where(C.release == release))
            return int(result.rowcount or 0)


def window_buckets(start: datetime, end: datetime, step: timedelta) -> int:
    """How many buckets of about ``step`` fit the window (at least one), for callers sizing a chart."""
    return max(1, round((end - start) / step))

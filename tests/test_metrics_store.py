"""MetricsStore on SQLite and on the real PostgreSQL server (the ``db_url`` fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bot.metrics.source import DatabaseMetricsSource, NullMetricsSource
from gates.metrics import Counters, CounterSample, MetricSample, Window
from storage.db import make_engine, upgrade
from storage.metrics import MetricsStore

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
async def metrics(db_url: str) -> AsyncIterator[MetricsStore]:
    engine = make_engine(db_url)
    await upgrade(engine)
    yield MetricsStore(engine)
    await engine.dispose()


def lcp(
    value: float, ident: str, cohort: str = "canary", release: str = "summer-hero", region: str = "eu"
) -> MetricSample:
    return MetricSample("LCP", value, ident, release, cohort, region)  # type: ignore[arg-type]


def counter(name: str, value: int, cohort: str = "canary", region: str = "eu") -> CounterSample:
    return CounterSample(name, value, "summer-hero", cohort, region)  # type: ignore[arg-type]


async def test_reported_again_keeps_latest(metrics: MetricsStore) -> None:
    assert await metrics.insert([lcp(1000, "v1"), lcp(1200, "v2")], T0) == 2
    # web-vitals re-sends v1 as LCP grows; within a batch and across batches only the last counts.
    assert await metrics.insert([lcp(1500, "v1"), lcp(1800, "v1")], T0 + MIN) == 1
    assert await metrics.insert([lcp(2100, "v1")], T0 + 2 * MIN) == 1
    pair = await metrics.cohorts("summer-hero", T0, T0 + 10 * MIN)
    assert sorted(pair.canary.values("LCP").tolist()) == [1200.0, 2100.0]
    assert await metrics.counts("summer-hero") == {"canary": {"LCP": 2}}


async def test_same_id_in_other_release_or_cohort_is_another_sample(metrics: MetricsStore) -> None:
    await metrics.insert([lcp(1000, "v1"), lcp(1100, "v1", release="other")], T0)
    await metrics.insert([lcp(1200, "v1", cohort="baseline")], T0)
    pair = await metrics.cohorts("summer-hero", T0, T0 + MIN)
    assert pair.canary.values("LCP").tolist() == [1000.0]
    assert pair.baseline.values("LCP").tolist() == [1200.0]


async def test_counters_add_up_and_never_dedupe(metrics: MetricsStore) -> None:
    batch = [
        counter("requests", 100),
        counter("requests", 100),
        counter("errors", 3),
        counter("requests", 50, region="us"),
        counter("cache_hit", 90),
        counter("cache_miss", 10),
        counter("requests", 70, cohort="baseline"),
    ]
    assert await metrics.insert(batch, T0) == len(batch)
    pair = await metrics.cohorts("summer-hero", T0, T0 + MIN)
    assert pair.canary.regions == {
        "eu": Counters(requests=200, errors=3, cache_hit=90, cache_miss=10),
        "us": Counters(requests=50),
    }
    assert pair.canary.counters.requests == 250
    assert pair.baseline.regions == {"eu": Counters(requests=70)}


async def test_window_is_start_inclusive_end_exclusive(metrics: MetricsStore) -> None:
    await metrics.insert([lcp(1, "before")], T0 - timedelta(microseconds=1))
    await metrics.insert([lcp(2, "at-start"), counter("requests", 5)], T0)
    await metrics.insert([lcp(3, "inside")], T0 + 29 * MIN)
    await metrics.insert([lcp(4, "at-end"), counter("requests", 7)], T0 + 30 * MIN)
    await metrics.insert([lcp(5, "other", release="other-release")], T0 + MIN)
    pair = await metrics.cohorts("summer-hero", T0, T0 + 30 * MIN)
    assert sorted(pair.canary.values("LCP").tolist()) == [2.0, 3.0]
    assert pair.canary.counters.requests == 5
    assert pair.baseline.values("LCP").size == 0


async def test_metrics_filter_loads_only_named_vitals(metrics: MetricsStore) -> None:
    inp = MetricSample("INP", 80, "i1", "summer-hero", "canary")
    await metrics.insert([lcp(1000, "v1"), inp], T0)
    only_inp = await metrics.cohorts("summer-hero", T0, T0 + MIN, metrics=["INP"])
    assert set(only_inp.canary.vitals) == {"INP"}
    everything = await metrics.cohorts("summer-hero", T0, T0 + MIN)
    assert set(everything.canary.vitals) == {"INP", "LCP"}


async def test_p75_series_buckets(metrics: MetricsStore) -> None:
    # Bucket 0: canary 1..4 (p75 = 3rd of 4 = 3), baseline 10..13; bucket 1 empty; bucket 2 canary only.
    for i, v in enumerate([1.0, 2.0, 3.0, 4.0]):
        await metrics.insert([lcp(v, f"c{i}"), lcp(v + 9, f"b{i}", cohort="baseline")], T0 + timedelta(seconds=10 * i))
    await metrics.insert([lcp(50, "late")], T0 + 25 * MIN)
    times, canary, baseline = await metrics.p75_series("summer-hero", "LCP", T0, T0 + 30 * MIN, 3)
    assert times == [T0, T0 + 10 * MIN, T0 + 20 * MIN]
    assert canary == [3.0, None, 50.0]
    assert baseline == [12.0, None, None]
    # The p75 definition matches the gate's: the ceil(0.75 n)-th order statistic.
    assert canary[0] == float(np.sort([1, 2, 3, 4])[int(np.ceil(0.75 * 4)) - 1])


async def test_p75_series_empty_and_bad_arguments(metrics: MetricsStore) -> None:
    times, canary, baseline = await metrics.p75_series("nothing", "LCP", T0, T0 + 4 * MIN, 4)
    assert len(times) == 4 and canary == [None] * 4 and baseline == [None] * 4
    with pytest.raises(ValueError):
        await metrics.p75_series("nothing", "LCP", T0, T0 + MIN, 0)
    with pytest.raises(ValueError):
        await metrics.p75_series("nothing", "LCP", T0, T0, 3)


async def test_large_batch_spans_chunks_in_one_call(metrics: MetricsStore) -> None:
    n = 12_345
    rng = np.random.default_rng(7)
    values = rng.lognormal(7.5, 0.4, n)
    batch = [lcp(float(v), f"id{i}", cohort="canary" if i % 2 else "baseline") for i, v in enumerate(values)]
    assert await metrics.insert(batch, T0) == n
    pair = await metrics.cohorts("summer-hero", T0, T0 + MIN)
    got = np.sort(np.concatenate([pair.canary.values("LCP"), pair.baseline.values("LCP")]))
    assert np.array_equal(got, np.sort(values))  # floats round-trip exactly


async def test_naive_time_refused_and_empty_batch(metrics: MetricsStore) -> None:
    with pytest.raises(ValueError):
        await metrics.insert([lcp(1, "x")], datetime(2025, 1, 1))
    assert await metrics.insert([], T0) == 0


async def test_database_source_and_null_source(metrics: MetricsStore) -> None:
    await metrics.insert([lcp(900, "v1"), lcp(950, "v2", cohort="baseline")], T0)
    window = Window(T0, T0 + 10 * MIN)
    pair = await DatabaseMetricsSource(metrics).cohorts("summer-hero", window)
    assert pair.canary.values("LCP").tolist() == [900.0]
    series = await DatabaseMetricsSource(metrics).p75_series("summer-hero", "LCP", window, 2)
    assert series.canary_p75 == [900.0, None] and series.baseline_p75 == [950.0, None]
    empty = await NullMetricsSource().cohorts("summer-hero", window)
    assert empty.canary.values("LCP").size == 0 and empty.baseline.counters == Counters()
    assert (await NullMetricsSource().p75_series("summer-hero", "LCP", window, 2)).canary_p75 == [None, None]


async def test_lab_samples_are_used_only_where_no_real_user_sample_exists(metrics: MetricsStore) -> None:
    # Lighthouse runs for both arms: LCP and INP (TBT stand-in) from one emulated device.
    lab = [
        lcp(4000, "lh-c"),
        lcp(3900, "lh-b", cohort="baseline"),
        MetricSample("INP", 600, "lh-ci", "summer-hero", "canary", "lab"),  # type: ignore[arg-type]
        MetricSample("INP", 550, "lh-bi", "summer-hero", "baseline", "lab"),
    ]  # type: ignore[arg-type]
    await metrics.insert(lab, T0, source="lab")
    lab_only = await metrics.cohorts("summer-hero", T0, T0 + MIN)
    assert lab_only.sources == {"INP": "lab", "LCP": "lab"}
    assert lab_only.canary.values("LCP").tolist() == [4000.0]
    # Real users arrive for LCP: from then on LCP is judged on them alone, INP still on the lab runs.
    await metrics.insert([lcp(1200, "r1"), lcp(1100, "r2", cohort="baseline")], T0)
    mixed = await metrics.cohorts("summer-hero", T0, T0 + MIN)
    assert mixed.sources == {"INP": "lab", "LCP": "rum"}
    assert mixed.canary.values("LCP").tolist() == [1200.0]
    assert mixed.baseline.values("LCP").tolist() == [1100.0]
    assert mixed.canary.values("INP").tolist() == [600.0]
    series = await metrics.p75_series("summer-hero", "LCP", T0, T0 + MIN, 1)
    assert series.canary_p75 == [1200.0] and series.baseline_p75 == [1100.0]
    lab_series = await metrics.p75_series("summer-hero", "INP", T0, T0 + MIN, 1)
    assert lab_series.canary_p75 == [600.0]

"""Real-user metric inputs for the Canary and Global gates, and validation of one ingested item.

The HTTP API (``POST /api/v1/metrics``) calls :func:`validate_item` for every item of a batch,
stores what it returns when that is a sample, and reports the :class:`Rejected` reason otherwise:
one bad item never sinks the batch. The gates never see raw JSON; they get a :class:`CohortPair`
of numpy arrays and counters built by the storage layer (or by :meth:`CohortData.from_samples`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

VitalName = Literal["LCP", "INP", "CLS", "FCP", "TTFB"]
CounterName = Literal["requests", "errors", "cache_hit", "cache_miss"]
CohortName = Literal["canary", "baseline"]

VITAL_NAMES: Final[tuple[VitalName, ...]] = ("LCP", "INP", "CLS", "FCP", "TTFB")
COUNTER_NAMES: Final[tuple[CounterName, ...]] = ("requests", "errors", "cache_hit", "cache_miss")
COHORTS: Final[tuple[CohortName, ...]] = ("canary", "baseline")
RATINGS: Final[frozenset[str]] = frozenset({"good", "needs-improvement", "poor"})

# Region assigned to items that do not say where they came from; the regional gate still
# counts them, so an untagged collector cannot hide errors.
UNKNOWN_REGION: Final = "unknown"

_MAX_TEXT = 256
# web-vitals counts are per page load or per edge log line; anything above this is a bug in
# the sender, and would overflow a 64-bit SUM after a few million rows.
_MAX_COUNT = 10**12

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Window:
    """The observation window, ``start`` inclusive to ``end`` exclusive, both passed in."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"window ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})")

    def observed(self, now: datetime) -> timedelta:
        """How long we have actually watched: a window reaching into the future counts up to now."""
        end = min(self.end, now)
        return max(end - self.start, timedelta(0))

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class MetricSample:
    """One web-vitals measurement (or a lab value imported from Lighthouse)."""

    name: VitalName
    value: float
    id: str
    release: str
    cohort: CohortName
    region: str = UNKNOWN_REGION
    page: str | None = None
    rating: str | None = None
    delta: float | None = None
    navigation_type: str | None = None


@dataclass(frozen=True)
class CounterSample:
    """A count of requests, errors, cache hits or cache misses over some interval."""

    name: CounterName
    value: int
    release: str
    cohort: CohortName
    region: str = UNKNOWN_REGION
    page: str | None = None


@dataclass(frozen=True)
class Rejected:
    """Why one ingested item was refused; ``field`` names the offending key when there is one."""

    reason: str
    field: str | None = None

    def __str__(self) -> str:
        return self.reason


Parsed = MetricSample | CounterSample


@dataclass(frozen=True)
class Counters:
    requests: int = 0
    errors: int = 0
    cache_hit: int = 0
    cache_miss: int = 0

    def __add__(self, other: Counters) -> Counters:
        return Counters(
            self.requests + other.requests,
            self.errors + other.errors,
            self.cache_hit + other.cache_hit,
            self.cache_miss + other.cache_miss,
        )

    def add(self, name: CounterName, value: int) -> Counters:
        d = self.to_dict()
        d[name] += value
        return Counters(**d)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def lookups(self) -> int:
        return self.cache_hit + self.cache_miss

    @property
    def hit_rate(self) -> float | None:
        return self.cache_hit / self.lookups if self.lookups else None

    def to_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "cache_hit": self.cache_hit,
            "cache_miss": self.cache_miss,
        }


def _empty() -> FloatArray:
    return np.empty(0, dtype=np.float64)


@dataclass(frozen=True)
class CohortData:
    """Everything one arm (canary or baseline) reported in the window.

    ``vitals`` maps a metric name to its values (ms for timings, unitless for CLS), in any order.
    ``regions`` holds the counters per region; the totals are derived from them so the two can
    never disagree.
    """

    vitals: Mapping[str, FloatArray] = field(default_factory=dict)
    regions: Mapping[str, Counters] = field(default_factory=dict)

    def values(self, name: str) -> FloatArray:
        return self.vitals.get(name, _empty())

    @property
    def counters(self) -> Counters:
        total = Counters()
        for c in self.regions.values():
            total = total + c
        return total

    @classmethod
    def from_samples(cls, samples: Iterable[Parsed]) -> CohortData:
        """Build one arm from parsed samples (tests, the Lighthouse import, small sources)."""
        vitals: dict[str, list[float]] = {}
        regions: dict[str, Counters] = {}
        for s in samples:
            if isinstance(s, MetricSample):
                vitals.setdefault(s.name, []).append(s.value)
            else:
                regions[s.region] = regions.get(s.region, Counters()).add(s.name, s.value)
        return cls(
            vitals={k: np.asarray(v, dtype=np.float64) for k, v in vitals.items()},
            regions=regions,
        )


@dataclass(frozen=True)
class CohortPair:
    """The canary arm and the concurrent baseline arm over the same window."""

    canary: CohortData
    baseline: CohortData
    # Where each vital's numbers come from: "rum" (real users) or "lab" (Lighthouse imports). The
    # two are never mixed in one comparison; a metric not listed is real-user data.
    sources: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_samples(cls, samples: Iterable[Parsed]) -> CohortPair:
        items = list(samples)
        return cls(
            canary=CohortData.from_samples(s for s in items if s.cohort == "canary"),
            baseline=CohortData.from_samples(s for s in items if s.cohort == "baseline"),
        )


def dedupe_vitals(samples: Iterable[Parsed]) -> list[Parsed]:
    """Keep the last report of each web-vitals ``id``.

    The web-vitals library re-reports a metric under the same id as it changes (LCP grows, INP
    worsens, CLS accumulates); only the latest value describes the page load. Counters are not
    deduplicated: each one is an increment.
    """
    latest: dict[tuple[str, str, str], int] = {}
    items = list(samples)
    for i, s in enumerate(items):
        if isinstance(s, MetricSample):
            latest[(s.release, s.name, s.id)] = i
    keep = set(latest.values())
    return [s for i, s in enumerate(items) if not isinstance(s, MetricSample) or i in keep]


# --- validation ---------------------------------------------------------------------------


class _Reject(Exception):
    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def _text(item: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    v = item.get(key)
    if v is None:
        if required:
            raise _Reject(f"missing {key}", key)
        return None
    if not isinstance(v, str) or not v.strip():
        raise _Reject(f"{key} must be a non-empty string", key)
    if len(v) > _MAX_TEXT:
        raise _Reject(f"{key} is longer than {_MAX_TEXT} characters", key)
    if "\x00" in v:
        # PostgreSQL text cannot hold NUL; SQLite would store it and make the row unreadable elsewhere.
        raise _Reject(f"{key} contains a NUL character", key)
    return v


def _number(item: Mapping[str, Any], key: str) -> float:
    v = item.get(key)
    # bool is an int subclass, and JSON true/false is never a measurement.
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _Reject(f"{key} must be a number, got {type(v).__name__}", key)
    if isinstance(v, int) and abs(v) > 10**18:
        # float() of a several-hundred-digit int raises OverflowError; no measurement is this large.
        # bit_length, not str(): converting a huge int to text is refused by Python itself.
        raise _Reject(f"{key} is implausibly large (about {int(v.bit_length() * 0.30103) + 1} digits)", key)
    f = float(v)
    if not math.isfinite(f):
        raise _Reject(f"{key} must be finite, got {v!r}", key)
    return f


def _vital(
    item: Mapping[str, Any], name: VitalName, release: str, cohort: CohortName, region: str, page: str | None
) -> MetricSample:
    value = _number(item, "value")
    if value < 0:
        raise _Reject(f"{name} value must be ≥ 0, got {value:g}", "value")
    ident = _text(item, "id", required=True)
    assert ident is not None
    rating = _text(item, "rating", required=False)
    if rating is not None and rating not in RATINGS:
        raise _Reject(f"rating must be one of {', '.join(sorted(RATINGS))}, got {rating!r}", "rating")
    delta = _number(item, "delta") if item.get("delta") is not None else None
    nav = _text(item, "navigationType", required=False)
    return MetricSample(name, value, ident, release, cohort, region, page, rating, delta, nav)


def _counter(
    item: Mapping[str, Any], name: CounterName, release: str, cohort: CohortName, region: str, page: str | None
) -> CounterSample:
    value = _number(item, "value")
    if value < 0:
        raise _Reject(f"{name} count must be ≥ 0, got {value:g}", "value")
    if not value.is_integer():
        raise _Reject(f"{name} is a count and must be a whole number, got {value:g}", "value")
    if value > _MAX_COUNT:
        raise _Reject(f"{name} count {value:g} is implausibly large (max {_MAX_COUNT:g})", "value")
    return CounterSample(name, int(value), release, cohort, region, page)


def validate_item(item: object, known_releases: Collection[str] | None = None) -> Parsed | Rejected:
    """Parse one ingested item, or say why it is refused.

    ``known_releases`` is the set of release names the database knows; ``None`` skips that
    check (e.g. a Lighthouse import for a release that is being created). Unknown keys are
    ignored because web-vitals objects carry ``entries``/``attribution`` we do not store.
    """
    try:
        if not isinstance(item, Mapping):
            raise _Reject(f"item must be a JSON object, got {type(item).__name__}")
        name = item.get("name")
        if not isinstance(name, str):
            raise _Reject("missing metric name", "name")
        release = _text(item, "release", required=True)
        assert release is not None
        if known_releases is not None and release not in known_releases:
            raise _Reject(f"unknown release {release!r}", "release")
        cohort = item.get("cohort")
        if cohort is None:
            raise _Reject("missing cohort (canary or baseline)", "cohort")
        if cohort not in COHORTS:
            raise _Reject(f"cohort must be canary or baseline, got {cohort!r}", "cohort")
        region = _text(item, "region", required=False) or UNKNOWN_REGION
        page = _text(item, "page", required=False)
        if name in VITAL_NAMES:
            return _vital(item, name, release, cohort, region, page)
        if name in COUNTER_NAMES:
            return _counter(item, name, release, cohort, region, page)
        expected = ", ".join((*VITAL_NAMES, *COUNTER_NAMES))
        raise _Reject(f"unknown metric {name[:_MAX_TEXT]!r} (expected one of {expected})", "name")
    except _Reject as r:
        return Rejected(r.reason, r.field)


@dataclass(frozen=True)
class BatchResult:
    accepted: list[Parsed]
    # (index in the batch, reason), so the API can point at the exact item.
    rejected: list[tuple[int, Rejected]]


def validate_batch(items: Iterable[object], known_releases: Collection[str] | None = None) -> BatchResult:
    """Validate every item; web-vitals duplicates within the batch keep their latest report."""
    accepted: list[Parsed] = []
    rejected: list[tuple[int, Rejected]] = []
    for i, item in enumerate(items):
        r = validate_item(item, known_releases)
        if isinstance(r, Rejected):
            rejected.append((i, r))
        else:
            accepted.append(r)
    return BatchResult(dedupe_vitals(accepted), rejected)

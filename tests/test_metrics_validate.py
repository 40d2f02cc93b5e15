from __future__ import annotations

import math
from typing import Any

import pytest

from gates.metrics import (
    CohortPair,
    CounterSample,
    MetricSample,
    Rejected,
    validate_batch,
    validate_item,
)

RELEASES = {"summer-hero"}


def vital(**over: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": "LCP",
        "value": 1834.2,
        "id": "v4-1714-1",
        "rating": "good",
        "delta": 1834.2,
        "navigationType": "navigate",
        "release": "summer-hero",
        "cohort": "canary",
        "region": "eu",
        "page": "/summer",
        "entries": [],
        "attribution": {"element": "img"},
    }
    item.update(over)
    return item


def counter(**over: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": "requests",
        "value": 1200,
        "release": "summer-hero",
        "cohort": "baseline",
        "region": "us",
        "page": "/summer",
    }
    item.update(over)
    return item


def test_valid_web_vital() -> None:
    s = validate_item(vital(), RELEASES)
    assert isinstance(s, MetricSample)
    assert (s.name, s.value, s.cohort, s.region, s.navigation_type) == ("LCP", 1834.2, "canary", "eu", "navigate")


def test_valid_counter_and_integral_float() -> None:
    s = validate_item(counter(value=12.0), RELEASES)
    assert isinstance(s, CounterSample) and s.value == 12 and isinstance(s.value, int)


def test_region_defaults_when_absent() -> None:
    item = vital()
    del item["region"]
    s = validate_item(item, RELEASES)
    assert isinstance(s, MetricSample) and s.region == "unknown"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (vital(value=math.nan), "value must be finite"),
        (vital(value=math.inf), "value must be finite"),
        (vital(value=-math.inf), "value must be finite"),
        (vital(value=-1), "must be ≥ 0"),
        (vital(value="12"), "value must be a number"),
        (vital(value=True), "value must be a number"),
        (vital(name="FID"), "unknown metric 'FID'"),
        (vital(cohort="control"), "cohort must be canary or baseline"),
        (vital(cohort=None), "missing cohort"),
        (vital(release=None), "missing release"),
        (vital(release="winter"), "unknown release 'winter'"),
        (vital(id=None), "missing id"),
        (vital(rating="great"), "rating must be one of"),
        (vital(delta=math.nan), "delta must be finite"),
        (counter(value=-3), "count must be ≥ 0"),
        (counter(value=2.5), "whole number"),
        (counter(value=math.inf), "value must be finite"),
        ({"value": 1}, "missing metric name"),
        ([1, 2], "item must be a JSON object"),
    ],
)
def test_rejections_say_why(item: Any, reason: str) -> None:
    r = validate_item(item, RELEASES)
    assert isinstance(r, Rejected), r
    assert reason in r.reason


def test_release_check_can_be_skipped() -> None:
    assert isinstance(validate_item(vital(release="anything"), None), MetricSample)


def test_batch_keeps_good_items_and_latest_report_per_id() -> None:
    items = [
        vital(id="a", value=1000),
        vital(value=math.nan),
        vital(id="a", value=1500),  # web-vitals re-reports a grown LCP under the same id
        vital(id="b", value=900, cohort="baseline"),
        counter(),
        counter(),  # counters are increments: both kept
        "junk",
    ]
    res = validate_batch(items, RELEASES)
    assert [i for i, _ in res.rejected] == [1, 6]
    lcp = [s for s in res.accepted if isinstance(s, MetricSample)]
    assert sorted(s.value for s in lcp) == [900, 1500]
    assert sum(1 for s in res.accepted if isinstance(s, CounterSample)) == 2

    pair = CohortPair.from_samples(res.accepted)
    assert pair.canary.values("LCP").tolist() == [1500]
    assert pair.baseline.counters.requests == 2400
    assert pair.baseline.regions["us"].requests == 2400


def test_a_nul_character_is_refused_with_a_reason() -> None:
    from gates.metrics import Rejected, validate_item

    item = {"name": "LCP", "value": 2400, "id": "v1", "release": "r", "cohort": "canary", "page": "/a\x00b"}
    r = validate_item(item, {"r"})
    assert isinstance(r, Rejected) and r.field == "page" and "NUL" in r.reason

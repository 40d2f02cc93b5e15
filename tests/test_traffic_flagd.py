"""The flagd file, evaluated by the real OpenFeature flagd provider in its offline file mode."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext

from bot.traffic.flagd import FlagdFile, read_flag
from bot.traffic.protocol import Split

USERS = [f"user-{i}" for i in range(10_000)]
STEPS = [5.0, 10.0, 25.0, 50.0, 100.0]


@pytest.fixture
def client_for() -> Iterator[object]:
    """Opens a provider on a file under its own domain, shut down after the test."""
    providers: list[FlagdProvider] = []

    def make(path: Path) -> OpenFeatureClient:
        domain = f"flagd-{uuid.uuid4().hex[:8]}"
        provider = FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=str(path), deadline_ms=50)
        api.set_provider_and_wait(provider, domain)
        providers.append(provider)
        return api.get_client(domain)

    yield make
    for p in providers:
        p.shutdown()


def _variants(client: OpenFeatureClient, key: str, users: list[str], **attrs: str) -> dict[str, str]:
    return {
        u: client.get_string_value(key, "missing", EvaluationContext(targeting_key=u, attributes=dict(attrs)))
        for u in users
    }


async def test_shares_and_stickiness_through_the_real_provider(tmp_path: Path, client_for) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "flags" / "releasegate.flagd.json"
    engine = FlagdFile(path)
    key = engine.key("summer-hero")
    previous_candidates: set[str] = set()
    for pct in STEPS:
        await engine.apply(Split("summer-hero", "canary" if pct <= 10 else "global", pct, {}, f"step to {pct}"))
        client = client_for(path)  # type: ignore[operator]
        got = _variants(client, key, USERS)
        assert set(got.values()) <= {"baseline", "candidate"}
        candidates = {u for u, v in got.items() if v == "candidate"}
        share = 100 * len(candidates) / len(USERS)
        assert abs(share - pct) <= 1.0, (pct, share)
        # Sticky: everyone who saw the candidate at a lower percentage still does.
        assert previous_candidates <= candidates, (pct, len(previous_candidates - candidates))
        previous_candidates = candidates
    assert len(previous_candidates) == len(USERS)

    # Rollback: 0% means nobody, and the flag says so in its metadata.
    await engine.apply(Split("summer-hero", "global", 0.0, {}, "rollback"))
    got = _variants(client_for(path), key, USERS[:2000])  # type: ignore[operator]
    assert set(got.values()) == {"baseline"}
    assert engine.percent("summer-hero") == 0.0


async def test_per_region_split_via_region_attribute(tmp_path: Path, client_for) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "flags.json"
    engine = FlagdFile(path)
    # eu takes three times the share of us; regions average to the overall 20%.
    await engine.apply(Split("promo", "global", 20.0, {"eu": 0.75, "us": 0.25}, "step 1"))
    client = client_for(path)  # type: ignore[operator]
    key = engine.key("promo")
    eu = _variants(client, key, USERS, region="eu")
    us = _variants(client, key, USERS, region="us")
    other = _variants(client, key, USERS, region="apac")
    share = {
        name: 100 * sum(v == "candidate" for v in d.values()) / len(USERS)
        for name, d in (("eu", eu), ("us", us), ("apac", other))
    }
    assert abs(share["eu"] - 30.0) <= 1.0, share
    assert abs(share["us"] - 10.0) <= 1.0, share
    assert abs(share["apac"] - 20.0) <= 1.0, share  # unknown region: the overall percentage
    # The same user is bucketed the same way in every region: us ⊂ apac ⊂ eu.
    assert {u for u, v in us.items() if v == "candidate"} <= {u for u, v in eu.items() if v == "candidate"}


async def test_merges_with_other_flags_and_provider_reloads(tmp_path: Path, client_for) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "flags.json"
    foreign = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "on"}
    path.write_text(json.dumps({"flags": {"someone-elses-flag": foreign}}))
    a, b = FlagdFile(path), FlagdFile(path)  # two bot replicas sharing one file
    await a.apply(Split("alpha", "canary", 5.0, {}, "step 1"))
    await b.apply(Split("beta", "canary", 10.0, {}, "step 2"))
    data = json.loads(path.read_text())
    assert set(data["flags"]) == {"someone-elses-flag", "releasegate-alpha", "releasegate-beta"}
    assert data["flags"]["someone-elses-flag"] == foreign
    assert not list(tmp_path.glob("*.tmp"))  # the temp file was renamed, not left behind

    client = client_for(path)  # type: ignore[operator]
    assert client.get_boolean_value("someone-elses-flag", False) is True
    before = _variants(client, "releasegate-alpha", USERS[:3000])
    assert 0 < sum(v == "candidate" for v in before.values()) < 300
    # The long-lived provider notices the rename (file watcher) and serves the new split.
    await a.apply(Split("alpha", "canary", 0.0, {}, "rollback"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        after = _variants(client, "releasegate-alpha", USERS[:3000])
        if set(after.values()) == {"baseline"}:
            break
        time.sleep(0.05)
    assert set(after.values()) == {"baseline"}
    flag = read_flag(path, "releasegate-beta")
    assert flag is not None and flag["metadata"]["percent"] == 10.0


async def test_the_flag_carries_the_approved_digest_and_each_image_hash(tmp_path: Path, client_for) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "flags.json"
    engine = FlagdFile(path)
    digest, sha = "ab" * 32, "cd" * 32
    await engine.apply(Split("promo", "canary", 5.0, {}, "step 1", bundle_digest=digest, images={"hero": sha}))
    flag = read_flag(path, engine.key("promo"))
    assert flag is not None
    assert flag["metadata"]["bundleDigest"] == digest and flag["metadata"]["sha256:hero"] == sha
    # flagd accepts the metadata (flat values only) and still evaluates the split.
    got = _variants(client_for(path), engine.key("promo"), USERS[:2000])  # type: ignore[operator]
    assert set(got.values()) == {"baseline", "candidate"}

"""Evidence packages: "what did the approver see?" answered with hashes.

At each decision :func:`build_evidence` writes one JSON package (gate results with measured
values, thresholds, windows and sample counts; approver and comment; the Slack permalink of the
decision message; the SHA-256 of every artifact shown) into the content store, and returns its
hash for the decision's audit entry. Because the package lists artifact hashes and the audit
chain records the package hash, changing a chart or a verdict afterwards breaks a hash somewhere.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from storage.canonical import canonical_json
from storage.evidence import PACKAGE_VERSION, ContentStore, EvidenceStore, package_bytes, sha256_hex
from storage.models import ApprovalRequest, Release
from storage.repo import Store


class ArtifactLike(Protocol):
    @property
    def filename(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def content(self) -> bytes: ...


class Permalinks(Protocol):
    async def permalink(self, channel: str, ts: str) -> str | None: ...


async def store_artifacts(
    store: Store, artifacts_dir: Path, release: Release, run_id: int, artifacts: Sequence[ArtifactLike], now: datetime
) -> list[str]:
    """Keep each artifact under its SHA-256 and note that this run showed it; returns the hashes."""
    if not artifacts:
        return []
    cas = ContentStore(artifacts_dir)
    # Disk writes off the event loop: contact sheets can be a few megabytes.
    digests = await asyncio.to_thread(lambda: [cas.put(a.content) for a in artifacts])
    await EvidenceStore(store.engine).add_artifacts(
        release.id or 0,
        run_id,
        [(a.filename, a.title, d, len(a.content)) for a, d in zip(artifacts, digests, strict=True)],
        now,
    )
    return digests


def _json_safe(v: Any) -> Any:
    """Canonical JSON has no NaN/Infinity; a gate that measured one keeps it as a string."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_safe(x) for x in v]
    if isinstance(v, datetime):
        return v.astimezone(UTC).isoformat()
    return v


def _samples(result: dict[str, Any]) -> dict[str, Any]:
    """Sample counts wherever the gate put them (web-vitals: values; budgets: evidence)."""
    out: dict[str, Any] = {}
    for src in (result.get("evidence") or {}, result.get("values") or {}):
        for k, v in src.items():
            if (k.startswith("n_") or k in ("samples", "requests", "min_samples")) and k not in out:
                out[k] = v
    return out


def gate_entry(result: dict[str, Any]) -> dict[str, Any]:
    evidence = result.get("evidence") or {}
    return {
        "gate": result.get("gate"),
        "image_id": result.get("image_id"),
        "status": result.get("status"),
        "summary": result.get("summary"),
        "measured": result.get("measured"),
        "threshold": result.get("threshold"),
        "unit": result.get("unit"),
        "window": evidence.get("window"),
        "samples": _samples(result),
        "values": result.get("values") or {},
        "evidence": evidence,
        "findings": result.get("findings") or [],
    }


def make_package(
    *,
    release: Release,
    request: ApprovalRequest,
    user: str,
    decision: str,
    comment: str | None,
    now: datetime,
    permalink: str | None,
    artifacts: list[dict[str, Any]],
) -> dict[str, Any]:
    """The package as a plain dict (pure: everything it needs is passed in)."""
    package: dict[str, Any] = _json_safe(
        {
            "version": PACKAGE_VERSION,
            "release": {
                "id": release.id,
                "name": release.name,
                "attempt": release.attempt,
                "title": release.title,
                "requested_by": release.requested_by,
                # The policy the verdicts were judged by, pinned by hash (the full text is on the release).
                "policy_sha256": sha256_hex(canonical_json(_json_safe(release.policy))),
                "bundle_sha256": sha256_hex(canonical_json(_json_safe(release.bundle))),
                # The bytes the decision covers: release.yml and every referenced file (see gates/bundle.py).
                "bundle_digest": release.bundle_digest,
            },
            "phase": request.phase,
            "phase_run_id": request.phase_run_id,
            "approval_request_id": request.id,
            "requested_at": request.created_at,
            "owners": list(request.owners),
            "escalation_level": request.escalation_level,
            "decision": {"decision": decision, "by": user, "at": now, "comment": comment},
            "decision_message": {"channel": request.channel_id, "ts": request.message_ts, "permalink": permalink},
            "gates": [gate_entry(g) for g in request.gate_snapshot],
            "artifacts": artifacts,
        }
    )
    return package


async def build_evidence(
    store: Store,
    slack: Permalinks | None,
    artifacts_dir: Path,
    *,
    request: ApprovalRequest,
    release: Release,
    user: str,
    decision: str,
    comment: str | None,
    now: datetime,
) -> tuple[str, dict[str, Any]]:
    """Write the package for a decision about to be recorded; returns (sha256, package)."""
    permalink = None
    if slack is not None and request.message_ts:
        permalink = await slack.permalink(request.channel_id, request.message_ts)
    shown = await EvidenceStore(store.engine).artifacts(request.phase_run_id)
    artifacts = [
        {"filename": a.filename, "title": a.title, "sha256": a.sha256, "bytes": a.size, "path": f"cas/{a.sha256}"}
        for a in shown
    ]
    package = make_package(
        release=release,
        request=request,
        user=user,
        decision=decision,
        comment=comment,
        now=now,
        permalink=permalink,
        artifacts=artifacts,
    )
    data = package_bytes(package)
    digest = await asyncio.to_thread(ContentStore(artifacts_dir).put, data)
    return digest, package


def load_package(artifacts_dir: Path, digest: str) -> dict[str, Any]:
    """Read a package back, checking that its bytes still hash to the name the audit entry recorded."""
    import json

    data = ContentStore(artifacts_dir).get(digest)
    loaded: dict[str, Any] = json.loads(data)
    return loaded

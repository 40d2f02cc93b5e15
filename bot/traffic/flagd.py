"""flagd / OpenFeature engine: one flag per release in a flagd flag-definition file.

Each release gets a flag ``<prefix><release>`` with the variants ``baseline`` and ``candidate``.
Its targeting is a ``fractional`` rule on the evaluation context's targeting key (flagd's
shorthand hashes the flag key together with the targeting key), with the candidate listed first
and the weights in basis points out of a constant 10,000. A user's bucket therefore never moves:
whoever fell into the first 5% still falls into the first 10%, 25%, … — sticky as the ramp grows.

With per-region allocation the rule becomes an ``if`` over the context attribute ``region``,
each region with its own fractional split, and the overall percentage for any other region.

The file may hold other releases' flags (and flags nobody here owns): a write reads the file,
replaces only this release's flag and puts the whole file back atomically (temp file in the same
folder, fsync, rename, fsync of the folder), under an advisory lock so that two bot replicas
writing at once do not lose each other's flags. Readers (flagd, the in-process provider) only
ever see a complete old or a complete new file.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.traffic.allocation import region_percents
from bot.traffic.protocol import Split, TrafficError

SCHEMA = "https://flagd.dev/schema/v0/flags.json"
BASELINE = "baseline"
CANDIDATE = "candidate"
# Weights out of a constant total: the bucket of a user depends on the total, so it must never change.
TOTAL_WEIGHT = 10_000
REGION_ATTRIBUTE = "region"


def flag_key(release: str, prefix: str = "releasegate-") -> str:
    return f"{prefix}{release}"


def _weights(percent: float) -> list[list[Any]]:
    candidate = max(0, min(TOTAL_WEIGHT, round(percent * TOTAL_WEIGHT / 100)))
    return [[CANDIDATE, candidate], [BASELINE, TOTAL_WEIGHT - candidate]]


def _fractional(percent: float) -> dict[str, Any]:
    return {"fractional": _weights(percent)}


def flag_definition(split: Split, region_pct: Mapping[str, float], now: datetime) -> dict[str, Any]:
    """The flagd flag for one release at one split (pure: the file I/O is elsewhere)."""
    targeting: dict[str, Any]
    if split.percent <= 0 and not any(v > 0 for v in region_pct.values()):
        # Nobody on the candidate: no rule at all, so even a broken evaluator falls back to baseline.
        targeting = {}
    elif region_pct:
        branches: list[Any] = []
        for region, pct in sorted(region_pct.items()):
            branches += [{"==": [{"var": REGION_ATTRIBUTE}, region]}, _fractional(pct)]
        targeting = {"if": [*branches, _fractional(split.percent)]}
    else:
        targeting = _fractional(split.percent)
    return {
        "state": "ENABLED",
        "variants": {BASELINE: BASELINE, CANDIDATE: CANDIDATE},
        "defaultVariant": BASELINE,
        "targeting": targeting,
        # flagd passes flag metadata through to evaluation details: handy when debugging a split.
        "metadata": {
            "release": split.release,
            "phase": split.phase,
            "percent": float(split.percent),
            "reason": split.reason[:200],
            "updatedAt": now.isoformat(timespec="seconds"),
            "managedBy": "releasegate",
            # flagd metadata values are flat strings, numbers or booleans: one key per image.
            **({"bundleDigest": split.bundle_digest} if split.bundle_digest else {}),
            **{f"sha256:{image}": sha for image, sha in sorted(split.images.items())},
        },
    }


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"$schema": SCHEMA, "flags": {}}
    if not text.strip():
        return {"$schema": SCHEMA, "flags": {}}
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("flags", {}), dict):
        raise TrafficError(f"{path} is not a flagd flag file (expected an object with 'flags')")
    data.setdefault("flags", {})
    return data


def _write_atomically(path: Path, data: Mapping[str, Any]) -> None:
    payload = json.dumps(data, indent=2, sort_keys=True).encode() + b"\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # The rename itself lives in the directory: without this a crash can bring the old file back.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_flag(path: Path, key: str, flag: Mapping[str, Any]) -> None:
    """Replace one flag in the file, keeping every other flag as it was (blocking I/O)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(f".{path.name}.lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            data = _read(path)
            data.setdefault("$schema", SCHEMA)
            data["flags"][key] = dict(flag)
            _write_atomically(path, data)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def read_flag(path: Path, key: str) -> dict[str, Any] | None:
    flags = _read(path).get("flags", {})
    flag = flags.get(key)
    return flag if isinstance(flag, dict) else None


class FlagdFile:
    """The ``TrafficController`` that writes the flagd flag file."""

    name = "flagd"

    def __init__(self, path: Path, *, prefix: str = "releasegate-") -> None:
        self.path = path
        self.prefix = prefix
        self._lock = asyncio.Lock()

    def key(self, release: str) -> str:
        return flag_key(release, self.prefix)

    async def apply(self, split: Split) -> None:
        flag = flag_definition(split, region_percents(split.percent, split.regions), datetime.now(UTC))
        async with self._lock:
            try:
                await asyncio.to_thread(write_flag, self.path, self.key(split.release), flag)
            except (OSError, ValueError) as exc:
                raise TrafficError(f"could not write flagd file {self.path}: {exc}") from exc

    def percent(self, release: str) -> float | None:
        """What the file says now (the candidate share outside any region rule); None if absent."""
        flag = read_flag(self.path, self.key(release))
        if flag is None:
            return None
        meta = flag.get("metadata", {})
        value = meta.get("percent") if isinstance(meta, dict) else None
        return float(value) if isinstance(value, int | float) else None

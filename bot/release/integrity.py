"""A release is bound to its bytes: before a phase starts or traffic moves, the files on disk must
still be the ones the release's digest covers (what Preview's reviewer judged and approved).

On a mismatch the release pauses where it is (traffic does not move), the thread says which files
changed, and an audit entry records both digests. Releases started before digests were recorded
(``bundle_digest`` is None) are not checked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from bot.preview.bundle import Fingerprint, fingerprint
from bot.slack.blocks.text import esc
from gates.bundle import Bundle
from storage.models import Release


@dataclass(frozen=True)
class Drift:
    approved: str
    found: str
    changes: list[str]

    def headline(self, release: Release) -> str:
        n = len(self.changes) or 1
        files = "file differs" if n == 1 else "files differ"
        return f"{n} {files} from what Preview approved: re-run Preview"

    def to_detail(self) -> dict[str, object]:
        return {"approved_digest": self.approved, "found_digest": self.found, "changes": self.changes[:50]}


async def current_fingerprint(release: Release) -> Fingerprint:
    bundle = Bundle.model_validate(release.bundle)
    return await asyncio.to_thread(fingerprint, Path(release.bundle_dir), bundle)


async def drift(release: Release) -> Drift | None:
    """None when the bytes on disk are the ones the release covers."""
    if not release.bundle_digest:
        return None
    now = await current_fingerprint(release)
    if now.digest == release.bundle_digest:
        return None
    return Drift(release.bundle_digest, now.digest, now.changes_since(release.bundle_manifest))


def drift_text(release: Release, d: Drift) -> str:
    shown = "\n".join(f"• `{esc(c)}`" for c in d.changes[:10])
    more = f"\n…and {len(d.changes) - 10} more" if len(d.changes) > 10 else ""
    return (
        f"🛑 *{esc(release.name)}* stopped: {d.headline(release)}.\n{shown}{more}\n"
        f"Approved digest `{d.approved[:16]}…`, on disk now `{d.found[:16]}…`. Traffic stays at "
        f"{release.traffic_percent:g}%. End this attempt (Reject, or `/release rollback {esc(release.name)}`), "
        f"then `/release start {esc(release.name)}` runs Preview on the new files."
    )

"""The seam every traffic engine implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class TrafficError(RuntimeError):
    """The engine refused or could not be reached; the ramp holds and the thread says why."""


@dataclass(frozen=True)
class Split:
    release: str
    phase: str
    percent: float
    # Share of the candidate's traffic per region (ratios summing to 1); empty means "everywhere alike".
    regions: Mapping[str, float] = field(default_factory=dict)
    reason: str = ""
    # The approved bundle digest and each image's candidate SHA-256, so whoever deploys the images
    # can check they ship exactly what was approved. Empty for releases started before digests.
    bundle_digest: str = ""
    images: Mapping[str, str] = field(default_factory=dict)


class TrafficController(Protocol):
    name: str

    async def apply(self, split: Split) -> None: ...

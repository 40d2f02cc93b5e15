"""What a Preview gate looks at: one bundle image, its files' facts and (when needed) pixels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gates.bundle import BundleImage


@dataclass(frozen=True)
class ImageFacts:
    """What the loader learnt about one file. ``error`` set means it could not be used."""

    path: str
    exists: bool
    size_bytes: int | None = None
    format: str | None = None  # lower case: avif, webp, jpeg, png, gif, …
    width: int | None = None  # after EXIF orientation is applied
    height: int | None = None
    mode: str | None = None
    frames: int = 1
    error: str | None = None
    exif_orientation: int | None = None
    icc_profile_name: str | None = None
    has_alpha: bool = False
    # Text found in embedded metadata (EXIF/XMP/IPTC field name → value).
    metadata_text: Mapping[str, str] = field(default_factory=dict)
    # Non-text metadata worth flagging (e.g. "gps": "present").
    metadata_flags: Mapping[str, str] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.exists and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "exists": self.exists,
            "size_bytes": self.size_bytes,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "mode": self.mode,
            "frames": self.frames,
            "error": self.error,
        }


Pixels = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ImageSubject:
    spec: BundleImage
    candidate: ImageFacts
    baseline: ImageFacts | None = None
    # RGBA uint8 arrays (H, W, 4), orientation applied; present only for gates that need pixels.
    candidate_pixels: Pixels | None = None
    baseline_pixels: Pixels | None = None
    # The approved logo (RGBA, from ``spec.logo.reference``) for the brand gate's logo-area check.
    logo_pixels: Pixels | None = None

    @property
    def id(self) -> str:
        return self.spec.id

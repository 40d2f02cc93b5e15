"""The gate protocols. A new gate is a module with a class matching one of these, added to
``gates.registry``; the state machine never changes for it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from gates.result import GateResult
from gates.subject import ImageSubject


class ImageGate(Protocol):
    """Judges one image (candidate and, if any, baseline)."""

    name: str
    needs_pixels: bool

    def evaluate(self, subject: ImageSubject, config: Any) -> GateResult: ...


class ReleaseGate(Protocol):
    """Judges the bundle as a whole (e.g. the same alt text on different images)."""

    name: str

    def evaluate(self, subjects: Sequence[ImageSubject], config: Any) -> list[GateResult]: ...

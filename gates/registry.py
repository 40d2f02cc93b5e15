"""Which gate implements which policy key. Add a gate here; nothing else needs to change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gates.accessibility import AccessibilityGate, DuplicateAltGate
from gates.brand import BrandGate
from gates.image_budget import ImageBudgetGate
from gates.metadata import MetadataGate
from gates.policy import PreviewGates
from gates.protocol import ImageGate, ReleaseGate
from gates.result import GateResult
from gates.sensitivity import SensitivityGate
from gates.subject import ImageSubject
from gates.visual.gate import VisualDiffGate

IMAGE_GATES: dict[str, ImageGate] = {
    "image_budget": ImageBudgetGate(),
    "visual_diff": VisualDiffGate(),
    "accessibility": AccessibilityGate(),
    # Without a read_text function a policy's terms_file is reported as inconclusive; the bot
    # replaces this entry with one that can read the team's file.
    "sensitivity": SensitivityGate(),
    "metadata": MetadataGate(),
    # A Global-phase key: the Preview runner never enables it; the Global runner looks it up here.
    "brand": BrandGate(),
}

RELEASE_GATES: dict[str, ReleaseGate] = {
    "accessibility": DuplicateAltGate(),
}


def enabled(gates: PreviewGates) -> list[tuple[str, Any]]:
    """(policy key, config) for each gate the policy turns on, in policy order."""
    return [(name, cfg) for name, cfg in gates if cfg is not None]


def preview_needs_pixels(gates: PreviewGates) -> bool:
    return any(IMAGE_GATES[n].needs_pixels for n, _ in enabled(gates) if n in IMAGE_GATES)


def evaluate_image(subject: ImageSubject, gates: PreviewGates) -> list[GateResult]:
    return [IMAGE_GATES[n].evaluate(subject, cfg) for n, cfg in enabled(gates) if n in IMAGE_GATES]


def evaluate_release(subjects: Sequence[ImageSubject], gates: PreviewGates) -> list[GateResult]:
    out: list[GateResult] = []
    for n, cfg in enabled(gates):
        if n in RELEASE_GATES:
            out.extend(RELEASE_GATES[n].evaluate(subjects, cfg))
    return out


def unimplemented(gates: PreviewGates) -> list[str]:
    """Policy keys with no gate behind them yet (reported, never silently passed)."""
    return [n for n, _ in enabled(gates) if n not in IMAGE_GATES and n not in RELEASE_GATES]

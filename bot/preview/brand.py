"""Brand guardrails for the Global phase: the candidates' pixels against the policy's brand colours.

Runs once per Global phase run (the images do not change while traffic ramps), in a worker thread.
"""

from __future__ import annotations

from pathlib import Path

from bot.preview.images import decode_image, load_rgba
from gates.brand import BrandGate
from gates.bundle import Bundle
from gates.policy import BrandConfig, ImageBudgetConfig
from gates.result import GateResult, Status
from gates.subject import ImageSubject

_GATE = BrandGate()


def check_brand(root: Path, bundle: Bundle, config: BrandConfig, max_pixels: int | None = None) -> list[GateResult]:
    limit = max_pixels or ImageBudgetConfig().max_pixels
    out: list[GateResult] = []
    for spec in bundle.images:
        facts, pixels = decode_image(root, spec.candidate, limit)
        if pixels is None:
            out.append(
                GateResult(
                    gate=_GATE.name,
                    status=Status.INCONCLUSIVE,
                    image_id=spec.id,
                    summary=facts.error or f"{spec.candidate} could not be decoded",
                )
            )
            continue
        logo = load_rgba(root, spec.logo.reference, limit) if spec.logo else None
        subject = ImageSubject(spec=spec, candidate=facts, candidate_pixels=pixels, logo_pixels=logo)
        out.append(_GATE.evaluate(subject, config))
    return out

"""Image budgets: the file is there, decodes, is an allowed format, small enough, sane size."""

from __future__ import annotations

from gates.policy import ImageBudgetConfig
from gates.result import GateResult, Status
from gates.subject import ImageFacts, ImageSubject


def _file_problem(role: str, facts: ImageFacts) -> str | None:
    if not facts.exists:
        return f"{role} file {facts.path} is missing"
    if facts.error:
        return facts.error
    return None


class ImageBudgetGate:
    name = "image_budget"
    needs_pixels = False

    def evaluate(self, subject: ImageSubject, config: ImageBudgetConfig) -> GateResult:
        cand = subject.candidate
        values: dict[str, object] = {
            "bytes": cand.size_bytes,
            "format": cand.format,
            "width": cand.width,
            "height": cand.height,
        }

        def fail(summary: str) -> GateResult:
            return GateResult(
                gate=self.name,
                status=Status.FAIL,
                summary=summary,
                image_id=subject.id,
                measured=float(cand.size_bytes) if cand.size_bytes is not None else None,
                threshold=float(config.max_bytes),
                unit="bytes",
                values=values,
                evidence={"candidate": cand.to_dict()},
            )

        problem = _file_problem("candidate", cand)
        if problem:
            return fail(problem)
        assert cand.size_bytes is not None and cand.width is not None and cand.height is not None
        allowed = [f.lower() for f in config.formats]
        if (cand.format or "").lower() not in allowed:
            return fail(f"format {cand.format or 'unknown'} is not allowed (allowed: {', '.join(allowed)})")

        problems: list[str] = []
        if cand.size_bytes > config.max_bytes:
            problems.append(f"{cand.size_bytes:,} bytes is over the {config.max_bytes:,} byte budget")
        if not (config.min_width <= cand.width <= config.max_width) or not (
            config.min_height <= cand.height <= config.max_height
        ):
            problems.append(
                f"{cand.width}×{cand.height} is outside "
                f"{config.min_width}×{config.min_height}…{config.max_width}×{config.max_height}"
            )
        base = subject.baseline
        if base is not None:
            base_problem = _file_problem("baseline", base)
            if base_problem:
                problems.append(base_problem)
            elif (
                config.require_same_dimensions
                and not subject.spec.resize
                and (base.width, base.height) != (cand.width, cand.height)
            ):
                problems.append(
                    f"candidate is {cand.width}×{cand.height} but baseline is {base.width}×{base.height}"
                    " (declare resize: true in release.yml if intended)"
                )
        if problems:
            return fail("; ".join(problems))
        return GateResult(
            gate=self.name,
            status=Status.PASS,
            summary=(f"{cand.format} {cand.width}×{cand.height}, {cand.size_bytes:,} of {config.max_bytes:,} bytes"),
            image_id=subject.id,
            measured=float(cand.size_bytes),
            threshold=float(config.max_bytes),
            unit="bytes",
            values=values,
            evidence={"candidate": cand.to_dict(), "baseline": base.to_dict() if base else None},
        )

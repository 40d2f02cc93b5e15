"""The team policy (``policy.yml``): owners, SLAs, which gates run and their thresholds.

Every key is optional except the owners, and a key we do not know is an error: a typo in a
threshold must never silently fall back to a default.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gates.durations import parse_duration
from gates.phases import Phase

_SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")


class PolicyError(ValueError):
    """The policy file is malformed; the message names the key and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Duration = Annotated[str, Field(pattern=r"^\s*\d+(\.\d+)?\s*[smhd]?\s*$")]


def _check_ids(v: list[str]) -> list[str]:
    for ident in v:
        if not _SLACK_ID.match(ident):
            raise ValueError(f"{ident!r} is not a Slack user (U…/W…) or user-group (S…) ID")
    return v


class Owners(_Strict):
    primary: list[str] = Field(min_length=1)
    backup: list[str] = Field(default_factory=list)

    @field_validator("primary", "backup")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        return _check_ids(v)


class ImageBudgetConfig(_Strict):
    max_bytes: int = Field(default=300_000, gt=0)
    formats: list[str] = Field(default_factory=lambda: ["avif", "webp", "jpeg", "png"])
    max_width: int = Field(default=4096, gt=0)
    max_height: int = Field(default=4096, gt=0)
    min_width: int = Field(default=1, gt=0)
    min_height: int = Field(default=1, gt=0)
    # Pixels beyond this are refused before decoding (decompression-bomb guard).
    max_pixels: int = Field(default=40_000_000, gt=0)
    require_same_dimensions: bool = True


class VisualDiffConfig(_Strict):
    max_changed_fraction: float = Field(default=0.02, ge=0, le=1)
    min_ssim: float = Field(default=0.95, ge=-1, le=1)
    max_delta_e_p95: float = Field(default=2.0, ge=0)
    yiq_threshold: float = Field(default=0.1, gt=0, le=1)


class AccessibilityConfig(_Strict):
    require_alt: bool = True
    max_alt_length: int = Field(default=150, gt=0)
    # Shorter alt text rarely describes anything ("logo", "hero").
    min_alt_length: int = Field(default=3, ge=0)
    # Same alt text on different images is a finding (screen-reader users cannot tell them apart).
    allow_duplicate_alt: bool = False


class SensitivityConfig(_Strict):
    max_findings: int = Field(default=0, ge=0)
    terms_file: str | None = None
    # The team terms themselves (YAML). The bot fills this in from ``terms_file`` when it loads the
    # policy, so the gate stays free of I/O and the release's policy snapshot records the exact terms.
    terms_text: str | None = None
    # Findings below this severity are reported but do not count; critical ones always count.
    min_severity: Literal["info", "warning", "critical"] = "warning"


class MetadataConfig(_Strict):
    max_findings: int = Field(default=0, ge=0)
    # Relative difference of width/height ratios tolerated before "aspect ratio changed".
    aspect_tolerance: float = Field(default=0.01, ge=0, le=1)
    # Profile names (case-insensitive substrings) accepted besides sRGB, e.g. "Display P3".
    allowed_profiles: list[str] = Field(default_factory=list)
    require_profile: bool = False


class P75Config(_Strict):
    max_increase_ms: float = Field(ge=0)


class ErrorBudgetConfig(_Strict):
    max_rate: float = Field(default=0.005, ge=0, le=1)


class CacheHitConfig(_Strict):
    min_rate: float = Field(default=0.90, ge=0, le=1)


class RegionalErrorConfig(_Strict):
    max_rate: float = Field(default=0.01, ge=0, le=1)


class BrandColor(_Strict):
    name: str
    hex: str = Field(pattern=r"^#?[0-9a-fA-F]{6}$")
    tolerance: float = Field(default=5.0, gt=0)


class BrandConfig(_Strict):
    max_critical: int = Field(default=0, ge=0)
    colors: list[BrandColor] = Field(default_factory=list)
    # A dominant colour within near_miss_factor × tolerance of a brand colour, but outside it,
    # is a near miss: close enough to be meant as the brand colour, far enough to look wrong.
    near_miss_factor: float = Field(default=3.0, gt=1)
    dominant_colors: int = Field(default=5, ge=1, le=16)
    # Clusters smaller than this share of the image are accents, not dominant colours.
    min_share: float = Field(default=0.05, ge=0, le=1)
    # A near miss on a colour covering at least this share of the image is critical (it is what
    # people see); smaller areas are warnings.
    critical_share: float = Field(default=0.15, ge=0, le=1)
    logo_max_delta_e: float = Field(default=5.0, gt=0)
    logo_min_ssim: float = Field(default=0.90, ge=-1, le=1)


class PreviewGates(_Strict):
    image_budget: ImageBudgetConfig | None = None
    visual_diff: VisualDiffConfig | None = None
    accessibility: AccessibilityConfig | None = None
    sensitivity: SensitivityConfig | None = None
    metadata: MetadataConfig | None = None


class CanaryGates(_Strict):
    lcp_p75: P75Config | None = None
    inp_p75: P75Config | None = None
    error_budget: ErrorBudgetConfig | None = None
    cache_hit: CacheHitConfig | None = None


class GlobalGates(_Strict):
    regional_error_rate: RegionalErrorConfig | None = None
    brand: BrandConfig | None = None


def _default_preview_gates() -> PreviewGates:
    return PreviewGates(
        image_budget=ImageBudgetConfig(),
        visual_diff=VisualDiffConfig(),
        accessibility=AccessibilityConfig(),
        sensitivity=SensitivityConfig(),
    )


def _default_canary_gates() -> CanaryGates:
    return CanaryGates(
        lcp_p75=P75Config(max_increase_ms=150),
        inp_p75=P75Config(max_increase_ms=50),
        error_budget=ErrorBudgetConfig(),
        cache_hit=CacheHitConfig(),
    )


def _default_global_gates() -> GlobalGates:
    return GlobalGates(regional_error_rate=RegionalErrorConfig(), brand=BrandConfig())


class TrafficConfig(_Strict):
    steps: list[float] = Field(default_factory=lambda: [5.0, 10.0], min_length=1)
    every: Duration = "5m"
    regions: dict[str, float] = Field(default_factory=dict)

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: list[float]) -> list[float]:
        if any(not 0 < s <= 100 for s in v) or v != sorted(v):
            raise ValueError("traffic steps must be ascending percentages in (0, 100]")
        return v


class _PhaseBase(_Strict):
    owners: Owners
    sla: Duration = "15m"

    @property
    def sla_delta(self) -> timedelta:
        return parse_duration(self.sla)


class PreviewPhase(_PhaseBase):
    gates: PreviewGates = Field(default_factory=_default_preview_gates)


class CanaryPhase(_PhaseBase):
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    observe: Duration = "30m"
    min_samples: int = Field(default=1000, ge=1)
    gates: CanaryGates = Field(default_factory=_default_canary_gates)


class GlobalPhase(_PhaseBase):
    traffic: TrafficConfig = Field(default_factory=lambda: TrafficConfig(steps=[25.0, 50.0, 100.0]))
    gates: GlobalGates = Field(default_factory=_default_global_gates)


class FlagdEngine(_Strict):
    # Relative paths are relative to the bot's working directory, like the other settings.
    path: str = "./flags/releasegate.flagd.json"
    flag_prefix: str = Field(default="releasegate-", pattern=r"^[A-Za-z0-9_.-]*$")


class WebhookEngine(_Strict):
    url: str = Field(pattern=r"^https?://")
    # The secret itself never goes into the policy file (it is committed); only where to find it.
    secret_env: str = Field(default="RELEASEGATE_WEBHOOK_SECRET", pattern=r"^[A-Z_][A-Z0-9_]*$")
    timeout: Duration = "5s"
    attempts: int = Field(default=4, ge=1, le=10)


class TrafficEngines(_Strict):
    """Which traffic engines get each split; none listed means advice only."""

    engines: list[Literal["flagd", "webhook"]] = Field(default_factory=list)
    flagd: FlagdEngine | None = None
    webhook: WebhookEngine | None = None

    @field_validator("engines")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("an engine is listed twice")
        return v

    @model_validator(mode="after")
    def _configured(self) -> TrafficEngines:
        if "webhook" in self.engines and self.webhook is None:
            raise ValueError("engine 'webhook' is listed but traffic.webhook (url, secret_env) is missing")
        return self


class Phases(_Strict):
    preview: PreviewPhase
    canary: CanaryPhase
    global_: GlobalPhase = Field(alias="global")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Policy(_Strict):
    phases: Phases
    allow_self_approval: bool = False
    traffic: TrafficEngines | None = None
    # Who may `/release start` (users or user groups); absent: anyone in the workspace.
    requesters: list[str] | None = None
    # Who may get an Audit Inspector link and sign in; absent: every phase owner (primary and backup).
    auditors: list[str] | None = None

    @field_validator("requesters", "auditors")
    @classmethod
    def _access_ids(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        if not v:
            raise ValueError("list at least one user or user group, or leave the key out")
        return _check_ids(v)

    def requester_ids(self) -> list[str] | None:
        """Who may start releases, or None: anyone in the workspace."""
        return list(self.requesters) if self.requesters is not None else None

    def auditor_ids(self) -> list[str]:
        """Who may open the Audit Inspector: ``auditors``, or else every owner of every phase."""
        if self.auditors is not None:
            return list(self.auditors)
        ids: list[str] = []
        for phase in Phase:
            owners = self.owners(phase)
            ids.extend(i for i in (*owners.primary, *owners.backup) if i not in ids)
        return ids

    def phase(self, phase: Phase) -> PreviewPhase | CanaryPhase | GlobalPhase:
        if phase is Phase.PREVIEW:
            return self.phases.preview
        if phase is Phase.CANARY:
            return self.phases.canary
        return self.phases.global_

    def owners(self, phase: Phase) -> Owners:
        return self.phase(phase).owners

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


DEFAULT_POLICY_YAML = """\
phases:
  preview:
    owners: {primary: [U0REVIEWER], backup: [U0BACKUP01]}
    sla: 15m
    gates:
      image_budget: {max_bytes: 300000, formats: [avif, webp, jpeg, png]}
      visual_diff:  {max_changed_fraction: 0.02, min_ssim: 0.95, max_delta_e_p95: 2.0}
      accessibility: {require_alt: true, max_alt_length: 150}
      sensitivity:  {max_findings: 0}
  canary:
    owners: {primary: [U0SRE00001], backup: [S0SREGROUP]}
    sla: 15m
    traffic: {steps: [5, 10], every: 5m}
    observe: 30m
    min_samples: 1000
    gates:
      lcp_p75:      {max_increase_ms: 150}
      inp_p75:      {max_increase_ms: 50}
      error_budget: {max_rate: 0.005}
      cache_hit:    {min_rate: 0.90}
  global:
    owners: {primary: [U0PRODUCT1], backup: [U0PRODVP01]}
    sla: 15m
    gates:
      regional_error_rate: {max_rate: 0.01}
      brand: {max_critical: 0}
allow_self_approval: false
"""


def _describe(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling; unknown keys are not ignored)"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{source}: {where}: {msg}{more}"


def parse_policy(text: str, source: str = "policy.yml") -> Policy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PolicyError(f"{source}: not valid YAML{where}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping with a 'phases' key")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_describe(exc, source)) from exc
    for phase in (policy.phases.preview, policy.phases.canary, policy.phases.global_):
        parse_duration(phase.sla)
    return policy


def with_terms_text(policy: Policy, text: str) -> Policy:
    """The policy with the Preview sensitivity gate's team terms inlined (see SensitivityConfig)."""
    gates = policy.phases.preview.gates
    assert gates.sensitivity is not None
    sensitivity = gates.sensitivity.model_copy(update={"terms_text": text})
    preview = policy.phases.preview.model_copy(update={"gates": gates.model_copy(update={"sensitivity": sensitivity})})
    return policy.model_copy(update={"phases": policy.phases.model_copy(update={"preview": preview})})


def default_policy() -> Policy:
    return parse_policy(DEFAULT_POLICY_YAML, "built-in default policy")

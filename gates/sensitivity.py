"""Sensitivity scanner: risky wording in any text that ships with an image.

The topics, terms, severities and rationales come from a YAML terms policy: the packaged English
default (``gates/data/sensitivity_en.yml``) plus, optionally, a team file named by
``sensitivity.terms_file``. This module never opens that file itself (``gates`` does no I/O); the
caller that owns the filesystem passes a ``read_text`` function to :class:`SensitivityGate`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gates.policy import SensitivityConfig
from gates.result import Finding, GateResult, Status
from gates.subject import ImageSubject
from gates.textnorm import Match, Pattern, Token, find, snippet, tokenize, visible

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: Mapping[str, int] = {"info": 0, "warning": 1, "critical": 2}
DEFAULT_TERMS_RESOURCE = "sensitivity_en.yml"
_TOPIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class TermsError(ValueError):
    """A terms policy file is malformed; the message names the file, the key and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TermSpec(_Strict):
    term: str = Field(min_length=1)
    severity: Severity | None = None


class TopicSpec(_Strict):
    severity: Severity
    rationale: str = Field(min_length=10)
    terms: list[str | TermSpec] = Field(default_factory=list)
    phrases: list[str | TermSpec] = Field(default_factory=list)
    exceptions: list[str] = Field(default_factory=list)


class TermsFileSpec(_Strict):
    version: Literal[1] = 1
    # BCP 47 language ("de", "pt-BR") the list applies to, or "*" for every image.
    locale: str = Field(default="*", pattern=r"^(\*|[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*)$")
    # False replaces the packaged English list instead of adding to it.
    include_default: bool = True
    topics: dict[str, TopicSpec] = Field(min_length=1)

    @field_validator("topics")
    @classmethod
    def _names(cls, v: dict[str, TopicSpec]) -> dict[str, TopicSpec]:
        for name, topic in v.items():
            if not _TOPIC_NAME.match(name):
                raise ValueError(f"topic {name!r}: names are lower-case letters, digits and '_'")
            if not topic.terms and not topic.phrases:
                raise ValueError(f"topic {name!r} has no terms or phrases")
        return v


@dataclass(frozen=True)
class Rule:
    pattern: Pattern
    severity: str


@dataclass(frozen=True)
class Topic:
    name: str
    severity: str
    rationale: str
    locale: str
    rules: tuple[Rule, ...]
    exceptions: tuple[Pattern, ...]
    source: str

    def applies_to(self, image_locale: str | None) -> bool:
        # Without a declared locale we cannot tell the language, so every list applies.
        if self.locale == "*" or not image_locale:
            return True
        want = self.locale.lower().replace("_", "-")
        have = image_locale.lower().replace("_", "-")
        return have == want or have.startswith(want + "-")


@dataclass(frozen=True)
class TermsPolicy:
    topics: tuple[Topic, ...]

    def __add__(self, other: TermsPolicy) -> TermsPolicy:
        return TermsPolicy(self.topics + other.topics)

    def topic_names(self) -> list[str]:
        return sorted({t.name for t in self.topics})


def _describe(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling; unknown keys are not ignored)"
    return f"{source}: {where}: {msg}"


def _compile(spec: TermsFileSpec, source: str) -> TermsPolicy:
    topics: list[Topic] = []
    for name, t in spec.topics.items():
        rules: list[Rule] = []
        for entry in [*t.terms, *t.phrases]:
            term, sev = (entry, None) if isinstance(entry, str) else (entry.term, entry.severity)
            try:
                rules.append(Rule(Pattern.parse(term), sev or t.severity))
            except ValueError as exc:
                raise TermsError(f"{source}: topics.{name}: {exc}") from exc
        try:
            exceptions = tuple(Pattern.parse(e) for e in t.exceptions)
        except ValueError as exc:
            raise TermsError(f"{source}: topics.{name}.exceptions: {exc}") from exc
        topics.append(
            Topic(
                name=name,
                severity=t.severity,
                rationale=" ".join(t.rationale.split()),
                locale=spec.locale,
                rules=tuple(rules),
                exceptions=exceptions,
                source=source,
            )
        )
    return TermsPolicy(tuple(topics))


def parse_terms_spec(text: str, source: str) -> TermsFileSpec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise TermsError(f"{source}: not valid YAML{where}") from exc
    if not isinstance(data, dict):
        raise TermsError(f"{source}: expected a mapping with a 'topics' key")
    try:
        return TermsFileSpec.model_validate(data)
    except ValidationError as exc:
        raise TermsError(_describe(exc, source)) from exc


def parse_terms(text: str, source: str = "terms file", *, with_default: bool | None = None) -> TermsPolicy:
    """Validate and compile a terms file; by default (``include_default``) adds the English list."""
    spec = parse_terms_spec(text, source)
    own = _compile(spec, source)
    include = spec.include_default if with_default is None else with_default
    return default_terms() + own if include else own


@lru_cache(maxsize=1)
def default_terms() -> TermsPolicy:
    text = resources.files("gates").joinpath("data", DEFAULT_TERMS_RESOURCE).read_text(encoding="utf-8")
    source = f"gates/data/{DEFAULT_TERMS_RESOURCE}"
    return _compile(parse_terms_spec(text, source), source)


@dataclass(frozen=True)
class Hit:
    """One risky phrase found in one field; becomes a :class:`Finding`."""

    image_id: str
    field: str
    topic: Topic
    term: str
    severity: str
    matched: str
    start: int
    end: int
    context: str
    tricks: frozenset[str]

    @property
    def rule(self) -> str:
        return f"sensitivity.{self.topic.name}"

    def to_finding(self) -> Finding:
        disguise = f" Written with {', '.join(sorted(self.tricks))}." if self.tricks else ""
        return Finding(
            rule=self.rule,
            severity=self.severity,
            message=(
                f'"{self.matched}" in {self.field} ({self.topic.name.replace("_", " ")}, '
                f'term "{self.term}").{disguise} {self.topic.rationale}'
            ),
            image_id=self.image_id,
            field=self.field,
            context=self.context,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "field": self.field,
            "topic": self.topic.name,
            "term": self.term,
            "severity": self.severity,
            "matched": self.matched,
            "start": self.start,
            "end": self.end,
            "obfuscation": sorted(self.tricks),
            "source": self.topic.source,
        }


def _inside(m: Match, spans: Iterable[Match]) -> bool:
    return any(s.first <= m.first and m.last <= s.last for s in spans)


def scan_text(
    text: str,
    *,
    field: str,
    image_id: str,
    terms: TermsPolicy,
    locale: str | None = None,
    file_name: bool = False,
) -> list[Hit]:
    """Hits in one piece of text, at most one per topic and place (the most severe, then longest)."""
    if not text or not text.strip():
        return []
    tokens: list[Token] = tokenize(text, split_camel_case=file_name)
    if not tokens:
        return []
    hits: list[Hit] = []
    for topic in terms.topics:
        if not topic.applies_to(locale):
            continue
        allowed = [m for p in topic.exceptions for m in find(tokens, p)]
        found: list[tuple[Match, Rule]] = [
            (m, rule) for rule in topic.rules for m in find(tokens, rule.pattern) if not _inside(m, allowed)
        ]
        found.sort(key=lambda mr: (-SEVERITY_RANK[mr[1].severity], -(mr[0].last - mr[0].first), mr[0].first))
        taken: list[Match] = []
        for m, rule in found:
            if any(not (m.last < t.first or t.last < m.first) for t in taken):
                continue
            taken.append(m)
            hits.append(
                Hit(
                    image_id=image_id,
                    field=field,
                    topic=topic,
                    term=rule.pattern.source,
                    severity=rule.severity,
                    matched=visible(text[m.start : m.end]),
                    start=m.start,
                    end=m.end,
                    context=snippet(text, m.start, m.end),
                    tricks=m.tricks,
                )
            )
    hits.sort(key=lambda h: (h.start, h.topic.name))
    return hits


def shipped_text(subject: ImageSubject) -> list[tuple[str, str]]:
    """(field, text) for everything textual that ships with the candidate image."""
    spec = subject.spec
    out: list[tuple[str, str]] = []
    for name, value in (("alt", spec.alt), ("caption", spec.caption), ("title", spec.title)):
        if value:
            out.append((name, value))
    out.append(("file_name", PurePosixPath(spec.candidate).name))
    for key, value in sorted(subject.candidate.metadata_text.items()):
        if value:
            out.append((f"metadata.{key}", value))
    return out


def scan_subject(subject: ImageSubject, terms: TermsPolicy) -> list[Hit]:
    hits: list[Hit] = []
    for field, text in shipped_text(subject):
        hits.extend(
            scan_text(
                text,
                field=field,
                image_id=subject.id,
                terms=terms,
                locale=subject.spec.locale,
                file_name=field == "file_name",
            )
        )
    return hits


def severity_counts(findings: Sequence[Finding]) -> dict[str, int]:
    counts = {s: 0 for s in SEVERITY_RANK}
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return counts


def counted(findings: Sequence[Finding], min_severity: str) -> int:
    """Findings that count against ``max_findings``; critical ones always do."""
    floor = min(SEVERITY_RANK[min_severity], SEVERITY_RANK["critical"])
    return sum(1 for f in findings if SEVERITY_RANK.get(f.severity, 2) >= floor)


class SensitivityGate:
    name = "sensitivity"
    needs_pixels = False

    def __init__(self, read_text: Callable[[str], str] | None = None) -> None:
        self._read_text = read_text
        self._cache: dict[str, TermsPolicy] = {}

    def terms_for(self, config: SensitivityConfig) -> TermsPolicy:
        """The compiled policy for ``config``; raises TermsError if the team file is unusable."""
        if config.terms_text is not None:
            source = config.terms_file or "policy terms_text"
            key = f"text:{hash(config.terms_text)}"
            if key not in self._cache:
                self._cache[key] = parse_terms(config.terms_text, source)
            return self._cache[key]
        if config.terms_file is None:
            return default_terms()
        cached = self._cache.get(config.terms_file)
        if cached is not None:
            return cached
        if self._read_text is None:
            raise TermsError(
                f"{config.terms_file}: terms_file is set but this runner cannot read files;"
                " construct SensitivityGate(read_text=…)"
            )
        try:
            text = self._read_text(config.terms_file)
        except (OSError, UnicodeDecodeError) as exc:
            raise TermsError(f"{config.terms_file}: cannot read ({exc})") from exc
        policy = parse_terms(text, config.terms_file)
        self._cache[config.terms_file] = policy
        return policy

    def evaluate(self, subject: ImageSubject, config: SensitivityConfig) -> GateResult:
        try:
            terms = self.terms_for(config)
        except TermsError as exc:
            return GateResult(
                gate=self.name,
                status=Status.INCONCLUSIVE,
                summary=str(exc),
                image_id=subject.id,
                values={"findings": 0, "counted": 0, "info": 0, "warning": 0, "critical": 0},
            )
        hits = scan_subject(subject, terms)
        findings = tuple(h.to_finding() for h in hits)
        per_severity = severity_counts(findings)
        n_counted = counted(findings, config.min_severity)
        values: dict[str, Any] = {
            "findings": len(findings),
            "counted": n_counted,
            **per_severity,
            "topics": sorted({h.topic.name for h in hits}),
        }
        if n_counted > config.max_findings:
            status = Status.FAIL
        elif findings:
            status = Status.WARN
        else:
            status = Status.PASS
        if findings:
            parts = [f"{per_severity[s]} {s}" for s in ("critical", "warning", "info") if per_severity[s]]
            summary = (
                f"{len(findings)} finding{'s' if len(findings) != 1 else ''} ({', '.join(parts)}); "
                f"{n_counted} counted against a limit of {config.max_findings}"
            )
        else:
            summary = "no sensitive wording found"
        return GateResult(
            gate=self.name,
            status=status,
            summary=summary,
            image_id=subject.id,
            measured=float(n_counted),
            threshold=float(config.max_findings),
            unit="findings",
            values=values,
            evidence={
                "hits": [h.to_dict() for h in hits],
                "fields_scanned": [f for f, _ in shipped_text(subject)],
                "terms_sources": sorted({t.source for t in terms.topics}),
                "min_severity": config.min_severity,
            },
            findings=findings,
        )

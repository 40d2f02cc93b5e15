"""Accessibility of the text alternative: does a screen-reader user learn what the image shows?

Per image (:class:`AccessibilityGate`): alt text present unless the image is declared decorative,
not a file name, not "image of …", within the length limits and, where the bundle gives a
locale, apparently written in that language. Across the bundle (:class:`DuplicateAltGate`): the
same alt text on different images, which leaves a listener unable to tell them apart.

Severities: ``critical`` means there is effectively no alternative (missing, a file name);
``warning`` means a poor one; ``info`` is advice. Any critical or warning finding fails the gate.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from gates.policy import AccessibilityConfig
from gates.result import Finding, GateResult, Status
from gates.subject import ImageSubject

_IMAGE_EXT = r"(?:jpe?g|png|webp|avif|gif|svg|tiff?|bmp|heic|heif|jxl)"
_FILE_NAME = re.compile(rf"^[\w\-. ()\[\]]+\.{_IMAGE_EXT}$", re.IGNORECASE)
# Camera and export defaults: IMG_1234, DSC00012, PXL_20240101_…, Screenshot 2024-…, hero_v2_final.
_CAMERA_NAME = re.compile(
    r"^(?:img|dsc|dscn|dscf|pxl|mvimg|gopr|dji|screenshot|screen shot|untitled|image|photo)[\s_\-]*\d[\w\-. ]*$",
    re.IGNORECASE,
)
_SLUG = re.compile(r"^[a-z0-9]+(?:[_\-][a-z0-9]+)+$")
_REDUNDANT_PREFIX = re.compile(
    r"^\s*(?:(?:an?|the|this)\s+)?(?:image|picture|photo|photograph|graphic|pic|illustration|screenshot)"
    r"\s+(?:of|showing|shows|depicting|with)\b",
    re.IGNORECASE,
)
_PLACEHOLDER = frozenset(
    {"image", "picture", "photo", "graphic", "img", "pic", "alt", "alt text", "todo", "tbd", "placeholder",
     "banner", "hero", "hero image", "logo", "icon", "spacer", "null", "none", "n/a", "-", "."}
)  # fmt: skip


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Enough function words per language to tell which one a sentence of alt text is written in.
_STOPWORDS: Mapping[str, frozenset[str]] = {
    "en": _words("the a an and of on in with at to for from by is are walking sitting its their his her"),
    "de": _words("der die das und mit auf im in ein eine einem einer den dem des zum zur von ist bei"),
    "fr": _words("le la les et avec sur dans un une des du au aux de est en pour sous"),
    "es": _words("el la los las y con en un una unos unas del al de es por para sobre"),
    "it": _words("il lo la gli le e con su nel nella un una dei degli del di è per sul sulla"),
    "nl": _words("de het een en met op in bij van is voor aan naar"),
    "pt": _words("o a os as e com em um uma do da dos das no na de é para"),
}
# Scripts by language for a cheaper, surer check than words: Latin alt on a Japanese page is wrong.
_SCRIPT_OF_LANGUAGE: Mapping[str, str] = {
    **{lang: "LATIN" for lang in ("en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da", "no", "fi", "cs")},
    "ru": "CYRILLIC", "uk": "CYRILLIC", "bg": "CYRILLIC", "el": "GREEK", "ar": "ARABIC", "he": "HEBREW",
    "ja": "CJK", "zh": "CJK", "ko": "HANGUL", "th": "THAI", "hi": "DEVANAGARI",
}  # fmt: skip

_SCRIPTS = frozenset(_SCRIPT_OF_LANGUAGE.values()) - {"CJK"}

SEVERITY_RANK: Mapping[str, int] = {"info": 0, "warning": 1, "critical": 2}


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _script(ch: str) -> str | None:
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    if name.startswith(("CJK", "HIRAGANA", "KATAKANA")):
        return "CJK"
    first = name.split(" ", 1)[0]
    return first if first in _SCRIPTS else None


def dominant_script(text: str) -> str | None:
    counts: dict[str, int] = defaultdict(int)
    for ch in text:
        if ch.isalpha() and (s := _script(ch)):
            counts[s] += 1
    if not counts:
        return None
    script, n = max(counts.items(), key=lambda kv: kv[1])
    return script if n >= 0.6 * sum(counts.values()) else None


def guess_language(text: str) -> str | None:
    """A Latin-script language guess from function words; None unless the evidence is clear."""
    words = re.findall(r"[^\W\d_]+", _norm(text))
    if len(words) < 4:
        return None
    scores = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    best = max(scores, key=lambda k: scores[k])
    ranked = sorted(scores.values(), reverse=True)
    if ranked[0] < 2 or ranked[0] < 2 * ranked[1]:
        return None
    return best


def locale_mismatch(alt: str, locale: str) -> str | None:
    """Why ``alt`` seems not to be in ``locale``'s language, or None."""
    lang = locale.replace("_", "-").split("-", 1)[0].lower()
    want_script = _SCRIPT_OF_LANGUAGE.get(lang)
    have_script = dominant_script(alt)
    if want_script and have_script and want_script != have_script:
        return f"written in {have_script.lower()} script but the page locale is {locale}"
    if lang in _STOPWORDS:
        guessed = guess_language(alt)
        if guessed is not None and guessed != lang:
            return f"reads like '{guessed}' but the page locale is {locale}"
    return None


def looks_like_file_name(alt: str, subject: ImageSubject) -> bool:
    text = alt.strip()
    if _FILE_NAME.match(text) or _CAMERA_NAME.match(text):
        return True
    folded = _norm(text)
    names = {PurePosixPath(subject.spec.candidate).name, PurePosixPath(subject.spec.candidate).stem, subject.id}
    if folded in {_norm(n) for n in names}:
        return True
    # "hero_desktop_v2": an underscored or numbered slug is an identifier, not a description
    # (plain hyphenated words like "sun-kissed" are left alone).
    return bool(_SLUG.match(folded)) and ("_" in folded or any(c.isdigit() for c in folded))


def check_alt(subject: ImageSubject, config: AccessibilityConfig) -> list[Finding]:
    spec = subject.spec
    alt = spec.alt

    def finding(rule: str, severity: str, message: str) -> Finding:
        return Finding(
            rule=f"accessibility.{rule}",
            severity=severity,
            message=message,
            image_id=spec.id,
            field="alt",
            context=alt,
        )

    if spec.decorative:
        if alt and alt.strip():
            return [
                finding(
                    "decorative_with_alt",
                    "info",
                    "image is declared decorative but has alt text; decorative images should have "
                    'empty alt (alt="") so screen readers skip them',
                )
            ]
        return []
    if alt is None or not alt.strip():
        if not config.require_alt:
            return []
        return [
            finding(
                "missing_alt",
                "critical",
                "no alt text; describe what the image shows, or declare it decorative: true if it"
                " carries no information",
            )
        ]
    out: list[Finding] = []
    folded = _norm(alt)
    if looks_like_file_name(alt, subject):
        out.append(finding("file_name_alt", "critical", f'alt text "{alt}" is a file name or identifier'))
    elif folded in _PLACEHOLDER:
        out.append(finding("placeholder_alt", "critical", f'alt text "{alt}" is a placeholder, not a description'))
    if _REDUNDANT_PREFIX.match(folded):
        out.append(
            finding(
                "redundant_prefix",
                "warning",
                'alt text starts with "image of…"/"picture of…"; screen readers already announce an '
                "image, so describe its content directly",
            )
        )
    if len(alt) > config.max_alt_length:
        out.append(
            finding(
                "too_long",
                "warning",
                f"alt text is {len(alt)} characters, over the {config.max_alt_length}-character limit;"
                " move the detail into a caption or nearby text",
            )
        )
    elif len(alt.strip()) < config.min_alt_length:
        out.append(finding("too_short", "warning", f"alt text is {len(alt.strip())} characters; too short to describe"))
    if spec.locale:
        why = locale_mismatch(alt, spec.locale)
        if why:
            out.append(finding("locale_mismatch", "warning", f"alt text {why}"))
    return out


def _status(findings: Sequence[Finding]) -> Status:
    if any(SEVERITY_RANK.get(f.severity, 2) >= 1 for f in findings):
        return Status.FAIL
    return Status.WARN if findings else Status.PASS


def _values(findings: Sequence[Finding], **extra: Any) -> dict[str, Any]:
    counts = {s: 0 for s in SEVERITY_RANK}
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return {"findings": len(findings), **counts, **extra}


class AccessibilityGate:
    name = "accessibility"
    needs_pixels = False

    def evaluate(self, subject: ImageSubject, config: AccessibilityConfig) -> GateResult:
        findings = check_alt(subject, config)
        alt = subject.spec.alt
        status = _status(findings)
        if findings:
            summary = "; ".join(f.message for f in findings[:2]) + (
                f" (+{len(findings) - 2} more)" if len(findings) > 2 else ""
            )
        elif subject.spec.decorative:
            summary = "decorative image, no alt text needed"
        elif alt is None:
            summary = "no alt text (not required by policy)"
        else:
            summary = f"alt text OK ({len(alt)} of {config.max_alt_length} characters)"
        return GateResult(
            gate=self.name,
            status=status,
            summary=summary,
            image_id=subject.id,
            measured=float(len(alt)) if alt is not None else None,
            threshold=float(config.max_alt_length),
            unit="characters",
            values=_values(findings, alt_length=len(alt) if alt is not None else None),
            evidence={"alt": alt, "decorative": subject.spec.decorative, "locale": subject.spec.locale},
            findings=tuple(findings),
        )


class DuplicateAltGate:
    """The bundle-wide part of the accessibility gate: one alt text for several different images."""

    name = "accessibility"

    def evaluate(self, subjects: Sequence[ImageSubject], config: AccessibilityConfig) -> list[GateResult]:
        groups: dict[str, list[ImageSubject]] = defaultdict(list)
        for s in subjects:
            if s.spec.decorative or not s.spec.alt or not s.spec.alt.strip():
                continue
            groups[_norm(s.spec.alt)].append(s)
        findings: list[Finding] = []
        duplicates: list[dict[str, Any]] = []
        for group in groups.values():
            # Two entries pointing at the same file are the same image; that is not a duplicate.
            files = {g.spec.candidate for g in group}
            if len(files) < 2:
                continue
            ids = [g.id for g in group]
            duplicates.append({"alt": group[0].spec.alt, "images": ids})
            if config.allow_duplicate_alt:
                continue
            for g in group:
                others = ", ".join(i for i in ids if i != g.id)
                findings.append(
                    Finding(
                        rule="accessibility.duplicate_alt",
                        severity="warning",
                        message=f"same alt text as {others}; say what differs between these images",
                        image_id=g.id,
                        field="alt",
                        context=g.spec.alt,
                    )
                )
        status = _status(findings)
        summary = (
            f"{len(duplicates)} alt text{'s' if len(duplicates) != 1 else ''} shared by different images"
            if findings
            else "every image has its own alt text"
        )
        return [
            GateResult(
                gate=self.name,
                status=status,
                summary=summary,
                measured=float(len(duplicates)),
                threshold=0.0,
                unit="duplicates",
                values=_values(findings, duplicate_groups=len(duplicates)),
                evidence={"duplicates": duplicates},
                findings=tuple(findings),
            )
        ]

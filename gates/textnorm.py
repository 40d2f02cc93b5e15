"""Text normalisation for matching risky wording that someone may have tried to disguise.

Matching runs on a normalised copy of the text (NFKC, case folding, zero-width and format
characters removed, decorative combining marks dropped) while every normalised character keeps
the index of the original character it came from, so findings quote what the author really wrote.

Each token carries *forms*: the plain normalised word plus alternative spellings (Cyrillic/Greek
look-alikes mapped to Latin, leetspeak digits mapped to letters, spaced-out letters joined). A term
matches when any form equals it, and the form records which trick it undid, so a reviewer sees
"written with look-alike letters" next to the finding. Only whole tokens are compared; that is what
keeps "Scunthorpe", "therapist" and "freedom" from matching the words hidden inside them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

# Tricks a form can undo; they appear in findings so reviewers know the text was disguised.
HOMOGLYPH = "look-alike letters"
ZERO_WIDTH = "invisible characters"
COMPAT = "stylised letters"
LEET = "digits or symbols for letters"
SPACED = "spaced-out letters"
COMBINING = "decorative accents"

# Only letters that are visually indistinguishable (or nearly) from a Latin letter in common fonts.
# Applied after case folding, so upper-case look-alikes (Cyrillic А, Greek Β …) arrive lower-cased.
CONFUSABLES: Mapping[str, str] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ү": "y", "ɡ": "g", "ь": "b", "п": "n", "г": "r",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ϲ": "c", "ζ": "z", "μ": "u", "ω": "w", "ϳ": "j",
    # Latin oddities that NFKC leaves alone
    "ı": "i", "ɑ": "a", "ǀ": "l", "ɩ": "i", "ʏ": "y", "ᴄ": "c", "ᴏ": "o", "ᴠ": "v", "ᴡ": "w", "ᴢ": "z",
}  # fmt: skip

_KEEP_BEFORE_NFKC = frozenset({"ϲ", "Ϲ"})

# Leetspeak; "1" is ambiguous, so both readings become forms.
_LEET: Mapping[str, tuple[str, ...]] = {
    "0": ("o",), "1": ("i", "l"), "3": ("e",), "4": ("a",), "5": ("s",), "7": ("t",), "8": ("b",),
    "@": ("a",), "$": ("s",), "!": ("i",), "|": ("l",),
}  # fmt: skip
_LEET_SYMBOLS = "@$!|"
_MAX_FORMS = 16

_APOSTROPHES = {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\uff07": "'"}

# Sentence punctuation ends a phrase: "no risk. Free delivery" must not read as "risk free".
_HARD_BREAK = set('.,;:!?()[]{}"/\\|\n\r\t') | {"…", "«", "»", "“", "”", "•"}
_ONE_LETTER_WORDS = "aio"
_SPACED_GAP = re.compile(r"^[\s.\-_*·•+~/|,]{1,2}$")


@dataclass(frozen=True)
class Normalized:
    """Normalised text plus, per normalised character, the original index it came from."""

    original: str
    text: str
    origin: tuple[int, ...]
    # Per normalised character, the end of the original cluster (base letter plus its marks).
    origin_end: tuple[int, ...]
    # Original indices whose character was changed by a trick (zero-width removed, NFKC, accents).
    tricks_at: Mapping[int, frozenset[str]] = field(default_factory=dict)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) covering normalised [start, end)."""
        return self.origin[start], self.origin_end[end - 1]


def _is_removable(ch: str) -> bool:
    # Cf covers zero-width space/joiners, BOM, soft hyphen, bidi controls, word joiner.
    return unicodedata.category(ch) == "Cf" or ch == "\u034f"


def normalize(text: str) -> Normalized:
    out: list[str] = []
    origin: list[int] = []
    origin_end: list[int] = []
    tricks: dict[int, set[str]] = {}
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if _is_removable(ch):
            # Attributed to the next character so a token containing it reports the trick.
            tricks.setdefault(i + 1, set()).add(ZERO_WIDTH)
            i += 1
            continue
        # Group a base character with the combining marks that follow it.
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        cluster = text[i:j]
        composed = unicodedata.normalize("NFC", cluster)
        if len(composed) > 1 and unicodedata.combining(composed[-1]):
            # Marks with no precomposed letter (underlines, strike-throughs, Zalgo) are decoration.
            composed = "".join(c for c in composed if not unicodedata.combining(c))
            tricks.setdefault(i, set()).add(COMBINING)
        # NFKC turns the lunate sigma (a perfect "c") into σ, losing the look-alike.
        folded = composed if composed in _KEEP_BEFORE_NFKC else unicodedata.normalize("NFKC", composed)
        if folded != composed and not composed.isascii():
            tricks.setdefault(i, set()).add(COMPAT)
        folded = folded.casefold()
        for c in folded:
            if unicodedata.combining(c):
                continue
            out.append(_APOSTROPHES.get(c, c))
            origin.append(i)
            origin_end.append(j)
        i = j
    return Normalized(
        original=text,
        text="".join(out),
        origin=tuple(origin),
        origin_end=tuple(origin_end),
        tricks_at={k: frozenset(v) for k, v in tricks.items()},
    )


@dataclass(frozen=True)
class Token:
    """One word; ``start``/``end`` index the original text, ``forms`` maps spelling → tricks undone."""

    start: int
    end: int
    text: str
    forms: Mapping[str, frozenset[str]]
    hard_break_before: bool = False


_WORD = re.compile(r"[^\W_](?:[^\W_]|'(?=[^\W_])|[@$!|](?=[^\W_]))*")


def _skeleton(word: str) -> str:
    return "".join(CONFUSABLES.get(c, c) for c in word)


def _leet_forms(word: str) -> list[str]:
    if not any(c in _LEET or c in _LEET_SYMBOLS for c in word) or not any(c.isalpha() for c in word):
        return []
    forms = [""]
    for c in word:
        options = _LEET.get(c, (c,))
        forms = [f + o for f in forms for o in options][:_MAX_FORMS]
    return [f for f in forms if f != word]


def _forms_for(word: str, base_tricks: frozenset[str]) -> dict[str, frozenset[str]]:
    forms: dict[str, frozenset[str]] = {word: base_tricks}
    skel = _skeleton(word)
    if skel != word:
        forms.setdefault(skel, base_tricks | {HOMOGLYPH})
    for candidate, extra in list(forms.items()):
        for leet in _leet_forms(candidate):
            forms.setdefault(leet, extra | {LEET})
    for candidate, extra in list(forms.items()):
        if candidate.endswith("'s") and len(candidate) > 2:
            forms.setdefault(candidate[:-2], extra)
        if "'" in candidate:
            forms.setdefault(candidate.replace("'", ""), extra)
    return forms


def _tricks_in(norm: Normalized, start: int, end: int) -> frozenset[str]:
    found: set[str] = set()
    for k in range(start, end + 1):
        found |= norm.tricks_at.get(k, frozenset())
    return frozenset(found)


def _has_hard_break(gap: str) -> bool:
    return any(c in _HARD_BREAK for c in gap)


def tokenize(text: str, *, split_camel_case: bool = False) -> list[Token]:
    """Words of ``text`` after normalisation, with spaced-out letter runs joined into one token."""
    norm = normalize(text)
    raw: list[tuple[int, int]] = []  # normalised [start, end)
    for m in _WORD.finditer(norm.text):
        if split_camel_case:
            raw.extend(_camel_parts(norm, m.start(), m.end()))
        else:
            raw.append((m.start(), m.end()))
    tokens: list[Token] = []
    prev_end = 0
    k = 0
    while k < len(raw):
        s, e = raw[k]
        gap = norm.text[prev_end:s]
        hard = _has_hard_break(gap) or not tokens
        # A run of ≥3 single letters with short gaps ("f r e e", "c.u.r.e") is one disguised word.
        run = k
        while (
            run + 1 < len(raw)
            and raw[run][1] - raw[run][0] == 1
            and raw[run + 1][1] - raw[run + 1][0] == 1
            and _SPACED_GAP.match(norm.text[raw[run][1] : raw[run + 1][0]])
        ):
            run += 1
        if run - k + 1 >= 3 and e - s == 1:
            letters = "".join(norm.text[a:b] for a, b in raw[k : run + 1])
            end = raw[run][1]
            o_start, o_end = norm.span(s, end)
            base = _tricks_in(norm, o_start, o_end - 1) | {SPACED}
            forms = _forms_for(letters, base)
            # A one-letter word may be glued on ("a f r e e gift", "f r e e i swear"); try without it.
            head = letters[1:] if letters[0] in _ONE_LETTER_WORDS else letters
            tail = head[:-1] if head[-1] in _ONE_LETTER_WORDS else head
            for trimmed in {head, tail}:
                if len(trimmed) >= 3:
                    for f, t in _forms_for(trimmed, base).items():
                        forms.setdefault(f, t)
            tokens.append(Token(o_start, o_end, letters, forms, hard))
            prev_end = end
            k = run + 1
            continue
        o_start, o_end = norm.span(s, e)
        word = norm.text[s:e]
        tokens.append(Token(o_start, o_end, word, _forms_for(word, _tricks_in(norm, o_start, o_end - 1)), hard))
        prev_end = e
        k += 1
    return tokens


def _camel_parts(norm: Normalized, s: int, e: int) -> list[tuple[int, int]]:
    # File names like "FreeShipping.webp". Case is gone after folding, so the original
    # characters tell where the case changes.
    parts: list[tuple[int, int]] = []
    start = s
    for p in range(s + 1, e):
        before = norm.original[norm.origin[p - 1]]
        here = norm.original[norm.origin[p]]
        if before.islower() and here.isupper():
            parts.append((start, p))
            start = p
    parts.append((start, e))
    return parts


@dataclass(frozen=True)
class Pattern:
    """A term or phrase, normalised: words to match in order; a word ending in ``*`` is a prefix."""

    source: str
    words: tuple[str, ...]

    @classmethod
    def parse(cls, source: str) -> Pattern:
        words: list[str] = []
        for piece in source.split():
            prefix = piece.endswith("*")
            core = piece[:-1] if prefix else piece
            sub = [t.text for t in tokenize(core)]
            if not sub:
                continue
            if prefix:
                sub[-1] += "*"
            words.extend(sub)
        if not words:
            raise ValueError(f"{source!r} has no words to match")
        return cls(source=source, words=tuple(words))


@dataclass(frozen=True)
class Match:
    first: int  # token index
    last: int  # token index, inclusive
    start: int  # original text
    end: int
    tricks: frozenset[str]


def _word_match(word: str, token: Token) -> frozenset[str] | None:
    if word.endswith("*"):
        stem = word[:-1]
        hits = [t for f, t in token.forms.items() if f.startswith(stem)]
    else:
        hit = token.forms.get(word)
        hits = [] if hit is None else [hit]
    if not hits:
        return None
    return min(hits, key=len)  # the least-disguised reading explains the match best


def find(tokens: Sequence[Token], pattern: Pattern) -> Iterator[Match]:
    """Every whole-word occurrence of ``pattern``; phrases never span sentence punctuation."""
    n = len(pattern.words)
    for i in range(len(tokens) - n + 1):
        tricks: set[str] = set()
        for offset, word in enumerate(pattern.words):
            tok = tokens[i + offset]
            if offset and tok.hard_break_before:
                break
            got = _word_match(word, tok)
            if got is None:
                break
            tricks |= got
        else:
            yield Match(i, i + n - 1, tokens[i].start, tokens[i + n - 1].end, frozenset(tricks))


def visible(text: str) -> str:
    """``text`` with invisible characters spelled out, so a reviewer can see what was hidden."""
    return "".join(f"[U+{ord(c):04X}]" if _is_removable(c) else c for c in text)


def snippet(text: str, start: int, end: int, width: int = 40) -> str:
    """The match with up to ``width`` characters either side, on one line, cut at word edges."""
    lo = max(0, start - width)
    hi = min(len(text), end + width)
    if lo > 0 and " " in text[lo:start]:
        lo = text.index(" ", lo, start) + 1
    if hi < len(text) and " " in text[end:hi]:
        hi = text.rindex(" ", end, hi)
    out = text[lo:hi]
    out = "".join(c for c in out if not _is_removable(c))
    out = " ".join(out.split())
    return ("…" if lo > 0 else "") + out + ("…" if hi < len(text) else "")

"""Normalisation and whole-word matching, including disguised spellings and false-positive traps."""

from __future__ import annotations

import pytest

from gates.textnorm import (
    COMBINING,
    COMPAT,
    HOMOGLYPH,
    LEET,
    SPACED,
    ZERO_WIDTH,
    Pattern,
    find,
    normalize,
    snippet,
    tokenize,
    visible,
)


def matches(text: str, term: str) -> list[str]:
    return [text[m.start : m.end] for m in find(tokenize(text), Pattern.parse(term))]


def test_normalize_keeps_origin_indices() -> None:
    n = normalize("Ｆr\u200bee")
    assert n.text == "free"
    assert n.origin == (0, 1, 3, 4)
    assert n.span(0, 4) == (0, 5)


@pytest.mark.parametrize(
    ("text", "term", "found", "trick"),
    [
        ("Get it free today", "free", "free", None),
        ("FREE shipping", "free", "FREE", None),
        ("Our frее gift", "free", "frее", HOMOGLYPH),  # Cyrillic е
        ("ϲure", "cure", "ϲure", HOMOGLYPH),  # Greek lunate sigma
        ("GUАRАNTEED", "guaranteed", "GUАRАNTEED", HOMOGLYPH),  # Cyrillic А
        ("fr\u200dee", "free", "fr\u200dee", ZERO_WIDTH),
        ("c\u200bu\u200cr\ufeffe", "cure", "c\u200bu\u200cr\ufeffe", ZERO_WIDTH),
        ("cu\u00adre", "cure", "cu\u00adre", ZERO_WIDTH),  # soft hyphen
        ("ＦＲＥＥ", "free", "ＦＲＥＥ", COMPAT),  # fullwidth
        ("𝐟𝐫𝐞𝐞", "free", "𝐟𝐫𝐞𝐞", COMPAT),  # mathematical bold
        ("c\u0332u\u0332r\u0332e\u0332", "cure", "c\u0332u\u0332r\u0332e\u0332", COMBINING),
        ("get it f r e e", "free", "f r e e", SPACED),
        ("c.u.r.e your cold", "cure", "c.u.r.e", SPACED),
        ("F-R-E-E", "free", "F-R-E-E", SPACED),
        ("a f r e e gift", "free", "a f r e e", SPACED),
        ("fr33 stuff", "free", "fr33", LEET),
        ("gu@ranteed", "guaranteed", "gu@ranteed", LEET),
        ("k1ll", "kill", "k1ll", LEET),
        ("risk-free trial", "risk free", "risk-free", None),
        ("risk   free", "risk-free", "risk   free", None),
        ("the kid's room", "kid", "kid's", None),
        ("the kid’s room", "kid", "kid’s", None),
        ("terrorism", "terroris*", "terrorism", None),
        ("FreeShipping.webp", "free", "Free", None),  # camel case only splits file names … see below
    ],
)
def test_disguised_spellings_match(text: str, term: str, found: str, trick: str | None) -> None:
    split = text.endswith(".webp")
    hits = list(find(tokenize(text, split_camel_case=split), Pattern.parse(term)))
    assert [text[h.start : h.end] for h in hits] == [found]
    if trick is None:
        assert not hits[0].tricks - {COMPAT}
    else:
        assert trick in hits[0].tricks


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("Scunthorpe United", "cunt"),
        ("a licensed therapist", "rapist"),
        ("freedom of movement", "free"),
        ("carefree summer", "free"),
        ("secure checkout", "cure"),
        ("hand-curated collection", "cure"),
        ("Egyptian cotton", "gyp"),
        ("flame retardant", "retard"),  # the word itself would match; exceptions handle this at policy level
        ("No risk. Free delivery", "risk free"),
        ("no risk, free delivery", "risk free"),
        ("skill levels", "kill"),
        ("Essex coastline", "sex"),
        ("curé", "cure"),  # a real accented word is not decoration
        ("FreeShipping", "free"),  # camel case is split only in file names
        ("ｆｒｅｅｄｏｍ", "free"),
    ],
)
def test_false_positive_traps(text: str, term: str) -> None:
    if term == "retard":
        assert matches(text, term) == []  # "retardant" is a different word
    else:
        assert matches(text, term) == []


def test_spaced_run_needs_three_letters() -> None:
    assert matches("I a m here", "am") == []
    assert matches("plan A or B", "ab") == []


def test_phrase_words_in_order_only() -> None:
    assert matches("free risk", "risk free") == []
    assert matches("Try it risk free!", "risk free") == ["risk free"]


def test_pattern_parse_rejects_empty() -> None:
    with pytest.raises(ValueError):
        Pattern.parse("  --- ")


def test_snippet_shows_context_without_invisible_characters() -> None:
    text = "A long caption that says this product is guaranteed to cure c\u200bolds in minutes, really"
    start = text.index("cure")
    out = snippet(text, start, start + 4, width=20)
    assert "cure" in out and out.startswith("…") and out.endswith("…")
    assert "\u200b" not in out


def test_visible_spells_out_hidden_characters() -> None:
    assert visible("fr\u200bee") == "fr[U+200B]ee"

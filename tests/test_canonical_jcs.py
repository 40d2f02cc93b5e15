"""storage.canonical against the official RFC 8785 (JCS) test vectors (see tests/data/jcs/README.md)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.canonical import MAX_SAFE_INTEGER, canonical_json, es_number

DATA = Path(__file__).parent / "data" / "jcs"
NAMES = sorted(p.stem for p in (DATA / "input").glob("*.json"))
_D = struct.Struct("<d")
_Q = struct.Struct("<Q")


def _double(bits: int) -> float:
    value: float = _D.unpack(_Q.pack(bits))[0]
    return value


@pytest.mark.parametrize("name", NAMES)
def test_official_input_output_pairs(name: str) -> None:
    value = json.loads((DATA / "input" / f"{name}.json").read_text(encoding="utf-8"))
    assert canonical_json(value) == (DATA / "output" / f"{name}.json").read_bytes()


def test_outhex() -> None:
    value = json.loads((DATA / "input" / "simpleString.json").read_text(encoding="utf-8"))
    assert canonical_json(value).hex(" ").upper() == (DATA / "outhex" / "simpleString.txt").read_text().strip()


def _appendix_b() -> list[tuple[str, str, str]]:
    with (DATA / "rfc8785_appendix_b.csv").open(encoding="utf-8") as f:
        return [(r["ieee754_hex"], r["expected"], r["comment"]) for r in csv.DictReader(f)]


@pytest.mark.parametrize(("hex_bits", "expected", "comment"), _appendix_b())
def test_rfc8785_appendix_b_numbers(hex_bits: str, expected: str, comment: str) -> None:
    x = _double(int(hex_bits, 16))
    if expected == "ERROR":
        with pytest.raises(ValueError, match="NaN and Infinity"):
            canonical_json(x)
        return
    assert canonical_json(x) == expected.encode()
    assert canonical_json([x]) == f"[{expected}]".encode()


def _es6_bits() -> Iterator[int]:
    """The bit patterns of es6testfile100m.txt, as its README specifies them."""
    yield from (int(h, 16) for h in (DATA / "es6_numgen_static.txt").read_text().split())
    yield from (0x0010000000000000 + i for i in range(2000))
    block = bytes(32)
    while True:
        block = hashlib.sha256(block).digest()
        for u in struct.unpack("<4Q", block):
            if (u >> 52) & 0x7FF == 0x7FF or u & 0x7FFF_FFFF_FFFF_FFFF == 0:
                continue  # NaN, infinities, zeros
            yield u


def _es6_checksums() -> dict[int, tuple[str, int]]:
    with (DATA / "es6_checksums.csv").open(encoding="utf-8") as f:
        return {int(r["lines"]): (r["sha256"], int(r["bytes"])) for r in csv.DictReader(f)}


# 1M lines take about 6 s here; RELEASEGATE_ES6_LINES=10000000 checks 10M (about a minute).
ES6_LINES = int(os.environ.get("RELEASEGATE_ES6_LINES", "1000000"))


def test_es6_number_corpus_checksums() -> None:
    """Our line for every number of the ES6 test file hashes to the published checksum."""
    published = _es6_checksums()
    assert ES6_LINES in published, f"RELEASEGATE_ES6_LINES must be one of {sorted(published)}"
    h = hashlib.sha256()
    size = 0
    checked = []
    for n, bits in enumerate(_es6_bits(), start=1):
        line = f"{bits:x},{es_number(_double(bits))}\n".encode()
        h.update(line)
        size += len(line)
        if n in published:
            assert (h.hexdigest(), size) == published[n], f"first {n} lines differ from es6testfile100m.txt"
            checked.append(n)
        if n == ES6_LINES:
            break
    assert checked[-1] == ES6_LINES


def test_sample_lines_from_the_es6_readme() -> None:
    for line in [
        "4340000000000001,9007199254740994",
        "4340000000000002,9007199254740996",
        "444b1ae4d6e2ef50,1e+21",
        "3eb0c6f7a0b5ed8d,0.000001",
        "3eb0c6f7a0b5ed8c,9.999999999999997e-7",
        "8000000000000000,0",
        "0,0",
    ]:
        hex_bits, expected = line.split(",")
        assert es_number(_double(int(hex_bits, 16))) == expected


def test_issue_11_numbers() -> None:
    assert canonical_json(1e21 / 3) == b"333333333333333300000"  # v1 printed 333333333333333311488
    assert canonical_json(_double(0xBECBF647612F3696)) == b"-0.0000033333333333333333"  # v1: -0.000003
    assert canonical_json(1e-5 / 3) == b"0.0000033333333333333337"
    assert canonical_json(1e-7) == b"1e-7" and canonical_json(1e-6) == b"0.000001"
    assert canonical_json(1e20) == b"100000000000000000000" and canonical_json(1e21) == b"1e+21"
    assert canonical_json(-0.0) == b"0" and canonical_json(5.0) == b"5" and canonical_json(2.5) == b"2.5"


def test_integers_outside_ijson_range_are_refused() -> None:
    assert canonical_json(MAX_SAFE_INTEGER) == b"9007199254740991"
    assert canonical_json(-MAX_SAFE_INTEGER) == b"-9007199254740991"
    for bad in (MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 2**60 + 1, 10**30):
        with pytest.raises(ValueError, match=r"outside I-JSON's exact range"):
            canonical_json({"n": bad})
    # Parsed back from JSON text a long integer literal is a double, as in JavaScript.
    assert canonical_json(json.loads("100000000000000000000"), ints_as_doubles=True) == b"100000000000000000000"
    assert canonical_json(2**60 + 1, ints_as_doubles=True) == b"1152921504606847000"
    assert canonical_json(True) == b"true" and canonical_json(False) == b"false"


def test_string_escaping_is_minimal() -> None:
    """RFC 8785 §3.2.2.2: only the mandatory escapes, short forms where JSON has them."""
    controls = "".join(chr(c) for c in range(0x20))
    expected = (
        "\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
        "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c"
        "\\u001d\\u001e\\u001f"
    )
    assert canonical_json(controls) == f'"{expected}"'.encode()
    assert canonical_json('"\\/') == b'"\\"\\\\/"'
    # Not escaped: DEL, C1 controls, line/paragraph separators, non-BMP, noncharacters.
    s = "\x7f\x80\x9f\u2028\u2029\U0001f602\ufffe"
    assert canonical_json(s) == b'"' + s.encode("utf-8") + b'"'
    # json.dumps(ensure_ascii=False) agrees on valid strings, which is what v1 relied on.
    for t in (controls, s, '"\\/', "naïve ☕"):
        assert canonical_json(t) == json.dumps(t, ensure_ascii=False).encode("utf-8")


def test_lone_surrogates_are_refused() -> None:
    for bad in ("\ud800", "a\udfffb", {"\udc00": 1}):
        with pytest.raises(ValueError, match="lone surrogate"):
            canonical_json(bad)


def test_keys_sort_by_utf16_code_units() -> None:
    # U+1F602 is D83D DE02 in UTF-16: before U+FB33 and U+FFFF, although its code point is larger.
    value = {"\uffff": 0, "\ufb33": 1, "\U0001f602": 2, "\u20ac": 3, "\u00f6": 4, "\x80": 5, "1": 6, "\r": 7, "": 8}
    out = canonical_json(value).decode()
    assert [k for k in json.loads(out)] == ["", "\r", "1", "\x80", "\u00f6", "\u20ac", "\U0001f602", "\ufb33", "\uffff"]


def test_keys_and_types() -> None:
    assert canonical_json({2: "b", "10": "a"}) == b'{"10":"a","2":"b"}'  # int keys as json.dumps writes them
    with pytest.raises(ValueError, match="duplicate object key"):
        canonical_json({1: "a", "1": "b"})
    for bad_key in (True, 1.5, None, (1, 2)):
        with pytest.raises(TypeError, match="keys must be strings"):
            canonical_json({bad_key: 1})
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        canonical_json({"x": {1, 2}})
    with pytest.raises(ValueError):
        canonical_json(float("inf"))
    assert canonical_json((1, [2, {}])) == b"[1,[2,{}]]"


def test_numpy_float_subclass() -> None:
    np = pytest.importorskip("numpy")
    assert canonical_json(np.float64(1e21 / 3)) == b"333333333333333300000"

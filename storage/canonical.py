"""Canonical JSON: RFC 8785, the JSON Canonicalization Scheme (JCS), exactly.

JCS fixes key order (UTF-16 code units), whitespace, string escaping and number formatting,
so the same value hashes the same on any machine and after a JSON round trip through an export.
Checked against the cyberphone/json-canonicalization test vectors and the ES6 number corpus
(tests/test_canonical_jcs.py).

Choices where Python values go beyond JSON (RFC 8785 §3.1 requires I-JSON, RFC 7493):

* A JSON number is an IEEE 754 double. Python ``int`` is accepted only within I-JSON's exact
  range, ±(2^53 − 1) (RFC 7493 §2.2); a larger int raises ``ValueError`` instead of being
  silently rounded, because two different ints would then hash alike. RFC 8785 Appendix D
  recommends sending such numbers as strings. ``ints_as_doubles=True`` is for re-encoding
  values parsed back from JSON text, where a number *is* a double: a long integer literal
  (``100000000000000000000`` from the float 1e20) then stands for its double.
* NaN and ±Infinity raise ``ValueError`` (RFC 8785 §3.2.2.3).
* Strings must be valid Unicode: a lone surrogate raises ``ValueError`` (it has no UTF-8
  form; I-JSON forbids it). Only the escapes of §3.2.2.2 are used: ``\\"`` ``\\\\``, the short
  forms ``\\b \\t \\n \\f \\r``, and ``\\u00xx`` (lowercase hex) for the other controls below
  U+0020. Everything else, U+007F and U+2028 included, is written as UTF-8.
* Object keys must be strings; ``int`` keys are written as their decimal string (what
  ``json.dumps`` and the database's JSON column do), other key types raise ``TypeError``.
"""

from __future__ import annotations

import math
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1  # RFC 7493 §2.2, ECMAScript Number.MAX_SAFE_INTEGER

_float_repr = float.__repr__  # numpy's float64 overrides repr ("np.float64(1.5)")

_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)} | {
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0C: "\\f",
    0x0D: "\\r",
    0x22: '\\"',
    0x5C: "\\\\",
}


def es_number(x: float) -> str:
    """ECMAScript Number::toString(x) (ECMA-262 Number::toString, with its Note 2), for finite x.

    ``repr`` gives the shortest digit string that reads back as x, the closest one when there
    are several (David Gay's algorithm, as Note 2 asks); only the layout differs from ES.
    """
    if not math.isfinite(x):
        raise ValueError(f"JCS cannot represent {x!r} (RFC 8785 §3.2.2.3: NaN and Infinity are errors)")
    if x == 0:
        return "0"  # -0 too
    r = _float_repr(x)
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    mantissa, _, exponent = r.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    # x = 0.<digits> × 10^n
    n = len(whole) + (int(exponent) if exponent else 0)
    significant = digits.lstrip("0")
    n -= len(digits) - len(significant)
    d = significant.rstrip("0")
    k = len(d)
    if k <= n <= 21:
        return sign + d + "0" * (n - k)
    if 0 < n <= 21:
        return sign + d[:n] + "." + d[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + d
    e = n - 1
    exp = ("e+" if e > 0 else "e-") + str(abs(e))
    return sign + (d if k == 1 else d[0] + "." + d[1:]) + exp


def _string(s: str) -> str:
    return '"' + s.translate(_ESCAPES) + '"'


def _int(v: int, ints_as_doubles: bool) -> str:
    if -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
        return str(int(v))
    if ints_as_doubles:
        return es_number(float(v))
    raise ValueError(
        f"integer {int(v)} is outside I-JSON's exact range ±(2^53 - 1), so JCS (RFC 8785 §3.1, RFC 7493 §2.2) "
        "cannot carry it without rounding; store it as a string"
    )


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, int) and not isinstance(k, bool):
        return str(int(k))
    raise TypeError(f"JSON object keys must be strings, not {type(k).__name__} ({k!r})")


def _encode(v: Any, out: list[str], ints_as_doubles: bool) -> None:
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, str):
        out.append(_string(v))
    elif isinstance(v, int):
        out.append(_int(v, ints_as_doubles))
    elif isinstance(v, float):
        out.append(es_number(v))
    elif isinstance(v, dict):
        items = [(_key(k), val) for k, val in v.items()]
        # UTF-16 code units compare like the big-endian bytes of UTF-16BE (RFC 8785 §3.2.3).
        items.sort(key=lambda kv: kv[0].encode("utf-16-be"))
        if len({k for k, _ in items}) != len(items):
            raise ValueError("duplicate object key after converting int keys to strings")
        out.append("{")
        for i, (k, val) in enumerate(items):
            if i:
                out.append(",")
            out.append(_string(k))
            out.append(":")
            _encode(val, out, ints_as_doubles)
        out.append("}")
    elif isinstance(v, list | tuple):
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            _encode(x, out, ints_as_doubles)
        out.append("]")
    else:
        raise TypeError(f"not JSON-serialisable for canonical JSON: {type(v).__name__}")


def canonical_json(value: Any, *, ints_as_doubles: bool = False) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``value`` (see the module notes for the edge cases)."""
    out: list[str] = []
    try:
        _encode(value, out, ints_as_doubles)
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else ""
        raise ValueError(
            f"string holds a lone surrogate {bad!r}: not valid Unicode, so not JSON that JCS can encode "
            "(RFC 8785 §3.2.2.2, RFC 7493 §2.1)"
        ) from None

"""The v1 audit encoding: a near-JCS canonical JSON, kept only to verify v1 audit entries.

Frozen: audit entries hashed under ``releasegate.audit.v1`` were encoded with exactly this code,
so it must not change, bugs included. It differs from RFC 8785 for floats from 2^53 to 1e21
(every binary digit printed: ``333333333333333311488`` where ECMAScript gives
``333333333333333300000``) and for |x| in [1e-6, 1e-4) (cut to six decimals), and it prints
Python ints of any size exactly. New code uses :func:`storage.canonical.canonical_json`.
"""

from __future__ import annotations

import json
import math
from typing import Any


def _number(x: float) -> str:
    if not math.isfinite(x):
        raise ValueError("JCS cannot represent NaN or infinity")
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e21:
        return str(int(x))
    # ECMAScript Number.prototype.toString: shortest round-trip digits, exponent form
    # outside [1e-6, 1e21).
    r = repr(x)
    if "e" in r or "E" in r:
        mant, exp = r.lower().split("e")
        e = int(exp)
        if -7 < e < 21:
            return format(x, "f").rstrip("0").rstrip(".") if "." in format(x, "f") else format(x, "f")
        return f"{mant}e{'+' if e > 0 else '-'}{abs(e)}"
    return r


def _encode(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: str(kv[0]).encode("utf-16-be"))
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_encode(val)}" for k, val in items) + "}"
    if isinstance(v, list | tuple):
        return "[" + ",".join(_encode(x) for x in v) + "]"
    raise TypeError(f"not JSON-serialisable for the audit chain: {type(v).__name__}")


def canonical_json_v1(value: Any) -> bytes:
    return _encode(value).encode("utf-8")

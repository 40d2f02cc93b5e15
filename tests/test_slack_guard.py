"""The signature check in front of /slack/events, against slack_sdk's own signer (an independent computation)."""

from __future__ import annotations

import time

from slack_sdk.signature import SignatureVerifier

from bot.http.slack_guard import signature_problem

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"token=xyz&team_id=T1DC2JH3J&command=%2Frelease&text=start+summer-hero"


def _signed(ts: str, body: bytes = BODY) -> str:
    sig = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
    assert sig is not None
    return sig


def test_a_request_slack_signed_passes() -> None:
    now = time.time()
    ts = str(int(now))
    assert signature_problem(SECRET, BODY, ts, _signed(ts), now) is None


def test_each_forgery_is_named() -> None:
    now = time.time()
    ts = str(int(now))
    good = _signed(ts)
    assert signature_problem(SECRET, BODY + b"x", ts, good, now) == "signature does not match"
    assert signature_problem("other-secret", BODY, ts, good, now) == "signature does not match"
    assert signature_problem(SECRET, BODY, str(int(now) - 301), _signed(str(int(now) - 301)), now) == (
        "stale X-Slack-Request-Timestamp"
    )
    for ts_bad in ("abc", "", "١٢٣", "1e9", None):
        assert signature_problem(SECRET, BODY, ts_bad, good, now) == "missing or malformed X-Slack-Request-Timestamp"
    for sig_bad in ("v0=é", "v1=" + good[3:], good.upper(), "", None):
        assert signature_problem(SECRET, BODY, ts, sig_bad, now) == "missing or malformed X-Slack-Signature"


def test_a_body_that_is_not_utf8_is_judged_not_crashed_on() -> None:
    now = time.time()
    ts = str(int(now))
    body = b"\xff\xfe not utf-8"
    assert signature_problem(SECRET, body, ts, "v0=" + "0" * 64, now) == "signature does not match"

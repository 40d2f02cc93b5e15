"""Slack Events API retries are recognised by event_id and handled once, on any replica."""

from __future__ import annotations

import json
import time

from bot.demo.simulated_users import sign
from tests.e2e.harness import SECRET, Env


async def _deliver(env: Env, body: str, retry: int | None = None, secret: str = SECRET) -> tuple[int, str | None]:
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(secret, ts, body),
    }
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    async with env.session.post(f"{env.base}/slack/events", data=body.encode(), headers=headers) as r:
        return r.status, r.headers.get("X-Releasegate-Duplicate")


async def test_event_retries_are_deduplicated_by_event_id(env: Env) -> None:
    body = json.dumps(
        {
            "token": "x",
            "team_id": "T0DEMO0001",
            "api_app_id": "A0RELEASEG",
            "type": "event_callback",
            "event_id": "Ev0RETRY01",
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "user": "U0REVIEWER",
                "text": "hi",
                "channel": "C0RELEASES",
                "ts": "1.000100",
            },
        }
    )
    first = await _deliver(env, body)
    assert first[1] is None  # handed to Bolt (which has no listener for app_mention)
    assert await _deliver(env, body, retry=1) == (200, "1")
    assert await _deliver(env, body, retry=2) == (200, "1")
    # A forged "retry" is never recorded nor short-circuited: Bolt refuses its signature.
    forged = await _deliver(env, body.replace("Ev0RETRY01", "Ev0FORGED1"), retry=1, secret="wrong")
    assert forged[0] == 401
    async with env.bot.store.sessions() as s:  # type: ignore[union-attr]
        from sqlalchemy import text

        ids = (await s.execute(text("SELECT event_id FROM slack_events_seen"))).scalars().all()
    assert ids == ["Ev0RETRY01"]

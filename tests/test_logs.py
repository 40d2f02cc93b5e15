"""Logs an SRE can read at 3 a.m.: one line per release event, JSON when asked, no scheduler chatter."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.logs import JsonFormatter, configure
from storage.repo import AuditNote, Store

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


async def test_a_release_event_is_logged_once_with_its_fields_after_commit(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="releasegate.events")
    await store.create_release(
        name="promo",
        title="t",
        channel_id="C1",
        requested_by="U1",
        bundle_dir="/x",
        bundle={"title": "t", "images": [{"id": "a"}]},
        policy={},
        phase="preview",
        state="running",
        now=NOW,
    )
    events = [r for r in caplog.records if r.name == "releasegate.events"]
    assert len(events) == 1
    r = events[0]
    assert r.getMessage() == "promo attempt 1 preview: release.start ok by U1"
    assert (r.release, r.attempt, r.phase, r.actor, r.action) == ("promo", 1, "preview", "U1", "release.start")  # type: ignore[attr-defined]
    line = json.loads(JsonFormatter().format(r))
    assert line["release"] == "promo" and line["actor"] == "U1" and line["level"] == "INFO"


async def test_an_event_whose_transaction_rolls_back_is_not_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="releasegate.events")
    with pytest.raises(RuntimeError):
        async with store.sessions.begin() as s:
            await store._append_audit(s, AuditNote("U1", "release.pause", "ok", {}), NOW, None)
            raise RuntimeError("boom")
    assert [r for r in caplog.records if r.name == "releasegate.events"] == []


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure() replaces the root handlers (pytest's capture among them): put everything back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    chatty = {n: logging.getLogger(n).level for n in ("apscheduler", "alembic")}
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    for n, lv in chatty.items():
        logging.getLogger(n).setLevel(lv)


@pytest.mark.usefixtures("restore_logging")
def test_scheduler_info_is_quiet_unless_debugging() -> None:
    configure("INFO", "text")
    assert not logging.getLogger("apscheduler.scheduler").isEnabledFor(logging.INFO)
    assert logging.getLogger("apscheduler.scheduler").isEnabledFor(logging.WARNING)
    configure("DEBUG", "text")
    assert logging.getLogger("apscheduler.scheduler").isEnabledFor(logging.DEBUG)


def test_json_format_from_the_environment_gives_one_object_per_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RELEASEGATE_LOG_FORMAT": "json",
        "RELEASEGATE_LOG_LEVEL": "debug",
        "RELEASEGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
    }
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert lines, "DEBUG should have logged something (alembic, at least)"
    for ln in lines:
        obj = json.loads(ln)
        assert {"ts", "level", "logger", "message"} <= set(obj)


def test_a_bad_log_level_is_one_clear_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RELEASEGATE_LOG_LEVEL": "loud",
        "RELEASEGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
    }
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "releasegate: setting RELEASEGATE_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    )

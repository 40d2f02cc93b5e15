"""Logging set-up: one line per record, text or JSON (``RELEASEGATE_LOG_FORMAT=json``).

Release events (every audit entry) arrive from ``storage.events`` with ``release``, ``attempt``,
``phase``, ``actor`` and ``action`` as record attributes; the JSON format carries them as fields so
a log search for one release finds its whole story.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")
# Record attributes worth carrying into JSON lines when a call site set them with ``extra=``.
FIELDS = ("release", "attempt", "phase", "actor", "action", "outcome", "request", "task")
# Libraries that talk at INFO about every scheduler tick or migration step: noise at 3 a.m.
_CHATTY = ("apscheduler", "alembic")
_OURS = "releasegate_handler"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Install our root handler (idempotent: a second call replaces it rather than doubling lines;
    handlers someone else installed, such as a test runner's, are left alone)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _OURS, False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _OURS, True)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _CHATTY:
        # Quiet below WARNING unless the operator asked for DEBUG.
        logging.getLogger(name).setLevel(logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING)

"""`releasegate audit verify|export`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from bot.settings import Settings
from storage.audit import verify_chain
from storage.db import make_engine
from storage.repo import Store

CSV_COLUMNS = ["seq", "at", "actor", "action", "release_name", "phase", "outcome", "detail", "prev_hash", "hash"]


async def _entries(settings: Settings, release: str | None) -> list[dict[str, Any]]:
    engine = make_engine(settings.database_url)
    try:
        return await Store(engine).audit_entries(release)
    finally:
        await engine.dispose()


async def audit_verify(settings: Settings) -> int:
    entries = await _entries(settings, None)
    problem = verify_chain(entries)
    if problem is not None:
        print(f"TAMPERED: entry {problem.seq}: {problem.reason}", file=sys.stderr)
        return 1
    head = entries[-1]["hash"] if entries else "(empty)"
    print(f"intact: {len(entries)} entries, head {head}")
    return 0


def neutralise(cell: str) -> str:
    """Spreadsheets run cells that start with = + - @ (and tab/CR) as formulas."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def write_export(entries: list[dict[str, Any]], fmt: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        with out.open("w", encoding="utf-8") as f:
            for e in entries:
                f.write(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n")
        return
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for e in entries:
            row = [e.get(c) for c in CSV_COLUMNS]
            row[CSV_COLUMNS.index("detail")] = json.dumps(e["detail"], ensure_ascii=False, sort_keys=True)
            w.writerow([neutralise("" if v is None else str(v)) for v in row])


async def audit_export(settings: Settings, fmt: str, release: str | None, out: str) -> int:
    entries = await _entries(settings, release)
    write_export(entries, fmt, Path(out))
    print(f"wrote {len(entries)} entries to {out}")
    return 0

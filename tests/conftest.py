"""Shared fixtures: a migrated database on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from storage.db import make_engine, upgrade  # noqa: E402
from storage.repo import Store  # noqa: E402
from tests import reference  # noqa: E402

POSTGRES_URL = os.environ.get(
    "RELEASEGATE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/releasegate_test"
)


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'releasegate.db'}"


async def fresh_postgres_url() -> str:
    """A new empty database per test on the real server (dropped leftovers are cheap to make)."""
    import asyncpg  # type: ignore[import-untyped]

    driver, _, rest = POSTGRES_URL.partition("://")
    server = rest.rsplit("/", 1)[0]
    name = f"rgtest_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"postgresql://{server}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{driver}://{server}/{name}"


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    server, _, name = url.partition("://")[2].rpartition("/")
    admin = await asyncpg.connect(f"postgresql://{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'releasegate.db'}"
        return
    if not _postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (.ci/run should have started it)")
        pytest.skip("postgres server not running on this machine")
    url = await fresh_postgres_url()
    yield url
    await drop_postgres_database(url)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    engine = make_engine(db_url)
    await upgrade(engine)
    yield Store(engine)
    await engine.dispose()


# -- reference data (tests/reference.py) ----------------------------------------------------------------


@pytest.fixture
def reference_dir() -> Path:
    """The folder of other projects' published artifacts; fails in CI and skips elsewhere when absent."""
    return reference.require_reference_dir()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "reference_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.reference)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line saying how many reference checks were skipped (or, under CI, failed) and why."""
    skipped: list[str] = []
    for rep in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(rep, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
        reason = reason.removeprefix("Skipped: ")
        if reason.startswith(reference.SKIP_PREFIX):
            skipped.append(reason.removeprefix(reference.SKIP_PREFIX).strip())
    failed = [
        rep.longreprtext.strip().splitlines()[-1].removeprefix("Failed: ")
        for rep in terminalreporter.stats.get("error", []) + terminalreporter.stats.get("failed", [])
        if reference.CI_FAILURE in getattr(rep, "longreprtext", "")
    ]
    for label, reasons in (("skipped", skipped), ("failed", failed)):
        if reasons:
            why = "; ".join(sorted(set(reasons)))
            terminalreporter.write_line(
                f"reference checks {label}: {len(reasons)} ({why})",
                yellow=label == "skipped",
                red=label == "failed",
                bold=True,
            )

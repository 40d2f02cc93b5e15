"""``releasegate metrics import-lighthouse`` on the two real Lighthouse reports, into SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli.main import main
from storage.db import make_engine, upgrade
from storage.metrics import MetricsStore
from storage.repo import Store


@pytest.fixture
def flow(reference_dir: Path) -> Path:
    """Lighthouse's own user-flow sample, from the reference data (tests/reference.py)."""
    return reference_dir / "lighthouse" / "sample-flow-result.json"


@pytest.fixture
def navigation(reference_dir: Path) -> Path:
    """Lighthouse's own navigation sample, from the reference data (tests/reference.py)."""
    return reference_dir / "lighthouse" / "sample_v2.json"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rg.db'}"
    monkeypatch.setenv("RELEASEGATE_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # keep a developer's .env out of it
    return url


def counts(url: str, release: str = "summer-hero") -> dict[str, dict[str, int]]:
    async def go() -> dict[str, dict[str, int]]:
        engine = make_engine(url)
        try:
            return await MetricsStore(engine).counts(release)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def lab_values(url: str) -> dict[str, list[tuple[str, float, str]]]:
    async def go() -> dict[str, list[tuple[str, float, str]]]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.exec_driver_sql(
                    "SELECT cohort, name, value, source, region FROM metric_samples ORDER BY cohort, name, value"
                )
                out: dict[str, list[tuple[str, float, str]]] = {}
                for cohort, name, value, source, region in rows:
                    assert source == "lab"
                    out.setdefault(cohort, []).append((name, value, region))
                return out
        finally:
            await engine.dispose()

    return asyncio.run(go())


def create_release(url: str, name: str) -> None:
    async def go() -> None:
        engine = make_engine(url)
        await upgrade(engine)
        try:
            await Store(engine).create_release(
                name=name,
                title="t",
                channel_id="C0RELEASES",
                requested_by="U0REQUESTR",
                bundle_dir=".",
                bundle={"images": []},
                policy={},
                phase="canary",
                state="running",
                now=datetime.now(UTC) - timedelta(minutes=1),
            )
        finally:
            await engine.dispose()

    asyncio.run(go())


def run(*args: str) -> int:
    return main(["metrics", "import-lighthouse", *args])


def test_imports_both_reports_and_lists_what_it_skipped(
    flow: Path, navigation: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    create_release(db, "summer-hero")
    assert run(str(flow), "--release", "summer-hero", "--cohort", "canary") == 0
    out = capsys.readouterr().out
    # LCP and TBT errored in the navigation steps, TBT in the timespan; the snapshot measures nothing.
    assert out.count("skipped   ") == 6 and out.count("HostDPR") == 5
    assert "a snapshot step measures no web vitals" in out
    assert "4 lab sample(s) stored for release summer-hero (canary); 6 skipped" in out

    assert (
        run(str(navigation), "--release", "summer-hero", "--cohort", "baseline", "--region", "eu", "--page", "/summer")
        == 0
    )
    out = capsys.readouterr().out
    assert "total-blocking-time standing in for INP" in out
    assert "3 lab sample(s) stored for release summer-hero (baseline); 0 skipped" in out

    assert counts(db) == {"canary": {"CLS": 3, "INP": 1}, "baseline": {"LCP": 1, "INP": 1, "CLS": 1}}
    values = lab_values(db)
    assert ("INP", pytest.approx(41.019), "lab") in values["canary"]
    assert ("LCP", pytest.approx(10884.681), "eu") in values["baseline"]
    assert ("INP", pytest.approx(1055.198), "eu") in values["baseline"]  # TBT as the lab INP


def test_importing_the_same_report_twice_does_not_double_it(flow: Path, db: str) -> None:
    for _ in range(2):
        assert run(str(flow), "--release", "summer-hero", "--cohort", "canary", "--allow-unknown-release") == 0
    assert counts(db) == {"canary": {"CLS": 3, "INP": 1}}


def test_unknown_release_is_refused_unless_allowed(
    navigation: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(str(navigation), "--release", "nobody-started-this", "--cohort", "canary") == 2
    err = capsys.readouterr().err
    assert "unknown release 'nobody-started-this'" in err and len(err.strip().splitlines()) == 1
    assert counts(db, "nobody-started-this") == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"lighthouseVersion": "12"}', "not a Lighthouse report"),
        ("{not json", "is not JSON"),
        ("[1, 2]", "top level must be a JSON object"),
        ('{"steps": [{"name": "x"}]}', "no 'lhr' object"),
    ],
)
def test_bad_report_exits_2_with_one_line(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    report = tmp_path / "report.json"
    report.write_text(content, encoding="utf-8")
    assert run(str(report), "--release", "summer-hero", "--cohort", "canary") == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_file_and_bad_cohort(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(str(tmp_path / "absent.json"), "--release", "summer-hero", "--cohort", "canary") == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        report = tmp_path / "report.json"
        report.write_text("{}", encoding="utf-8")
        run(str(report), "--release", "summer-hero", "--cohort", "everyone")
    assert exc.value.code == 2

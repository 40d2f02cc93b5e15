"""A release name is allowed or refused the same way by every surface: slash command, API, inspector, CLI.

The whole name must match (a trailing newline is not "x"), and names with '.' or '_' work everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.preview.bundle import check_name
from tests.e2e.harness import API_TOKEN, REQUESTER, Env

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["x\n", "x\r\n", " x", "X", "a/b", "..", "é", "ｘ", "a" * 64, ""])
def test_bad_names_are_refused_by_the_one_check(name: str) -> None:
    assert check_name(name) is not None


@pytest.mark.parametrize("name", ["x", "summer.hero_2", "a-b", "0", "a" * 63])
def test_good_names_pass_it(name: str) -> None:
    assert check_name(name) is None


async def test_a_trailing_newline_is_refused_by_the_api_and_creates_nothing(env: Env) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    form = {"file": ("title: t\n", "release.yml")}
    import aiohttp

    data = aiohttp.FormData()
    data.add_field("file", form["file"][0].encode(), filename=form["file"][1])
    async with env.session.post(f"{env.base}/api/v1/releases?name=x%0A", data=data, headers=headers) as r:
        assert r.status == 400 and "release names" in (await r.json())["error"]
    assert [p.name for p in env.releases.iterdir() if p.name.startswith("x")] == []
    async with env.session.get(f"{env.base}/api/v1/releases/x%0A", headers=headers) as r:
        assert r.status == 400


async def test_the_inspector_reaches_names_with_dots_and_underscores(env: Env) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with env.session.get(f"{env.base}/inspector/releases/summer.hero_2", headers=headers) as r:
        assert r.status == 404  # a valid name that has no release yet, not "Bad name"
    async with env.session.get(f"{env.base}/inspector/releases/x%0A", headers=headers) as r:
        assert r.status == 400
    async with env.session.get(f"{env.base}/inspector/export.jsonl?release=summer.hero_2", headers=headers) as r:
        assert r.status == 200


async def test_the_slash_command_refuses_a_bad_name_with_usage(env: Env) -> None:
    ans = await env.u.slash(REQUESTER, "start Summer/Hero", env.channel)
    assert ans.status == 200 and "release names are lower-case" in ans.text


def test_the_cli_refuses_a_bad_name_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "RELEASEGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "audit",
            "export",
            "--format",
            "jsonl",
            "--release",
            "x\n",
            "--out",
            str(tmp_path / "a.jsonl"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "release names are lower-case" in out.stderr

"""No Docker engine runs here or in CI, so the Dockerfile is checked by reading it, and the two pieces of
it that run Python (the dependency extraction and the health check) are run for real."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import shlex
import socket
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import running_env

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Instruction:
    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """Instructions grouped by build stage (each FROM starts one), continuation lines joined."""
    stages: list[list[Instruction]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # Docker drops comment lines inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        ins = Instruction(keyword.upper(), args.strip())
        if ins.keyword == "FROM":
            stages.append([])
        assert stages, f"{ins.keyword} before the first FROM"
        stages[-1].append(ins)
    assert not pending, "Dockerfile ends inside a continued line"
    return stages


def stages() -> list[list[Instruction]]:
    return parse_dockerfile((REPO / "Dockerfile").read_text(encoding="utf-8"))


def final_stage() -> list[Instruction]:
    return stages()[-1]


def last(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert found, f"no {keyword} in the final stage"
    return found[-1]


def exec_form(args: str) -> list[str]:
    """CMD/HEALTHCHECK must use the JSON form: no shell as PID 1, signals reach the process."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def healthcheck_command() -> list[str]:
    args = last(final_stage(), "HEALTHCHECK").args
    _, sep, cmd = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args}"
    return exec_form(cmd)


# -- what the image is -------------------------------------------------------------------------------------


def test_every_stage_builds_on_slim_python_311() -> None:
    for stage in stages():
        image = stage[0].args.split()[0]
        assert image.startswith("python:3.11-slim"), image


def test_runs_as_a_non_root_user() -> None:
    user = last(final_stage(), "USER").args.split(":")[0]
    assert user not in ("root", "0", "")
    uid_created = any(i.keyword == "RUN" and "useradd" in i.args and f"--uid {user}" in i.args for i in final_stage())
    assert uid_created or not user.isdigit(), "USER names a UID that no useradd creates"


def test_starts_releasegate_serve_on_port_3000() -> None:
    assert exec_form(last(final_stage(), "CMD").args) == ["releasegate", "serve"]
    assert "3000" in last(final_stage(), "EXPOSE").args.split()
    assert not any(i.keyword == "ENTRYPOINT" for i in final_stage())


def test_installs_the_package_itself() -> None:
    runs = " ".join(i.args for stage in stages() for i in stage if i.keyword == "RUN")
    assert "pip install --no-deps ." in runs or "pip install ." in runs
    copies = [i.args for i in final_stage() if i.keyword == "COPY"]
    assert any(c.startswith("--from=") and "/opt/venv" in c for c in copies), copies


def test_healthcheck_uses_python_not_curl() -> None:
    cmd = healthcheck_command()
    assert cmd[0] == "python" and "/healthz" in " ".join(cmd)
    assert not any(tool in " ".join(cmd) for tool in ("curl", "wget"))


# -- the parts that run Python, run -----------------------------------------------------------------------


def test_dependency_extraction_lists_pyprojects_dependencies(tmp_path: Path) -> None:
    run = next(i.args for i in stages()[0] if i.keyword == "RUN" and "tomllib" in i.args)
    words = shlex.split(run)
    code = words[words.index("-c") + 1]
    (tmp_path / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    expected = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert out.stdout.splitlines() == expected


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[int]:
    async with running_env(tmp_path) as env:
        yield int(env.base.rsplit(":", 1)[1])


async def run_healthcheck(port: int) -> int:
    cmd = healthcheck_command()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *cmd[1:],
        env={"PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(proc.wait(), timeout=30)


async def test_healthcheck_passes_against_the_running_app(served: int) -> None:
    assert await run_healthcheck(served) == 0


async def test_healthcheck_fails_when_nothing_listens() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert await run_healthcheck(free) != 0


# -- the build context --------------------------------------------------------------------------------------


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, enough for our patterns: a path is out if it or a parent folder matches."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        variants = [pattern, pattern[3:]] if pattern.startswith("**/") else [pattern]
        if any(fnmatch.fnmatchcase(c, v) for c in candidates for v in variants):
            return True
    return False


def test_dockerignore_keeps_the_package_and_drops_secrets_and_state() -> None:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    assert not any(p.startswith("!") for p in patterns), "negations are not modelled by this test"
    for needed in (
        "pyproject.toml",
        "README.md",
        "bot/app.py",
        "bot/drill/samples.py",
        "gates/__init__.py",
        "storage/migrations/env.py",
        "storage/migrations/script.py.mako",
    ):
        assert not ignored(needed, patterns), needed
    for dropped in (
        ".env",
        ".git/config",
        "releasegate.db",
        "releasegate.db-wal",
        "__pycache__/x.pyc",
        "bot/__pycache__/app.cpython-311.pyc",
        "releases/summer-hero/release.yml",
        "tests/test_x.py",
        # The Slack stand-in and simulated users are for the demo and tests, not for serving.
        "bot/demo/standin/server.py",
        "bot/demo/walkthrough.py",
    ):
        assert ignored(dropped, patterns), dropped

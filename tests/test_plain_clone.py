"""A plain clone, with nothing beside it, is enough to run the suite: nothing depends on a path outside the
repository except the reference data (tests/reference.py), which skips there, or fails when CI is set."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reference import ENV, REPO

# Reference checks that need no app or database, so the subprocess runs stay quick.
QUICK_REFERENCE_TESTS = ["tests/test_lighthouse.py", "tests/standin/test_packaged_methods.py"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HEAD of this checkout (committed work only), cloned into an empty folder."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip(f"{REPO} is not a git checkout")
    target = tmp_path_factory.mktemp("plain") / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True, timeout=60)
    assert sorted(p.name for p in target.parent.iterdir()) == ["clone"]
    return target


def pytest_in(clone: Path, *args: str, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", ENV, "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(clone)
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_whole_suite_collects_in_a_plain_clone(clone: Path) -> None:
    res = pytest_in(clone, "--collect-only", "-q", ci=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "error" not in out.lower().splitlines()[-1], out


def test_reference_checks_skip_and_are_counted_outside_ci(clone: Path) -> None:
    res = pytest_in(clone, "-q", *QUICK_REFERENCE_TESTS, ci=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    missing = clone.parent / "shared" / "reference"
    lines = [line for line in out.splitlines() if line.startswith("reference checks skipped: ")]
    assert len(lines) == 1, out
    assert str(missing) in lines[0] and ENV in lines[0], lines[0]
    # Every skip in these files is a reference check, and each is counted once.
    skipped = re.search(r"(\d+) skipped", out)
    assert skipped and int(skipped.group(1)) >= 3, out
    assert lines[0].startswith(f"reference checks skipped: {skipped.group(1)} "), lines[0]


def test_reference_checks_fail_in_ci_naming_the_missing_folder(clone: Path) -> None:
    res = pytest_in(clone, "-q", *QUICK_REFERENCE_TESTS, ci=True)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert f"no reference data at {clone.parent / 'shared' / 'reference'}" in out, out
    assert "reference checks skipped" not in out, out

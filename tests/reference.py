"""Where the tests find the reference data other projects published (Slack's manifest schema and Web API
method descriptions, two Lighthouse reports), and what happens when it is not there.

The data is not part of this repository. It lives in ``$RELEASEGATE_REFERENCE_DIR``, by default in
``shared/reference`` beside the repository (the layout CI uses). Every test that reads it asks for the
``reference_dir`` fixture (tests/conftest.py), which calls :func:`require_reference_dir`:

* data present: the test runs;
* data absent and ``CI`` set: the test fails, naming the missing folder, so CI can never quietly stop
  checking against the references;
* data absent elsewhere: the test is skipped with a reason starting with :data:`SKIP_PREFIX`, which the
  terminal summary counts in one line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV = "RELEASEGATE_REFERENCE_DIR"
REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "reference"
SKIP_PREFIX = "reference data missing:"
CI_FAILURE = "CI must check against the reference data"
# What the tests read inside the folder; a folder without these is treated as absent, not half-checked.
EXPECTED = (
    Path("slack") / "manifest.schema.1.0.0.json",
    Path("slack") / "methods",
    Path("lighthouse") / "sample_v2.json",
    Path("lighthouse") / "sample-flow-result.json",
)


def reference_dir() -> Path:
    """The configured folder, whether or not it exists (relative values are taken from the current folder)."""
    configured = os.environ.get(ENV, "").strip()
    return Path(configured).expanduser().resolve() if configured else DEFAULT


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(root: Path) -> list[Path]:
    """What the tests need and ``root`` lacks (the folder itself when it does not exist)."""
    if not root.is_dir():
        return [root]
    return [root / rel for rel in EXPECTED if not (root / rel).exists()]


def how_to_provide() -> str:
    return f"set {ENV}=/path/to/reference (see README, 'Reference data') or put shared/reference beside the repository"


def require_reference_dir() -> Path:
    """The reference folder, or a failure (CI) / skip (elsewhere) that names what is missing."""
    root = reference_dir()
    absent = missing(root)
    if not absent:
        return root
    what = (
        f"no reference data at {root}"
        if absent == [root]
        else (f"incomplete reference data at {root} (missing {', '.join(str(p.relative_to(root)) for p in absent)})")
    )
    if in_ci():
        pytest.fail(f"{what}: {CI_FAILURE}; {how_to_provide()}", pytrace=False)
    pytest.skip(f"{SKIP_PREFIX} {what}; {how_to_provide()}")

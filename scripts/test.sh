#!/usr/bin/env bash
# Installs everything into .venv and runs the checks: ruff (lint and format), mypy --strict (bot/, gates/, storage/), pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy --strict bot gates storage
.venv/bin/python -m pytest -q "$@"

#!/usr/bin/env bash
# Installs releasegate into .venv and runs a whole release against the local Slack stand-in.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/releasegate demo "$@"

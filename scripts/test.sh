#!/usr/bin/env bash
# Install what the tests need and run the whole suite: lint, types, import contracts, pytest.
# The tests talk to real services: PostgreSQL on 127.0.0.1:5432 and Debian's Chromium.
# Extra arguments go to pytest (e.g. -k historian).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck disable=SC1091
source "$ROOT/scripts/setup.sh" test
bash "$ROOT/scripts/services.sh"

export IFACTORY_TEST_PG_URL="${IFACTORY_TEST_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
echo "== ruff"; ruff check src tests benchmarks
echo "== ruff format"; ruff format --check src tests benchmarks
echo "== mypy"; mypy
echo "== import contracts"; lint-imports
echo "== pytest"; python -m pytest "$@"

#!/usr/bin/env bash
# Shared set-up: a virtual environment in .venv with iFactory installed from this checkout.
# Usage: source scripts/setup.sh [extra]   (extra: "test" also installs the test tools)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "iFactory needs Python >= 3.11 (found $("$PY" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  "$PY" -m venv "$ROOT/.venv"
fi
# shellcheck disable=SC1091
. "$ROOT/.venv/bin/activate"
EXTRA="${1:-}"
STAMP="$ROOT/.venv/.installed${EXTRA:+-$EXTRA}"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  python -m pip install --quiet --upgrade pip
  if [ -n "$EXTRA" ]; then
    python -m pip install --quiet -e "$ROOT[$EXTRA]"
  else
    python -m pip install --quiet -e "$ROOT"
  fi
  if [ "$EXTRA" = "test" ]; then
    # pysparkplug (an independent Sparkplug B edge node the tests talk to) declares
    # paho-mqtt<2 but works with paho-mqtt 2; installed without its dependency pins.
    python -m pip install --quiet --no-deps "pysparkplug==0.6.1"
  fi
  touch "$STAMP"
fi

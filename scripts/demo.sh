#!/usr/bin/env bash
# Install what is needed and run the demo: SQLite, in-process bus, simulated plant, web UI.
# Extra arguments go to `ifactory demo` (e.g. --port 8080 --speed 60 --data-dir ./demo-data).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# An explicit (empty) argument: a bare `source` would hand this script's options to setup.sh.
# shellcheck disable=SC1091
source "$ROOT/scripts/setup.sh" ""
exec ifactory demo "$@"

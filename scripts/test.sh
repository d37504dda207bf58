#!/usr/bin/env bash
# Run the whole test suite (unit, integration, e2e) in parallel workers; each
# worker starts its own wharfd with private roots and checks for leaks.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
exec .venv/bin/pytest -n "${WHARF_TEST_WORKERS:-4}" -q "$@" tests

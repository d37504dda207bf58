#!/usr/bin/env bash
# Run the whole test suite (unit, integration, e2e) in parallel workers; each
# worker starts its own wharfd with private roots and checks for leaks.
# Meanwhile the cgroup and resource tests (limits, OOM, pids, pause, stats,
# update, the device filter) and the isolation tests run again in a cgroup
# v2-only guest (scripts/test-in-vm.sh): the host may have either hierarchy,
# wharf must work on both. A host that cannot run the guest fails the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test

VM_TESTS=(tests/e2e/test_isolation.py tests/e2e/test_update.py tests/e2e/test_container_view.py
  tests/integration/runtime tests/e2e/test_api_system.py tests/e2e/test_api_containers.py
  tests/e2e/test_docker_cli.py tests/e2e/test_api_live_restore.py)
vm_log="$(mktemp)"
./scripts/test-in-vm.sh -q "${VM_TESTS[@]}" >"$vm_log" 2>&1 &
vm=$!
trap 'kill "$vm" 2>/dev/null; rm -f "$vm_log"' EXIT

host=0
.venv/bin/pytest -n "${WHARF_TEST_WORKERS:-4}" -q "$@" tests || host=$?
guest=0
wait "$vm" || guest=$?
echo "=== host suite: exit $host; in a cgroup v2 guest (scripts/test-in-vm.sh): exit $guest ==="
cat "$vm_log"
((host == 0 && guest == 0))

#!/usr/bin/env bash
# Run the whole test suite (unit, integration, e2e) in parallel workers; each
# worker starts its own wharfd with private roots and checks for leaks.
# Meanwhile the cgroup and resource tests (memory, cpu, pids, pause, OOM,
# stats, update, the device filter) and the isolation tests run again in a
# cgroup v2-only guest (scripts/test-in-vm.sh): the host may have either
# hierarchy, wharf must work on both. The guest fails the suite if it cannot
# boot, and is stopped with its console's tail if it hangs, so CI never waits
# on it; WHARF_TEST_VM=0 leaves it out (a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test

# What the guest runs: the isolation tests (memory, OOM, pids, pause); docker
# update (memory, cpu, pids); the container's own cgroup view and namespace;
# the runtime's cgroup placement, OOM, pids, freezer, device filter and runc;
# stats; pause through the API and across a daemon restart; the cgroup
# version in info; rootless wharfd's limits in a cgroup delegated to its user.
# Emulated: 5 to 6 minutes alone (the rootless file ~1.5 of them), up to 11 beside the host suite.
VM_TESTS=(tests/e2e/test_isolation.py tests/e2e/test_update.py tests/e2e/test_container_view.py
  tests/integration/runtime tests/e2e/test_api_live_restore.py tests/e2e/test_rootless_cgroup2.py
  tests/e2e/test_docker_cli.py::test_ps_inspect_logs_top_stats
  tests/e2e/test_api_containers.py::test_pause_rename_exec_and_remove
  tests/e2e/test_api_system.py::test_ping_version_info)
if [ "${WHARF_TEST_VM:-1}" = 0 ]; then
  exec .venv/bin/pytest -n "${WHARF_TEST_WORKERS:-4}" -q "$@" tests
fi
vm_log="$(mktemp)"
./scripts/test-in-vm.sh -q "${VM_TESTS[@]}" >"$vm_log" 2>&1 &
vm=$!
trap 'kill "$vm" 2>/dev/null || true; rm -f "$vm_log"' EXIT  # the guest may be gone: no errexit here

host=0
.venv/bin/pytest -n "${WHARF_TEST_WORKERS:-4}" -q "$@" tests || host=$?
guest=0
wait "$vm" || guest=$?
echo "=== host suite: exit $host; in a cgroup v2 guest (scripts/test-in-vm.sh): exit $guest ==="
cat "$vm_log"
((host == 0 && guest == 0))

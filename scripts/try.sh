#!/usr/bin/env bash
# From a fresh machine to a running container: install, start wharfd, make a
# busybox image from the host's busybox-static, and run a container in it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
mkdir -p /run/wharf
if ! .venv/bin/wharf version >/dev/null 2>&1; then
  nohup .venv/bin/wharfd >/var/log/wharfd.log 2>&1 &
  for _ in $(seq 100); do .venv/bin/wharf version >/dev/null 2>&1 && break; sleep 0.1; done
fi
.venv/bin/wharf image bootstrap busybox
.venv/bin/wharf run --rm busybox sh -c 'echo "hello from $(hostname): I am PID $$"; ps'
echo
echo "wharfd is running (log: /var/log/wharfd.log). Try: .venv/bin/wharf run -it busybox"

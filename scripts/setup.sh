#!/usr/bin/env bash
# Install what wharf needs on a Debian machine (idempotent): the kernel-side
# tools, busybox-static and tini for images and --init, git for ADD of git
# sources in builds, containernetworking-plugins for CRI pods on CNI networks
# (--cni-conf-dir), uidmap (newuidmap/newgidmap) and slirp4netns for wharfd
# --rootless (docs/rootless.md), a venv with wharf.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(python3 python3-venv busybox-static tini runc iproute2 nftables procps util-linux debootstrap git containernetworking-plugins
  uidmap slirp4netns)
# --test: what the test suite checks wharf against (real dockerd, registry,
# skopeo, etcd) and drives it with (openssl for TLS certificates).
if [ "${1:-}" = "--test" ]; then
  PKGS+=(docker.io skopeo docker-registry etcd-server openssl)
fi
not_installed() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
mapfile -t missing < <(not_installed "${PKGS[@]}")
# --test: scripts/test-in-vm.sh boots a cgroup v2 guest with qemu (without
# its recommends: a hundred media libraries a headless guest never uses).
VM_PKGS=()
[ "${1:-}" = "--test" ] && mapfile -t VM_PKGS < <(not_installed qemu-system-x86 e2fsprogs)
if ((${#missing[@]} + ${#VM_PKGS[@]})); then
  echo "installing: ${missing[*]} ${VM_PKGS[*]}"
  apt-get update -qq
  ((${#missing[@]} == 0)) || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  ((${#VM_PKGS[@]} == 0)) || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${VM_PKGS[@]}" >/dev/null
fi

# Debian's python3, not a pyenv shim: its start-up is three times faster,
# and every CLI call and every shim pays for it.
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv .venv
fi
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
.venv/bin/pip install -q --disable-pip-version-check -e ".${extras}"
# --test: docker-py's integration suite judges API parity (tests/compat); the
# library comes from the compat directory beside the repository, which
# tests/compat/compatdir.py finds (the compat test fails, with that message, if none).
if [ "${1:-}" = "--test" ] && ! .venv/bin/python -c "import docker, pytest_timeout" 2>/dev/null; then
  if compat="$(.venv/bin/python tests/compat/compatdir.py)"; then
    SETUPTOOLS_SCM_PRETEND_VERSION=7.2.0 .venv/bin/pip install -q --disable-pip-version-check \
      "${compat}/docker-py[ssh,websockets]" pytest-timeout
  fi
fi
# Byte-compile now: every CLI call and shim start reads these, and an
# environment with PYTHONDONTWRITEBYTECODE would otherwise recompile each time.
.venv/bin/python -m compileall -q src >/dev/null
getent group wharf >/dev/null || groupadd --system wharf
# wharfd --rootless: slirp4netns opens /dev/net/tun as the user. Debian's udev makes
# it 0666; a machine without udev (a VM's bare /dev) leaves the kernel's 0600.
[ ! -c /dev/net/tun ] || chmod 0666 /dev/net/tun

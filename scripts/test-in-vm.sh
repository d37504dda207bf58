#!/usr/bin/env bash
# Run the project's tests (pytest ARGS, default: tests) as root inside a qemu
# guest (KVM, or emulated) that boots cgroup v2 only: the proof that wharf's
# cgroup v2 path works on a real cgroup2 kernel, which this (cgroup v1)
# machine cannot give.
#
# The guest is Debian's own: a debootstrap rootfs (the host's suite, from the
# host's Debian mirror) with linux-image-amd64 installed in it, whose kernel
# and initramfs boot the guest. It is built once into an ext4 image
# (`mke2fs -d`: no loop device, no mount) cached under $WHARF_VM_CACHE, keyed by
# a hash of what goes in; the Python wheels come from PyPI into a wheelhouse
# keyed by pyproject.toml. The guest reaches no network (its one NIC is qemu's
# restricted user-mode net): the checkout and a venv
# come in by a 9p share; the guest's own disk is discarded at exit
# (snapshot=on), so every run starts from the same image. See
# scripts/vm/guest.sh for what runs inside.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOUT="$PWD"
CACHE="${WHARF_VM_CACHE:-/var/cache/wharf-vm}"
VCPUS="${WHARF_VM_CPUS:-2}"
MEM_MB="${WHARF_VM_MEM_MB:-1536}"
# No run may hold its caller (CI) for long: the guest is killed, and the run
# fails with its console's tail, when it runs past VM_TIMEOUT seconds in all,
# has shown no sign of life (scripts/vm/guest.sh's heartbeat) within
# BOOT_TIMEOUT, or then none for HANG_TIMEOUT (a kernel that locked up: under
# TCG one once did, both vCPUs spinning). A test that hangs fails alone, past
# TEST_TIMEOUT (pytest-timeout), and the run goes on.
VM_TIMEOUT="${WHARF_VM_TIMEOUT:-1800}"
BOOT_TIMEOUT="${WHARF_VM_BOOT_TIMEOUT:-300}"
HANG_TIMEOUT="${WHARF_VM_HANG_TIMEOUT:-180}"
TEST_TIMEOUT="${WHARF_VM_TEST_TIMEOUT:-600}"

# What the guest has besides minbase: the kernel, Python for the venv, the
# tools wharfd runs (ip, nft, mount, tini for --init, busybox for its image),
# gcc for the probes the tests compile, runc for the OCI bundle tests,
# uidmap (newuidmap/newgidmap) and slirp4netns for rootless wharfd under a user
# the rootless tests make with useradd (passwd, in minbase),
# e2fsprogs/kmod for the guest's own use.
GUEST_PKGS=(linux-image-amd64 initramfs-tools kmod e2fsprogs util-linux procps
  python3 python3-venv iproute2 nftables iptables busybox-static tini git
  gcc libc6-dev runc uidmap slirp4netns)
# The guest's init: the initramfs mounts the image as /, this runs as PID 1,
# mounts the 9p shares and hands over to scripts/vm/guest.sh from the checkout
# (so changing that script needs no new image) under tini, which reaps orphans.
read -r -d '' STUB <<'STUB' || true
#!/bin/sh
modprobe -a 9p 9pnet_virtio
mkdir -p /mnt/src /mnt/run
mount -t 9p -o trans=virtio,version=9p2000.L,ro src /mnt/src
mount -t 9p -o trans=virtio,version=9p2000.L run /mnt/run
exec /usr/bin/tini -- /bin/bash /mnt/src/scripts/vm/guest.sh
STUB

die() { echo "test-in-vm: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, and the guest's tests run as root)"
# KVM where it can boot Debian's kernel, else qemu emulates (TCG: several
# times slower, same guest). A PVM host (kvm_pvm: KVM without hardware
# virtualization, for nested VMs) runs only kernels built as PVM guests: with
# `-cpu host` qemu dies setting MSR 0x10a (ARCH_CAPABILITIES), and with any
# other model Debian's kernel hangs right after its real-mode setup.
if [ -z "${WHARF_VM_ACCEL:-}" ]; then
  WHARF_VM_ACCEL=kvm
  if [ ! -w /dev/kvm ]; then
    WHARF_VM_ACCEL=tcg slow="no /dev/kvm"
  elif [ -d /sys/module/kvm_pvm ]; then
    WHARF_VM_ACCEL=tcg slow="/dev/kvm is PVM, which cannot boot Debian's kernel"
  fi
  [ "$WHARF_VM_ACCEL" = kvm ] || echo "test-in-vm: $slow: emulating (TCG, slow)" >&2
fi
ACCEL="$WHARF_VM_ACCEL"
CPU=host
# Multi-threaded TCG: each vCPU a host thread of its own.
[ "$ACCEL" = kvm ] || { CPU=max; ACCEL=tcg,thread=multi; }
for tool in qemu-system-x86_64 debootstrap mke2fs; do
  command -v "$tool" >/dev/null || die "$tool missing: run scripts/setup.sh --test"
done

# The host's own Debian mirror and suite: the guest is the same release.
. /etc/os-release
SUITE="$VERSION_CODENAME"
MIRROR="$(apt-get indextargets --format '$(REPO_URI)' 'Identifier: Packages' 2>/dev/null \
  | grep -v security | head -n1)"
[ -n "$MIRROR" ] || MIRROR="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | grep -v security | head -n1)"
[ -n "$MIRROR" ] || die "no Debian mirror in the host's apt sources"

key="$(printf '%s\n' "$SUITE" "${GUEST_PKGS[*]}" "$STUB" | sha256sum | cut -c1-16)"
IMAGE_DIR="$CACHE/image-$key"
# Besides wharf's own: pytest-timeout, which fails a test that hangs in the guest.
GUEST_WHEELS=(pytest-timeout)
WHEELS="$CACHE/wheels-$(cat pyproject.toml <(echo "${GUEST_WHEELS[*]}") | sha256sum | cut -c1-16)"
mkdir -p "$CACHE"

build_image() {
  local tmp="$CACHE/.build-$$" rootfs
  rootfs="$tmp/rootfs"
  trap 'rm -rf "$tmp"' RETURN
  rm -rf "$tmp"; mkdir -p "$tmp"
  echo "test-in-vm: building the guest image ($SUITE, ${GUEST_PKGS[*]})" >&2
  local pkgs="${GUEST_PKGS[*]}"
  debootstrap --variant=minbase --include="${pkgs// /,}" "$SUITE" "$rootfs" "$MIRROR" \
    >"$tmp/debootstrap.log" 2>&1 || { tail -n 30 "$tmp/debootstrap.log" >&2; die "debootstrap failed"; }
  printf '%s\n' "$STUB" >"$rootfs/usr/local/sbin/wharf-vm-init"
  chmod 755 "$rootfs/usr/local/sbin/wharf-vm-init"
  echo wharf-vm >"$rootfs/etc/hostname"
  printf '127.0.0.1 localhost wharf-vm\n::1 localhost\n' >"$rootfs/etc/hosts"
  # apt's caches are no use offline; the image stays small.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  cp "$rootfs"/boot/vmlinuz-* "$tmp/vmlinuz"
  cp "$rootfs"/boot/initrd.img-* "$tmp/initrd.img"
  # Room for the venv and the tests' data roots; sparse, so it costs what is used.
  mke2fs -q -t ext4 -L wharf-vm -d "$rootfs" "$tmp/root.img" 6G >/dev/null
  rm -rf "$rootfs"
  mv "$tmp" "$IMAGE_DIR.new" && mv "$IMAGE_DIR.new" "$IMAGE_DIR"
  find "$CACHE" -maxdepth 1 -name 'image-*' ! -path "$IMAGE_DIR" -exec rm -rf {} +
  trap - RETURN
}

build_wheels() {
  local tmp="$WHEELS.new"
  rm -rf "$tmp"
  echo "test-in-vm: filling the wheelhouse" >&2
  [ -x .venv/bin/pip ] || die ".venv missing: run scripts/setup.sh --test"
  # wharf's dependencies with the test extra, and the build backend pip needs
  # for the guest's editable install; the guest has Debian's same Python.
  .venv/bin/pip wheel -q --disable-pip-version-check -w "$tmp" ".[test]" "${GUEST_WHEELS[@]}" "setuptools>=64" wheel \
    2>"$CACHE/wheels.log" || { cat "$CACHE/wheels.log" >&2; die "pip wheel failed"; }
  rm -f "$tmp"/wharf-*.whl
  mv "$tmp" "$WHEELS"
  find "$CACHE" -maxdepth 1 -name 'wheels-*' ! -path "$WHEELS" -exec rm -rf {} +
}

[ -f "$IMAGE_DIR/root.img" ] || build_image
[ -d "$WHEELS" ] || build_wheels

# The run directory, shared read-write and mounted at the same path in the
# guest: the checkout (minus the host's venv and history), a venv for the
# guest made here from the wheelhouse (the guest has the same Debian Python,
# so the host's byte-compiled modules serve it: an emulated guest would take
# many minutes to compile them), pytest's arguments (NUL-separated), and the
# tests' exit status, which the guest writes back; `path` tells the guest where.
RUN_DIR="$(mktemp -d "$CACHE/run-XXXXXX")"
chmod 755 "$RUN_DIR"  # the rootless tests' user runs the venv's wharfd from it
cleanup() {
  # qemu dies with this script; a clean run has powered it off already
  stop_qemu
  rm -rf "$RUN_DIR"
}
stop_qemu() {
  # SIGTERM, then SIGKILL after 10 s: a stopped or wedged qemu ignores the first.
  local pid i
  pid="$(cat "$RUN_DIR/qemu.pid" 2>/dev/null)" || return 0
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
(($#)) || set -- tests
# pytest's arguments; the caller's own --timeout comes later and wins.
printf '%s\0' "--timeout=$TEST_TIMEOUT" "$@" >"$RUN_DIR/args"
echo "$RUN_DIR" >"$RUN_DIR/path"
mkdir "$RUN_DIR/wharf"
tar -C "$CHECKOUT" --exclude=./.venv --exclude=./.git -cf - . | tar -C "$RUN_DIR/wharf" -xf -
/usr/bin/python3 -m venv "$RUN_DIR/venv"
"$RUN_DIR/venv/bin/pip" install -q --disable-pip-version-check --no-index --find-links "$WHEELS" \
  -e "$RUN_DIR/wharf[test]" "${GUEST_WHEELS[@]}" 2>"$RUN_DIR/pip.log" || { cat "$RUN_DIR/pip.log" >&2; die "pip install failed"; }
"$RUN_DIR/venv/bin/python" -m compileall -q "$RUN_DIR/wharf/src" "$RUN_DIR/wharf/tests" >/dev/null
[ -x /usr/local/bin/docker ] && cp /usr/local/bin/docker "$RUN_DIR/docker"

# The kernel's command line: cgroup v2 only; the image as /; the console on
# the serial port; a panic powers off at once (-no-reboot). Under TCG:
# mitigations=off (the emulated guest runs only these tests, and its
# speculation barriers cost emulated time on every syscall), tsc=reliable
# (a starved vCPU otherwise has its TSC judged unstable and every clock read
# goes to the emulated HPET), and a softlockup watchdog that waits 60 s, not
# 20 (a vCPU the busy host does not schedule is not a locked-up kernel).
APPEND="root=/dev/vda rw console=ttyS0 quiet loglevel=3 panic=-1 net.ifnames=0 cgroup_no_v1=all init=/usr/local/sbin/wharf-vm-init"
[ "$ACCEL" = kvm ] || APPEND+=" mitigations=off tsc=reliable watchdog_thresh=30"
APPEND+="${WHARF_VM_KERNEL_ARGS:+ $WHARF_VM_KERNEL_ARGS}"

qemu-system-x86_64 -machine q35 -accel "$ACCEL" -cpu "$CPU" -smp "$VCPUS" -m "$MEM_MB" \
  -display none -monitor none -serial stdio -no-reboot \
  -nic user,restrict=on,model=virtio-net-pci \
  -kernel "$IMAGE_DIR/vmlinuz" -initrd "$IMAGE_DIR/initrd.img" -append "$APPEND" \
  -drive "file=$IMAGE_DIR/root.img,format=raw,if=virtio,snapshot=on" \
  -virtfs "local,path=$CHECKOUT,mount_tag=src,security_model=none,readonly=on" \
  -virtfs "local,path=$RUN_DIR,mount_tag=run,security_model=none" \
  -pidfile "$RUN_DIR/qemu.pid" </dev/null \
  | tee "$RUN_DIR/console" | grep -av --line-buffered -e '\] reboot: Power down' &
# (the power-off's kernel lines are left out: pytest's summary stays the last line)
console=$!

# Watch the guest until its console closes (qemu exited): why it must be
# stopped, if it must, is the run's failure message.
why="" started=$SECONDS
while kill -0 "$console" 2>/dev/null; do
  sleep 2
  now=$(date +%s)
  beat="$(stat -c %Y "$RUN_DIR/heartbeat" 2>/dev/null)" || beat=""
  if ((SECONDS - started > VM_TIMEOUT)); then
    why="the guest ran past WHARF_VM_TIMEOUT (${VM_TIMEOUT}s)"
  elif [ -z "$beat" ] && ((SECONDS - started > BOOT_TIMEOUT)); then
    why="the guest did not boot: no sign of life within WHARF_VM_BOOT_TIMEOUT (${BOOT_TIMEOUT}s)"
  elif [ -n "$beat" ] && ((now - beat > HANG_TIMEOUT)); then
    why="the guest hung: no sign of life for $((now - beat))s (WHARF_VM_HANG_TIMEOUT)"
  else
    continue
  fi
  stop_qemu
  break
done
{ wait "$console"; } 2>/dev/null || true  # (not bash's "Killed" notice for a stopped qemu)
rm -f "$RUN_DIR/qemu.pid"  # qemu has exited: its stdout is closed
[ -z "$why" ] && [ -f "$RUN_DIR/status" ] && exit "$(cat "$RUN_DIR/status")"
echo "test-in-vm: FAILED: ${why:-the guest stopped before the tests finished}; its console's last lines:" >&2
[ -s "$RUN_DIR/console" ] || echo "  (none)" >&2
tail -n 40 "$RUN_DIR/console" | awk '{ print "  | " $0 }' >&2  # (awk ends the last line)
exit 2

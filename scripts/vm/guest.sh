#!/bin/bash
# PID 1's child in the test guest (scripts/test-in-vm.sh): mounts cgroup2 as
# the only hierarchy, enables every controller at its root as systemd does
# (wharf delegates below that itself), runs pytest with the host's arguments
# on the checkout and venv the host prepared, and hands back its status
# through the run share; then powers the guest off. Meanwhile it touches the
# share's heartbeat every few seconds: the host kills a guest whose heartbeat
# stops (a kernel that locked up), rather than wait for its overall timeout.
set -uo pipefail
status=1
run_dir=/mnt/run
finish() {
  echo "$status" >"$run_dir/status"
  sync
  busybox poweroff -f
}
trap finish EXIT

mountpoint -q /run || mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /dev/pts /dev/shm
mountpoint -q /dev/pts || mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mountpoint -q /dev/shm || mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
done
ip link set lo up
# eth0: a host has one (tests compare --network host with it); qemu's restricted
# user-mode network behind it reaches nothing.
modprobe virtio_net
modprobe loop  # /dev/loop0..7, as a host has them (the device filter tests open one)
modprobe tun && chmod 0666 /dev/net/tun  # as udev leaves it: slirp4netns opens it as a user
hostname wharf-vm

echo "guest kernel: $(uname -r)"
echo "/sys/fs/cgroup: $(stat -fc %T /sys/fs/cgroup) ($(cat /sys/fs/cgroup/cgroup.subtree_control))"

# The run share moves to the host's path (the venv's scripts name it), cached:
# only the guest writes there while it runs.
path="$(cat /mnt/run/path)"
mkdir -p "$path"
umount /mnt/run
mount -t 9p -o trans=virtio,version=9p2000.L,cache=loose,msize=262144 run "$path"
run_dir="$path"
while touch "$run_dir/heartbeat"; do sleep 5; done &
[ -f "$run_dir/docker" ] && install -m 755 "$run_dir/docker" /usr/local/bin/docker
getent group wharf >/dev/null || groupadd --system wharf

cd "$run_dir/wharf"
export WHARF_TEST_START_TIMEOUT=180
mapfile -d '' args <"$run_dir/args"
"$run_dir/venv/bin/pytest" -p no:cacheprovider --color=no "${args[@]}"
status=$?

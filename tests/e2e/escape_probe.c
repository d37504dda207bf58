/* One escape attempt per run, for tests/e2e/test_escape.py: prints "ok" or
 * the errno name of the refusal, so a test compares default vs guard-lifted. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/uio.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

static int report(long r) {
    if (r < 0) { printf("%s\n", strerrorname_np(errno)); return 1; }
    printf("ok\n");
    return 0;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "mount")) {
        mkdir("/mnt", 0755);
        return report(mount("none", "/mnt", "tmpfs", 0, NULL));
    }
    if (!strcmp(what, "module")) {
        int fd = open("/proc/self/exe", O_RDONLY);
        return report(syscall(SYS_finit_module, fd, "", 0));
    }
    if (!strcmp(what, "reboot"))  /* CAD_OFF: in a pid namespace the kernel only answers EINVAL */
        return report(syscall(SYS_reboot, 0xfee1dead, 672274793, 0, NULL));
    if (!strcmp(what, "clock")) {  /* set the clock to what it already is */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return report(clock_settime(CLOCK_REALTIME, &ts));
    }
    if (!strcmp(what, "userns"))
        return report(unshare(CLONE_NEWUSER));
    if (!strcmp(what, "keyctl"))  /* KEYCTL_GET_KEYRING_ID of the session keyring */
        return report(syscall(SYS_keyctl, 0, -3, 1));
    if (!strcmp(what, "ptrace")) {
        pid_t pid = atoi(argv[2]);
        long r = ptrace(PTRACE_ATTACH, pid, 0, 0);
        if (r == 0) { waitpid(pid, NULL, __WALL); ptrace(PTRACE_DETACH, pid, 0, 0); }
        return report(r);
    }
    if (!strcmp(what, "kmsg")) {  /* make the node ourselves, then read the kernel log through it */
        unlink("/tmp/kmsg");
        if (mknod("/tmp/kmsg", S_IFCHR | 0600, makedev(1, 11)) < 0) return report(-1);
        int fd = open("/tmp/kmsg", O_RDONLY | O_NONBLOCK);
        if (fd < 0) return report(-1);
        char buf[4096];
        return report(read(fd, buf, sizeof buf));
    }
    if (!strcmp(what, "raw"))
        return report(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    if (!strcmp(what, "handle")) {  /* the file handle that open_by_handle_at would take */
        struct { struct file_handle fh; unsigned char bytes[MAX_HANDLE_SZ]; } h;
        int mount_id;
        h.fh.handle_bytes = MAX_HANDLE_SZ;
        return report(name_to_handle_at(AT_FDCWD, "/dev", &h.fh, &mount_id, 0));
    }
    if (!strcmp(what, "vmread")) {  /* another process's memory; our own is enough to ask */
        char src[] = "secret", dst[sizeof src];
        struct iovec local = {dst, sizeof dst}, remote = {src, sizeof src};
        return report(process_vm_readv(getpid(), &local, 1, &remote, 1, 0));
    }
    if (!strcmp(what, "pkey"))
        return report(syscall(SYS_pkey_alloc, 0, 0));
    if (!strcmp(what, "vsock"))  /* not network-namespaced: the host's and hypervisor's services */
        return report(socket(AF_VSOCK, SOCK_STREAM, 0));
    if (!strcmp(what, "hostname"))
        return report(sethostname(argv[2], strlen(argv[2])));
    fprintf(stderr, "unknown attempt %s\n", what);
    return 2;
}

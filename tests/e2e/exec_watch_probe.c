/* An attacker inside a container, watching for the processes `exec` brings in.
 *
 *   exec_watch_probe watch|stop|kill CTL_DIR
 *
 * Until CTL_DIR/stop exists it scans /proc for every pid but its own and:
 *   watch: opens /proc/PID/exe (and writes one not the container's), reads and opens /proc/PID/fd/N, ptrace-attaches;
 *          a host fd of a json log is written to (an INJECTED line);
 *   stop:  SIGSTOPs each new pid, SIGCONTs it 300 ms later (scanning on);
 *   kill:  SIGKILLs each new pid.
 * Then it writes CTL_DIR/report ("key=count ..." then one line per foreign
 * thing reached) and sleeps. "Own" means a file of the container: an exe is
 * the container's /bin/busybox, an fd a pipe or a path that exists in here.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct stat own_exe;
static long scans, pids, max_pid, exe_denied, exe_own, exe_foreign, exe_written, fd_denied, fd_own,
    fd_foreign, ptrace_denied, ptrace_own, ptrace_foreign, injected, signalled;
static char details[65536];
static struct { int pid; double at; } stopped[64]; /* stop mode: SIGCONT them 300 ms later */
static long nstopped;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void note(const char *what, int pid, const char *target) {
    static const char *last_what;
    static int last_pid;
    if (what == last_what && pid == last_pid)
        return; /* once per pid and kind: it is tried at every scan */
    last_what = what;
    last_pid = pid;
    size_t used = strlen(details);
    snprintf(details + used, sizeof details - used, "%s pid=%d %s\n", what, pid, target);
}

/* 1: the exe is not the container's, 0: it is, -1: not reachable */
static int exe_foreign_of(int pid) {
    char path[64], target[4096] = "";
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int foreign = fstat(fd, &st) == 0 &&
                  (st.st_dev != own_exe.st_dev || st.st_ino != own_exe.st_ino);
    if (!foreign) {
        close(fd);
        return 0;
    }
    /* through the fd held: the process may be gone by now, its binary is not */
    char held[64];
    snprintf(held, sizeof held, "/proc/self/fd/%d", fd);
    if (readlink(held, target, sizeof target - 1) < 0)
        strcpy(target, "?");
    note("exe", pid, target);
    /* what CVE-2019-5736 did to runc's binary: only a sealed copy refuses it */
    int w = open(held, O_WRONLY);
    if (w >= 0 && write(w, "", 1) == 1) {
        exe_written++;
        note("exe-written", pid, target);
    }
    if (w >= 0) close(w);
    close(fd);
    return 1;
}

static void try_exe(int pid) {
    int r = exe_foreign_of(pid);
    if (r < 0) exe_denied++;
    else if (r) exe_foreign++;
    else exe_own++;
}

static void try_fds(int pid) {
    char dir[64], path[320], target[4096];
    struct stat st;
    snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == EACCES || errno == EPERM) fd_denied++;
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0) {
            if (errno == EACCES || errno == EPERM) fd_denied++;
            continue;
        }
        target[n] = 0;
        if (strncmp(target, "pipe:", 5) == 0 || (target[0] == '/' && stat(target, &st) == 0)) {
            fd_own++;
            continue;
        }
        fd_foreign++;
        note("fd", pid, target);
        if (strstr(target, "json.log")) {
            int w = open(path, O_WRONLY | O_APPEND);
            if (w >= 0) {
                const char *line = "{\"log\":\"INJECTED-BY-CONTAINER\\n\",\"stream\":\"stdout\","
                                   "\"time\":\"2020-01-01T00:00:00.000000000Z\"}\n";
                if (write(w, line, strlen(line)) > 0) injected++;
                close(w);
            }
        }
    }
    closedir(d);
}

static void try_ptrace(int pid) {
    if (ptrace(PTRACE_ATTACH, pid, 0, 0) != 0) {
        if (errno == EPERM || errno == EACCES) ptrace_denied++;
        return;
    }
    waitpid(pid, NULL, __WALL);
    if (exe_foreign_of(pid) == 1) ptrace_foreign++;
    else ptrace_own++;
    ptrace(PTRACE_DETACH, pid, 0, 0);
    kill(pid, SIGCONT); /* a SIGSTOP of the attach still pending would stop it for good */
}

int main(int argc, char **argv) {
    if (argc != 3 || stat("/bin/busybox", &own_exe) != 0)
        return 2;
    const char *mode = argv[1];
    char stop[256], report[256];
    snprintf(stop, sizeof stop, "%s/stop", argv[2]);
    snprintf(report, sizeof report, "%s/report", argv[2]);
    int self = getpid();
    while (access(stop, F_OK) != 0) {
        scans++;
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid == self)
                continue;
            int fresh = pid > max_pid;
            if (fresh) { pids++; max_pid = pid; }
            if (strcmp(mode, "watch") == 0) {
                try_exe(pid);
                try_fds(pid);
                try_ptrace(pid);
            } else if (fresh && strcmp(mode, "kill") == 0) {
                if (kill(pid, SIGKILL) == 0) signalled++;
            } else if (fresh && strcmp(mode, "stop") == 0 && kill(pid, SIGSTOP) == 0) {
                signalled++;
                stopped[nstopped % 64].pid = pid;
                stopped[nstopped++ % 64].at = now();
            }
        }
        if (d) closedir(d);
        for (int i = 0; i < 64; i++)
            if (stopped[i].pid && now() - stopped[i].at > 0.3) {
                kill(stopped[i].pid, SIGCONT);
                stopped[i].pid = 0;
            }
    }
    /* Written aside, then renamed: the test reads it as soon as the name exists. */
    char partial[300];
    snprintf(partial, sizeof partial, "%s.partial", report);
    FILE *f = fopen(partial, "w");
    if (!f)
        return 1;
    fprintf(f, "scans=%ld pids=%ld exe_denied=%ld exe_own=%ld exe_foreign=%ld exe_written=%ld "
               "fd_denied=%ld "
               "fd_own=%ld fd_foreign=%ld ptrace_denied=%ld ptrace_own=%ld ptrace_foreign=%ld "
               "injected=%ld signalled=%ld\n%s",
            scans, pids, exe_denied, exe_own, exe_foreign, exe_written, fd_denied, fd_own, fd_foreign,
            ptrace_denied, ptrace_own, ptrace_foreign, injected, signalled, details);
    if (fclose(f) != 0 || rename(partial, report) != 0)
        return 1;
    for (;;)
        pause();
}

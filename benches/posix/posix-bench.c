/* The Linux personality's benchmark: one static program (musl-gcc -static) that runs
 * unmodified on Linux and on KaaL. It times each operation with the time-stamp counter
 * and prints `BENCH result` lines; under QEMU's `-icount shift=0` the counter counts
 * instructions (and one instruction is one nanosecond of virtual time).
 *
 *   getppid               a system call that does nothing
 *   write 1 B /dev/null   a one-byte write to /dev/null
 *   read 64 KiB cached    a 64 KiB read of a file already read once
 *   pipe 64 KiB           64 KiB through a pipe to a child and back to EOF
 *   fork+exit+wait        a child that exits at once
 *   fork+execve+wait      a child that runs busybox `true`
 *
 * Each loop checks what it did (bytes read, the child's status) and reports a failure
 * rather than a figure if anything went wrong.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static inline uint64_t tsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static int failures;

static void result(const char *name, const char *what, long n, uint64_t cycles, const char *extra) {
    printf("BENCH result name=%s what=\"%s\" iterations=%ld cycles=%llu%s%s\n", name, what, n,
           (unsigned long long)cycles, extra[0] ? " " : "", extra);
}

static void failed(const char *name, const char *why) {
    printf("BENCH failed name=%s why=\"%s\"\n", name, why);
    failures++;
}

static int wait_ok(pid_t pid) {
    int status = 0;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void) {
    enum { CALLS = 2000, FORKS = 20 };
    setvbuf(stdout, NULL, _IOLBF, 0);

    uint64_t t = tsc();
    long sum = 0;
    for (int i = 0; i < CALLS; i++)
        sum += getppid();
    t = tsc() - t;
    if (sum == (long)CALLS * getppid())
        result("getppid", "getppid", CALLS, t, "max-per-op=2500");
    else
        failed("getppid", "getppid changed");

    int null = open("/dev/null", O_WRONLY);
    t = tsc();
    long wrote = 0;
    for (int i = 0; i < CALLS; i++)
        wrote += write(null, "x", 1);
    t = tsc() - t;
    close(null);
    if (wrote == CALLS)
        result("write_null", "write 1 B to /dev/null", CALLS, t, "");
    else
        failed("write_null", "a write to /dev/null failed");

    static char buf[65536];
    int fd = open("/data/64k.bin", O_RDONLY);
    long got = fd >= 0 ? read(fd, buf, sizeof buf) : -1; /* now cached */
    enum { READS = 50 };
    t = tsc();
    long total = 0;
    for (int i = 0; i < READS && fd >= 0; i++)
        total += pread(fd, buf, sizeof buf, 0);
    t = tsc() - t;
    if (got == (long)sizeof buf && total == (long)READS * (long)sizeof buf)
        result("read_64k", "read 64 KiB, cached", READS, t, "");
    else
        failed("read_64k", "the 64 KiB file did not read back whole");
    if (fd >= 0)
        close(fd);

    /* 1 MiB through a pipe, in 4 KiB writes, to a child that counts it. */
    int p[2];
    enum { PIPE_BYTES = 1 << 20 };
    if (pipe(p) == 0) {
        t = tsc();
        pid_t child = fork();
        if (child == 0) {
            close(p[1]);
            long n, seen = 0;
            while ((n = read(p[0], buf, 4096)) > 0)
                seen += n;
            _exit(seen == PIPE_BYTES ? 0 : 1);
        }
        close(p[0]);
        long sent = 0;
        memset(buf, 'p', 4096);
        while (sent < PIPE_BYTES)
            sent += write(p[1], buf, 4096);
        close(p[1]);
        int ok = child > 0 && wait_ok(child);
        t = tsc() - t;
        if (ok)
            result("pipe", "pipe 1 MiB to a child (per 4 KiB)", PIPE_BYTES / 4096, t, "");
        else
            failed("pipe", "the child did not receive every byte");
    } else {
        failed("pipe", "pipe() failed");
    }

    int ok = 1;
    t = tsc();
    for (int i = 0; i < FORKS; i++) {
        pid_t child = fork();
        if (child == 0)
            _exit(0);
        ok &= child > 0 && wait_ok(child);
    }
    t = tsc() - t;
    if (ok)
        result("fork_exit", "fork+exit+wait", FORKS, t, "");
    else
        failed("fork_exit", "a child did not exit cleanly");

    ok = 1;
    t = tsc();
    for (int i = 0; i < FORKS; i++) {
        pid_t child = fork();
        if (child == 0) {
            char *argv[] = {"true", NULL};
            execv("/bin/true", argv);
            _exit(127);
        }
        ok &= child > 0 && wait_ok(child);
    }
    t = tsc() - t;
    /* 5 ms of virtual time: 5,000,000 instructions under -icount shift=0. */
    if (ok)
        result("fork_exec", "fork+execve(busybox true)+wait", FORKS, t, "max-per-op=5000000");
    else
        failed("fork_exec", "busybox true did not run");

    printf("BENCH ratio what=\"fork+execve / fork\" over=fork_exec under=fork_exit\n");
    printf("posix-bench: done, %d failures\n", failures);
    return failures ? 1 : 0;
}

/* Built with musl-gcc -static: checks what the Linux personality answers for an
 * unimplemented system call (ENOSYS) and for a bad pointer (EFAULT), and that musl's
 * start-up, stdio and files work. Prints one line per check; exits 0 if all passed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

static int failures;

static void check(const char *what, int ok) {
    printf("abi-check: %s %s\n", what, ok ? "ok" : "FAILED");
    if (!ok)
        failures++;
}

int main(int argc, char **argv) {
    printf("abi-check: musl hello, argc=%d argv0=%s\n", argc, argv[0]);
    long r = syscall(1000);
    check("enosys", r == -1 && errno == ENOSYS);
    r = write(1, (const void *)8, 16);
    check("efault-write", r == -1 && errno == EFAULT);
    int motd = open("/etc/motd", O_RDONLY);
    r = read(motd, (void *)0x10, 1);
    char first = 0;
    /* The byte the bad read could not deliver is still there for a good one. */
    check("efault-read", r == -1 && errno == EFAULT && read(motd, &first, 1) == 1 && first == 'W');
    close(motd);
    struct utsname u;
    check("uname", uname(&u) == 0 && strcmp(u.sysname, "Linux") == 0);
    int fd = open("/tmp/abi-check.txt", O_CREAT | O_TRUNC | O_WRONLY, 0644);
    check("create", fd >= 0 && write(fd, "musl wrote this\n", 16) == 16 && close(fd) == 0);
    char buf[32] = {0};
    fd = open("/tmp/abi-check.txt", O_RDONLY);
    check("read-back", fd >= 0 && read(fd, buf, sizeof buf - 1) == 16 && strcmp(buf, "musl wrote this\n") == 0);
    check("enoent", open("/no/such/file", O_RDONLY) == -1 && errno == ENOENT);
    check("getppid", getppid() > 0);
    printf("abi-check: %s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}

/* The Linux reference of benches/fs: the same 64 MiB file, written sequentially in
 * 64 KiB writes and synced, then (with the page cache dropped) read back sequentially
 * and checked, on the ext2 disk mounted at /mnt. Times are wall time
 * (CLOCK_MONOTONIC, in ns: `hz=1000000000`), as the KaaL bench's TSC figures are.
 *
 * Any error gives a `BENCH failed` line instead of a figure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { TOTAL = 64 << 20, CHUNK = 64 << 10, PATTERN = 1 << 20 };

static const char *const PATH = "/mnt/bench.bin";
static unsigned char pattern[PATTERN];
static unsigned char chunk[CHUNK];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int failed(const char *name, const char *what) {
    printf("BENCH failed name=%s why=\"%s: %s\"\n", name, what, strerror(errno));
    return 1;
}

static int write_file(void) {
    int fd = open(PATH, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return failed("vfs_write", "open for writing");
    uint64_t start = now_ns();
    for (long done = 0; done < TOTAL; done += CHUNK) {
        if (write(fd, pattern + done % PATTERN, CHUNK) != CHUNK) {
            close(fd);
            return failed("vfs_write", "a write was short");
        }
    }
    if (fsync(fd) != 0) {
        close(fd);
        return failed("vfs_write", "fsync");
    }
    uint64_t took = now_ns() - start;
    if (close(fd) != 0)
        return failed("vfs_write", "close");
    printf("BENCH result name=vfs_write what=\"file: 64 MiB sequential write + fsync (Linux)\" iterations=%d "
           "cycles=%llu bytes=%d hz=1000000000\n",
           TOTAL / CHUNK, (unsigned long long)took, TOTAL);
    return 0;
}

/* So that the read comes from the disk, as KaaL's does (its VFS keeps no cache). */
static int drop_caches(void) {
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd < 0)
        return failed("vfs_read", "open /proc/sys/vm/drop_caches");
    int ok = write(fd, "3\n", 2) == 2;
    close(fd);
    return ok ? 0 : failed("vfs_read", "write /proc/sys/vm/drop_caches");
}

static int read_file(void) {
    int fd = open(PATH, O_RDONLY);
    if (fd < 0)
        return failed("vfs_read", "open for reading");
    long total = 0, reads = 0, matching = 1;
    uint64_t start = now_ns();
    for (;;) {
        ssize_t n = read(fd, chunk, CHUNK);
        if (n < 0) {
            close(fd);
            return failed("vfs_read", "read");
        }
        if (n == 0)
            break;
        /* Reads of a regular file return whole chunks until the end: total stays a
         * multiple of CHUNK, and the pattern repeats every PATTERN bytes. */
        matching &= total + n <= TOTAL && memcmp(chunk, pattern + total % PATTERN, (size_t)n) == 0;
        total += n;
        reads++;
    }
    uint64_t took = now_ns() - start;
    close(fd);
    if (total != TOTAL || !matching) {
        errno = EIO;
        return failed("vfs_read", "the file did not read back as written");
    }
    printf("BENCH result name=vfs_read what=\"file: 64 MiB sequential read (Linux)\" iterations=%ld "
           "cycles=%llu bytes=%ld hz=1000000000\n",
           reads, (unsigned long long)took, total);
    return 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < PATTERN; i++)
        pattern[i] = (unsigned char)(i * 7 + i / 4096);
    if (write_file() != 0)
        return 1;
    if (drop_caches() != 0)
        return 1;
    return read_file();
}

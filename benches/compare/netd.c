/* The Linux reference of benches/net's services, for the host peer in
 * tools/kaal-compose/src/netpeer.rs:
 *
 *   TCP 5001  sink:   reads an 8-byte little-endian length, then that many bytes,
 *                     and answers "K"
 *   TCP 5002  source: reads an 8-byte little-endian length, sends that many bytes,
 *                     and closes
 *   TCP 80    HTTP:   answers every `GET` on a keep-alive connection with a small
 *                     page (with Content-Length)
 *
 * One process waits for connections on the three sockets (poll) and forks a child for
 * each, so connections are served at once. Prints `BENCH ready` once all three listen.
 */
#define _GNU_SOURCE /* memmem */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUF = 256 << 10 };
static unsigned char buf[BUF];

static const char PAGE[] = "<html><body><h1>KaaL reference</h1><p>A small page.</p></body></html>\n";

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 64) != 0) {
        perror("netd: listen");
        exit(1);
    }
    return fd;
}

static int read_all(int fd, void *to, size_t n) {
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, (char *)to + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *from, size_t n) {
    for (size_t sent = 0; sent < n;) {
        ssize_t w = write(fd, (const char *)from + sent, n - sent);
        if (w <= 0)
            return -1;
        sent += (size_t)w;
    }
    return 0;
}

static uint64_t read_length(int fd) {
    unsigned char le[8];
    if (read_all(fd, le, sizeof le) != 0)
        return UINT64_MAX;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | le[i];
    return n;
}

static int sink(int fd) {
    uint64_t left = read_length(fd);
    if (left == UINT64_MAX)
        return 1;
    while (left > 0) {
        ssize_t r = read(fd, buf, left < BUF ? left : BUF);
        if (r <= 0)
            return 1;
        left -= (uint64_t)r;
    }
    return write_all(fd, "K", 1) != 0;
}

static int source(int fd) {
    uint64_t left = read_length(fd);
    if (left == UINT64_MAX)
        return 1;
    for (size_t i = 0; i < BUF; i++)
        buf[i] = (unsigned char)(i * 13);
    while (left > 0) {
        size_t n = left < BUF ? left : BUF;
        if (write_all(fd, buf, n) != 0)
            return 1;
        left -= n;
    }
    return 0;
}

/* Answers each request (its head ends with an empty line) until the client closes. */
static int http(int fd) {
    char head[256];
    int head_len = snprintf(head, sizeof head,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %zu\r\n\r\n%s",
                            sizeof PAGE - 1, PAGE);
    size_t have = 0;
    for (;;) {
        char *end = memmem(buf, have, "\r\n\r\n", 4);
        if (end) {
            if (write_all(fd, head, (size_t)head_len) != 0)
                return 1;
            size_t used = (size_t)(end + 4 - (char *)buf);
            memmove(buf, buf + used, have - used);
            have -= used;
            continue;
        }
        if (have == BUF)
            return 1; /* a request head larger than the buffer */
        ssize_t r = read(fd, buf + have, BUF - have);
        if (r <= 0)
            return r == 0 ? 0 : 1;
        have += (size_t)r;
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Children are not waited for: the kernel reaps them. */
    signal(SIGCHLD, SIG_IGN);
    struct pollfd fds[3] = {{.fd = listen_on(5001), .events = POLLIN},
                            {.fd = listen_on(5002), .events = POLLIN},
                            {.fd = listen_on(80), .events = POLLIN}};
    int (*serve[3])(int) = {sink, source, http};
    printf("BENCH ready\n");
    for (;;) {
        if (poll(fds, 3, -1) < 0) {
            perror("netd: poll");
            return 1;
        }
        for (int i = 0; i < 3; i++) {
            if (!(fds[i].revents & POLLIN))
                continue;
            int conn = accept(fds[i].fd, NULL, NULL);
            if (conn < 0)
                continue;
            int one = 1;
            setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            pid_t child = fork();
            if (child == 0) {
                for (int j = 0; j < 3; j++)
                    close(fds[j].fd);
                _exit(serve[i](conn));
            }
            if (child < 0)
                perror("netd: fork");
            close(conn);
        }
    }
}

/* tcpbench: TCP throughput and round-trip latency, one static binary for every engine's
 * containers.  server PORT | tput HOST PORT MIB | rr HOST PORT COUNT
 * tput prints MiB/s of a bulk send; rr prints microseconds per 1-byte round trip. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int dial(const char *host, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", host); exit(2); }
    for (int i = 0; i < 100; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
            int one = 1;
            setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return s;
        }
        close(s);
        usleep(50000);
    }
    perror("connect");
    exit(1);
}

static void serve(int c) {
    char buf[1 << 16], mode;
    if (read(c, &mode, 1) != 1) return;
    if (mode == 'T') {
        while (read(c, buf, sizeof buf) > 0) {}
        write(c, "k", 1);
    } else {
        ssize_t n;
        while ((n = read(c, buf, 1)) == 1) write(c, buf, 1);
    }
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "server")) {
        signal(SIGCHLD, SIG_IGN);
        int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
        if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 64)) { perror("listen"); return 1; }
        for (;;) {
            int c = accept(s, 0, 0);
            if (c < 0) continue;
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (fork() == 0) { serve(c); _exit(0); }
            close(c);
        }
    }
    alarm(300); /* a client never hangs the bench */
    if (argc == 5 && !strcmp(argv[1], "tput")) {
        int s = dial(argv[2], atoi(argv[3]));
        long mib = atol(argv[4]);
        static char buf[1 << 20];
        write(s, "T", 1);
        double t = now();
        for (long i = 0; i < mib; i++) {
            size_t off = 0;
            while (off < sizeof buf) { ssize_t n = write(s, buf + off, sizeof buf - off); if (n <= 0) return 1; off += n; }
        }
        shutdown(s, SHUT_WR);
        char k;
        if (read(s, &k, 1) != 1) return 1;
        printf("%.1f\n", mib / (now() - t));
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "rr")) {
        int s = dial(argv[2], atoi(argv[3]));
        long n = atol(argv[4]);
        char c = 'R';
        write(s, &c, 1);
        c = 'x';
        for (int i = 0; i < 100; i++) { write(s, &c, 1); read(s, &c, 1); }
        double t = now();
        for (long i = 0; i < n; i++) { if (write(s, &c, 1) != 1 || read(s, &c, 1) != 1) return 1; }
        printf("%.1f\n", (now() - t) / n * 1e6);
        return 0;
    }
    fprintf(stderr, "usage: tcpbench server PORT | tput HOST PORT MIB | rr HOST PORT COUNT\n");
    return 2;
}

/* berth-init: the process 1 of containers run with --init (mounted as /sbin/docker-init).
 * It runs the command as its child, forwards the signals it receives to it, reaps every
 * orphan that the kernel hands to process 1, and exits with the child's status (128+N when
 * the child was killed by signal N). Written in C so it can be linked statically and run in
 * any image, whatever libc it has (or none). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child = 0;

static void forward(int sig) {
    if (child > 0)
        kill(child, sig);
}

int main(int argc, char **argv) {
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--") == 0)
        first = 2;
    if (argc <= first) {
        fprintf(stderr, "berth-init: no command given\n");
        return 2;
    }
    int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGALRM};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART;
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("berth-init: fork");
        return 1;
    }
    if (pid == 0) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            sigaction(sigs[i], &dfl, NULL);
        execvp(argv[first], &argv[first]);
        fprintf(stderr, "berth-init: exec %s: %s\n", argv[first], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    child = pid;
    int code = 0;
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break; /* ECHILD: nothing left */
        }
        if (w == pid) {
            code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            /* Reap what is already dead, then go: the container ends with its command. */
            while (waitpid(-1, &st, WNOHANG) > 0) {
            }
            return code;
        }
    }
    return code;
}

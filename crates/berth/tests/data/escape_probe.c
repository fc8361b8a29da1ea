/* Escape probe: run inside a default Berth container, it attempts calls that break out of or
 * reach around the sandbox and prints one line per attempt: "<name> <result>", where result is
 * the strerror text of the failure or ALLOWED. Built statically by the test (gcc -static). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *name, long r) {
    printf("%s %s\n", name, r < 0 ? strerror(errno) : "ALLOWED");
}

int main(int argc, char **argv) {
    pid_t host_pid = argc > 1 ? atoi(argv[1]) : 1;
    /* Kernel keyrings are not namespaced: the default profile denies them. */
    report("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* SESSION */, 0));
    report("add_key", syscall(SYS_add_key, "user", "berth", "x", 1, -3));
    /* A host process is not even addressable from the container's pid namespace. */
    report("ptrace_host", ptrace(PTRACE_ATTACH, host_pid, 0, 0));
    /* shocker.c: open_by_handle_at needs CAP_DAC_READ_SEARCH (and the profile's rule). */
    struct { unsigned int bytes; int type; unsigned char h[8]; } fh = { 8, 1, {2, 0, 0, 0, 0, 0, 0, 0} };
    report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, &fh, O_RDONLY));
    report("unshare_user", syscall(SYS_unshare, CLONE_NEWUSER));
    report("unshare_mount", syscall(SYS_unshare, CLONE_NEWNS));
    report("clone_newns", syscall(SYS_clone, CLONE_NEWNS | 17 /* SIGCHLD */, 0, 0, 0, 0));
    report("clone3", syscall(SYS_clone3, 0, 0));
    report("bpf", syscall(SYS_bpf, 0, 0, 0));
    report("perf_event_open", syscall(SYS_perf_event_open, 0, 0, -1, -1, 0));
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0));
    report("init_module", syscall(SYS_init_module, 0, 0, ""));
    report("setns", syscall(SYS_setns, 0, 0));
    fflush(stdout);
    return 0;
}

#!/usr/bin/env bash
# Run critest (kubernetes-sigs/cri-tools) against containerd's CRI with RUNTIME as the runc
# binary of containerd's runc v2 shim — how Kubernetes would reach Berth:
#
#   scripts/critest.sh /path/to/berth-runtime /path/to/critest [critest flags...]
#   scripts/critest.sh /usr/sbin/runc         /path/to/critest [critest flags...]
#
# Everything runs in a network namespace of its own (containerd, its CNI bridge, a registry on
# its 127.0.0.1:5000 serving the test images, critest itself), with state in a temp dir; all of
# it is removed at the end. No registry outside is needed: the images critest pulls are built
# from Debian's busybox-static and pushed to the local registry, which containerd uses as the
# mirror of registry.k8s.io and gcr.io. Needs: containerd (1.6), containernetworking-plugins,
# docker-registry, busybox-static, gcc and libc6-dev (static helpers), iproute2, util-linux,
# python3. See docs/runtime.md.
set -euo pipefail
log=${CRITEST_LOG:-/tmp/critest-$(basename "$1").log}
# Absolute, but symlinks kept: berth's binary acts as the runtime when called berth-runtime.
runtime=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); critest=$(readlink -f "$2"); shift 2
work=$(mktemp -d /tmp/berth-critest-XXXXXX)
ns="critest-$$"
pids=()
cleanup() {
  set +e
  cp "$work/containerd.log" "$log.containerd" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  # Shims of pods critest left behind belong to this run's containerd: found by its socket.
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $work/containerd.sock" || true); do
    kill -9 "$p" 2>/dev/null
  done
  grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
  ip netns delete "$ns" 2>/dev/null
  # containerd's CRI places pods without a cgroup parent under /k8s.io.
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h/k8s.io" ] && find "$h/k8s.io" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  if [ -n "${CRITEST_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
in_ns() { nsenter --net="/var/run/netns/$ns" --ipc="$work/ipcns" "$@"; }

ip netns add "$ns"
# An IPC namespace of the run's own too: the HostIpc tests make SysV segments on the "host".
touch "$work/ipcns" && unshare --ipc="$work/ipcns" true
in_ns ip link set lo up

# The registry, on the namespace's loopback.
mkdir -p "$work/registry"
cat > "$work/registry/config.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry/data}}
http: {addr: 127.0.0.1:5000}
EOF
# Daemons started by nsenter itself (not through the function, whose subshell would be the
# pid recorded and killed, leaving the daemon behind).
nsenter --net="/var/run/netns/$ns" --ipc="$work/ipcns" \
  docker-registry serve "$work/registry/config.yml" >"$work/registry.log" 2>&1 &
pids+=($!)

# CNI: a bridge inside the namespace.
mkdir -p "$work/cni"
cat > "$work/cni/10-critest.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "critest", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/16"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$work/cni-ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF

cat > "$work/containerd.toml" <<EOF
version = 2
root = "$work/root"
state = "$work/state"
[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.sock.ttrpc"
[debug]
  address = "$work/containerd.debug.sock"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  # Root without CAP_SYS_RESOURCE cannot lower oom_score_adj (the sandbox asks for -998).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$work/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$runtime"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."registry.k8s.io"]
    endpoint = ["http://127.0.0.1:5000"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."gcr.io"]
    endpoint = ["http://127.0.0.1:5000"]
EOF
nsenter --net="/var/run/netns/$ns" --ipc="$work/ipcns" \
  containerd --config "$work/containerd.toml" >"$work/containerd.log" 2>&1 &
pids+=($!)
ctr() { in_ns ctr --address "$work/containerd.sock" --namespace critest-build "$@"; }
for _ in $(seq 300); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done
ctr version >/dev/null

# Stand-ins for what busybox lacks: nginx (writes its pid file, serves through busybox httpd,
# keeps the name pidof looks for), a setuid-root `nnp` printing its effective uid (the
# nonewprivs image), and `ipcs -m` (segment ids from /proc/sysvipc/shm).
mkdir -p "$work/helpers"
cat > "$work/helpers/nginx.c" <<'C'
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
static pid_t child;
static void fwd(int s) { if (child > 0) kill(child, s); }
int main(int argc, char **argv) {
  const char *port = argc > 1 ? argv[1] : "80";
  /* nginx's title, which tests look for in /proc/1/cmdline. */
  if (argv[0][0] != 'n' || argv[0][5] != ':') {
    execl("/usr/sbin/nginx", "nginx: master process /usr/sbin/nginx", port, (char *)0);
  }
  FILE *f = fopen("/var/run/nginx.pid", "w");
  if (f) { fprintf(f, "%d\n", getpid()); fclose(f); }
  signal(SIGTERM, fwd); signal(SIGINT, fwd);
  child = fork();
  if (child == 0) {
    execl("/bin/httpd", "httpd", "-f", "-p", port, "-h", "/www", (char *)0);
    _exit(127);
  }
  int st = 0;
  while (waitpid(child, &st, 0) < 0) {}
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
C
cat > "$work/helpers/nnp.c" <<'C'
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("Effective uid: %d\n", geteuid()); return 0; }
C
cat > "$work/helpers/ipcs.c" <<'C'
#include <stdio.h>
int main(void) {
  char line[512]; FILE *f = fopen("/proc/sysvipc/shm", "r");
  printf("\n------ Shared Memory Segments --------\nkey        shmid      owner      perms      bytes      nattch\n");
  if (!f) return 0;
  fgets(line, sizeof line, f);
  while (fgets(line, sizeof line, f)) {
    int key, id, perms, cpid, lpid, nattch; unsigned long size; unsigned uid;
    if (sscanf(line, "%d %d %o %lu %d %d %d %u", &key, &id, &perms, &size, &cpid, &lpid, &nattch, &uid) == 8)
      printf("0x%08x %-10d %-10u %-10o %-10lu %d\n", key, id, uid, perms, size, nattch);
  }
  return 0;
}
C
for h in nginx nnp ipcs; do gcc -static -O2 -o "$work/helpers/$h" "$work/helpers/$h.c"; done

# The images critest pulls, as docker-archive tars made from a busybox rootfs (applets as hard
# links, as in the busybox image: masking /bin/ls must not mask the shell).
python3 - "$work/images" "$work/helpers" <<'PY'
import hashlib, io, json, os, sys, tarfile
out, helpers = sys.argv[1], sys.argv[2]; os.makedirs(out, exist_ok=True)
bb = "/bin/busybox"
applets = os.popen(f"{bb} --list").read().split()
passwd = ("root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/sh\n"
          "default-user:x:1000:1000::/home/default-user:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
group = ("root:x:0:\nwww-data:x:33:\ndefault-user:x:1000:\n"
         "group-defined-in-image:x:50000:default-user\nnogroup:x:65534:\n")
def layer(extra):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        def add(name, data=None, mode=0o644, hard=None, dir=False):
            i = tarfile.TarInfo(name); i.mode = mode
            if dir: i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i); return
            if hard: i.type = tarfile.LNKTYPE; i.linkname = hard; t.addfile(i); return
            i.size = len(data); t.addfile(i, io.BytesIO(data))
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "var/run", "www", "home",
                  "usr", "usr/sbin", "usr/local", "usr/local/bin"]:
            add(d, dir=True)
        add("bin/busybox", open(bb, "rb").read(), 0o755)
        for a in applets:
            # A hard link's header mode is the inode's mode for some unpackers: the target's.
            if a not in ("busybox", "ipcs"): add("bin/" + a, mode=0o755, hard="bin/busybox")
        add("usr/sbin/nginx", open(helpers + "/nginx", "rb").read(), 0o755)
        add("usr/local/bin/nnp", open(helpers + "/nnp", "rb").read(), 0o4755)
        add("bin/ipcs", open(helpers + "/ipcs", "rb").read(), 0o755)
        add("etc/passwd", passwd.encode()); add("etc/group", group.encode())
        add("www/index.html", b"<html>critest</html>\n")
        for name, data in extra.items(): add(name, data)
    return buf.getvalue()
def image(tags, config, extra={}):
    lay = layer(extra); diff = "sha256:" + hashlib.sha256(lay).hexdigest()
    cfg = {"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
           "config": dict({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}, **config),
           "rootfs": {"type": "layers", "diff_ids": [diff]}}
    cb = json.dumps(cfg).encode(); cid = hashlib.sha256(cb).hexdigest()
    name = tags[0].replace("/", "_").replace(":", "_")
    with tarfile.open(os.path.join(out, name + ".tar"), "w") as t:
        def add(n, d):
            i = tarfile.TarInfo(n); i.size = len(d); t.addfile(i, io.BytesIO(d))
        add(cid + ".json", cb); add("layer.tar", lay)
        add("manifest.json", json.dumps([{"Config": cid + ".json", "RepoTags": tags, "Layers": ["layer.tar"]}]).encode())
sh = {"Cmd": ["sh"]}
cri = "gcr.io/k8s-staging-cri-tools/"
image(["registry.k8s.io/pause:3.6"], {"Cmd": ["sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait; done"]})
image(["registry.k8s.io/e2e-test-images/busybox:1.29-2"], sh)
image(["registry.k8s.io/e2e-test-images/nginx:1.14-2"], {"Cmd": ["/usr/sbin/nginx", "80"]})
image(["registry.k8s.io/e2e-test-images/httpd:2.4.39-4"],
      {"Cmd": ["sh", "-c", "echo 'AH00094: Command line: httpd -D FOREGROUND'; exec /usr/sbin/nginx 80"]})
image(["registry.k8s.io/e2e-test-images/nonewprivs:1.3"], {"Cmd": ["/usr/local/bin/nnp"]})
image([cri + "hostnet-nginx-amd64:latest"], {"Cmd": ["/usr/sbin/nginx", "12003"]})
for n, u in [("test-image-user-uid", "1002"), ("test-image-user-username", "www-data"),
             ("test-image-user-uid-group", "1003:1004"), ("test-image-user-username-group", "www-data:1004"),
             ("test-image-predefined-group", "1000")]:
    image([cri + n + ":latest"], dict(sh, User=u))
for n in ["test-image-1", "test-image-2", "test-image-3"]:
    image([cri + n + ":latest"], sh, {n: n.encode()})
image([cri + "test-image-tags:1", cri + "test-image-tags:2", cri + "test-image-tags:3"], sh, {"tags": b"tags"})
image([cri + "test-image-latest:latest"], sh, {"latest": b"1"})
image([cri + "test-image-tag:test", cri + "test-image-tag:all"], sh, {"tag": b"1"})
image([cri + "test-image-digest:latest"], sh, {"digest": b"1"})
PY
for f in "$work"/images/*.tar; do
  for ref in $(ctr images import "$f" | awk '/^unpacking/ {print $2}'); do
    local_ref="127.0.0.1:5000/${ref#*/}"
    ctr images tag "$ref" "$local_ref" >/dev/null
    ctr images push --plain-http "$local_ref" >/dev/null
  done
done

echo "critest against containerd with BinaryName=$runtime" >&2
in_ns "$critest" --runtime-endpoint "unix://$work/containerd.sock" \
  --image-endpoint "unix://$work/containerd.sock" "$@" >"$log" 2>&1 || true
grep -E "^Ran |Passed|^\[FAIL\]" "$log" | sort -u | tail -40
echo "full log: $log (containerd: $log.containerd)" >&2

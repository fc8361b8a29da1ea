#!/usr/bin/env bash
# Fuzz the Engine API from moby's own OpenAPI description with schemathesis (PyPI):
#
#   scripts/schemathesis.sh BERTH_BINARY SWAGGER_YAML [schemathesis run flags...]
#
# SWAGGER_YAML is moby's `api/swagger.yaml` of the API version Berth advertises (1.51: moby
# v28.5.x), fetched by hand and never committed. A `berth daemon` with roots in a temp dir runs
# in network and mount namespaces of its own with the busybox test image loaded; socat relays
# 127.0.0.1:PORT to its socket (schemathesis speaks TCP only). The check is
# `not_a_server_error`: a well-formed but invalid request must get a 4xx, as dockerd answers.
# Not sent: swarm, plugins, session, distribution and registry operations (they reach
# outside or belong to features Berth does not have), and endless streams (events, attach).
# Everything is removed at the end. Needs: schemathesis (SCHEMATHESIS=path to `st`, default
# /opt/st/bin/st), socat, util-linux (unshare, nsenter), busybox-static.
set -euo pipefail
berth=$(readlink -f "$1"); swagger=$(readlink -f "$2"); shift 2
st=${SCHEMATHESIS:-/opt/st/bin/st}
port=${PORT:-23751}
work=$(mktemp -d /tmp/berth-st-XXXXXX)
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 1
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  # Containers the fuzzer started: their shims are this daemon's (found by its state root).
  for p in $(pgrep -f "berth shim .*$work" || true); do kill -9 "$p" 2>/dev/null; done
  grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
  for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/unified/; do
    [ -d "$h/berth-st-$$" ] && find "$h/berth-st-$$" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

# The daemon in namespaces of its own: nothing it makes reaches the host's network or mounts.
echo {} > "$work/daemon.json"
unshare --net --mount --propagation private sh -c "ip link set lo up && exec \"\$0\" daemon \
  -H unix://$work/berth.sock --data-root $work/data --exec-root $work/run \
  --config-file $work/daemon.json --cgroup-parent /berth-st-$$" "$berth" >"$work/daemon.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do [ -S "$work/berth.sock" ] && break; sleep 0.05; done
[ -S "$work/berth.sock" ] || { cat "$work/daemon.log"; exit 1; }

# The busybox image under the names the description's examples use.
mkdir -p "$work/img/bin"
cp /bin/busybox "$work/img/bin/busybox"
for a in sh sleep echo cat true; do ln -s busybox "$work/img/bin/$a"; done
tar -C "$work/img" -c . | BERTH_HOST="unix://$work/berth.sock" "$berth" import - busybox:latest >/dev/null
for t in ubuntu:latest alpine:latest; do
  BERTH_HOST="unix://$work/berth.sock" "$berth" tag busybox:latest "$t"
done

# Objects for the operations on one: a running container, a network, a volume, an exec
# session; removals get a name that does not exist (they would remove the fixture for all
# that follows).
b() { BERTH_HOST="unix://$work/berth.sock" "$berth" "$@"; }
ctr=$(b run -d --network none --name fuzz busybox sleep 100000)
net=$(b network create fuzznet)
b volume create fuzzvol >/dev/null
exec_id=$(curl -sf --unix-socket "$work/berth.sock" -H 'Content-Type: application/json' \
  -d '{"Cmd":["true"]}' "http://berth/containers/$ctr/exec" | sed 's/.*"Id":"\([0-9a-f]*\)".*/\1/')
cat >"$work/schemathesis.toml" <<TOML
[[operations]]
include-method = "DELETE"
parameters = { "path.id" = "missing", "path.name" = "missing" }
[[operations]]
include-path-regex = "^/containers/"
parameters = { "path.id" = "$ctr" }
[[operations]]
include-path-regex = "^/networks/"
parameters = { "path.id" = "$net" }
[[operations]]
include-path-regex = "^/volumes/"
parameters = { "path.name" = "fuzzvol" }
[[operations]]
include-path-regex = "^/exec/"
parameters = { "path.id" = "$exec_id" }
[[operations]]
include-path-regex = "^/images/"
parameters = { "path.name" = "busybox" }
TOML

socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$work/berth.sock" &
pids+=($!)
sleep 0.3

# (schemathesis keeps only the last of several --exclude-path-regex: one pattern.)
excluded='^/(swarm|nodes|services|tasks|secrets|configs|plugins|session|distribution|auth|build'
excluded+='|images/(create|search|[^/]+/push)|events|containers/\{id\}/attach)'
cd "$work"
set +e
"$st" --config-file "$work/schemathesis.toml" run "$swagger" --url "http://127.0.0.1:$port/v1.51" \
  --checks not_a_server_error \
  --exclude-path-regex "$excluded" \
  --request-timeout 15 --workers 1 "$@"
rc=$?
set -e
echo "daemon log: $(grep -ci panic "$work/daemon.log") panics" >&2
grep -i -A3 panic "$work/daemon.log" | head -40 >&2
exit $rc

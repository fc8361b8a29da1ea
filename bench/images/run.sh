#!/usr/bin/env bash
# Image benchmark: `load` of the Debian image archive (one gzip layer, ~180 MB unpacked) and
# `pull` of the same image from a registry on loopback, for berth, podman and docker (Debian's
# dockerd), plus the floor `tar -xzf` of the same layer; interleaved runs, each on a fresh store.
# Prints medians (s) and ratios. Everything (registry, dockerd, pulls) runs inside a network
# namespace of its own. Every measurement writes to a freshly made ext4 filesystem (a loop
# image): on a filesystem that just deleted the previous run's ~8000 files, ext4's inode
# allocator (recently_deleted) slowed file creation by up to 5x, whichever tool came next. Usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]
#   IMAGES_DIR holds debian.tar and debian-layer.tar.gz (`cargo xtask images debian`).
set -euo pipefail
berth=$(readlink -f "${1:?usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]}")
images=$(readlink -f "${2:?usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]}")
runs=${3:-5}
archive="$images/debian.tar"
layer="$images/debian-layer.tar.gz"
[ -f "$archive" ] && [ -f "$layer" ] || { echo "missing $archive / $layer: cargo xtask images debian" >&2; exit 1; }
work=$(mktemp -d /tmp/berth-bench-images-XXXXXX)
ns="berthbench-img-$$"
ip netns add "$ns"
inns() { nsenter --net="/run/netns/$ns" "$@"; }
inns ip link set lo up
port=5599
pids=()
fs="$work/fs"
mkdir -p "$fs"
umount_under() {  # every mount at or below $1, deepest first
  { grep -o " $1[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m"; done
}
fresh_fs() {  # a new, empty ext4 at $fs
  umount_under "$fs"
  rm -f "$work/fs.img"
  truncate -s 8G "$work/fs.img"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$work/fs.img"
  mount -o loop "$work/fs.img" "$fs"
  rm -f "$work/fs.img"  # the loop device keeps it; it goes with the last unmount
}
docker_pid=""
start_docker() {  # dockerd with its data on the fresh filesystem
  # nsenter execs dockerd: $! is dockerd itself (a shell function would leave it orphaned).
  nsenter --net="/run/netns/$ns" dockerd --data-root "$fs/docker" --exec-root "$work/docker-exec" -H "unix://$work/docker.sock" \
    --pidfile "$work/docker.pid" --iptables=false --ip6tables=false --bridge=none \
    >>"$work/dockerd.log" 2>&1 &
  docker_pid=$!
  for _ in $(seq 300); do docker -H "unix://$work/docker.sock" version >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "dockerd did not start:" >&2; tail -5 "$work/dockerd.log" >&2; return 1
}
stop_docker() {
  [ -n "$docker_pid" ] || return 0
  kill "$docker_pid"; wait "$docker_pid" 2>/dev/null || true; docker_pid=""
  rm -f "$work/docker.sock"
  umount_under "$work/docker-exec"
}
cleanup() {
  set +e
  stop_docker
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  # dockerd leaves its exec-root mounts (netns files, overlay) behind if killed mid-way.
  umount_under "$work"
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The registry, on 127.0.0.1 inside the namespace.
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
EOF
nsenter --net="/run/netns/$ns" docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do inns bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null && break; sleep 0.1; done
ref="127.0.0.1:$port/debian:bookworm"
inns "$berth" --data-root "$work/seed" load -q -i "$archive" >/dev/null
inns "$berth" --data-root "$work/seed" tag debian:bookworm "$ref"
inns "$berth" --data-root "$work/seed" push -q "$ref" >/dev/null
rm -rf "$work/seed"

have_podman=""; have_docker=""
command -v podman >/dev/null && have_podman=1 || echo "note: podman not installed" >&2
command -v dockerd >/dev/null && have_docker=1 || echo "note: dockerd not installed (apt-get install docker.io)" >&2
dk() { inns docker -H "unix://$work/docker.sock" "$@"; }
pd() { inns podman --root "$fs/podman" --runroot "$work/podman-run" --storage-driver overlay "$@"; }

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
declare -A times
record() { times[$1]+="$2 "; }
measure() {  # name command...: time one command on a fresh filesystem
  local name=$1 t; shift
  sync; t=$(date +%s%N)
  "$@" >/dev/null
  record "$name" "$(ms "$t")"
}

for i in $(seq "$runs"); do
  fresh_fs; mkdir "$fs/tar"
  measure tar-xzf tar -xzf "$layer" -C "$fs/tar" --numeric-owner
  fresh_fs; measure berth-load inns "$berth" --data-root "$fs/berth" load -q -i "$archive"
  fresh_fs; measure berth-pull inns "$berth" --data-root "$fs/berth" pull -q "$ref"
  if [ -n "$have_podman" ]; then
    fresh_fs; measure podman-load pd load -q -i "$archive"
    fresh_fs; measure podman-pull pd pull -q --tls-verify=false "$ref"
    rm -rf "$work/podman-run"
  fi
  if [ -n "$have_docker" ]; then
    fresh_fs; start_docker; measure docker-load dk load -q -i "$archive"; stop_docker
    fresh_fs; start_docker; measure docker-pull dk pull -q "$ref"; stop_docker
  fi
  echo "run $i/$runs done" >&2
done
umount_under "$fs"

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "| operation | tool | median (s) | ratio berth / tool |"
echo "|---|---|---|---|"
for op in load pull; do
  b=$(median "${times[berth-$op]}")
  for tool in berth podman docker; do
    [ -n "${times[$tool-$op]:-}" ] || continue
    m=$(median "${times[$tool-$op]}")
    printf '| %s | %s | %.2f | %.2f |\n' "$op" "$tool" "$(bc -l <<<"$m/1000")" "$(bc -l <<<"$b/$m")"
  done
  if [ "$op" = load ]; then
    m=$(median "${times[tar-xzf]}")
    printf '| %s | %s | %.2f | %.2f |\n' "unpack floor" "tar -xzf" "$(bc -l <<<"$m/1000")" "$(bc -l <<<"$b/$m")"
  fi
done
echo "($runs interleaved runs; $(du -sh --apparent-size "$layer" | cut -f1) compressed layer)"

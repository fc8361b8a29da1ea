#!/usr/bin/env bash
# Container run benchmark: `run --rm --network none busybox true` (the same for every tool; the
# cost of a bridge is in bench/net) through berth's daemon, podman and docker
# (Debian's dockerd), and `crun run` of a bare bundle; interleaved runs; medians and ratios.
# Then 50 sequential `run -d busybox sleep 1000` and the removal of all 50 (`rm -f`), per tool.
# Also the daemons' resident memory when idle. Every daemon has its own roots and socket;
# dockerd runs in a network namespace of its own. Usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]
#   IMAGES_DIR holds busybox.tar (`cargo xtask images busybox`).
set -euo pipefail
berth=$(readlink -f "${1:?usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]}")
images=$(readlink -f "${2:?usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]}")
runs=${3:-20}
work=$(mktemp -d /tmp/berth-bench-run-XXXXXX)
# Searchable by others: a --userns auto container's root is an unprivileged host id.
chmod 711 "$work"
ns="berthbench-run-$$"
ip netns add "$ns"
nsenter --net="/run/netns/$ns" ip link set lo up
pids=()
cg="berthbench-run-$$"
mounted_hugetlb=""
umount_under() { { grep -o " $1[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m"; done; }
cleanup() {
  set +e
  # Berth's containers outlive its daemon: none are left running here (all --rm), but be sure.
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  umount_under "$work"
  for d in /sys/fs/cgroup/*/"$cg"*; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  if [ -n "$mounted_hugetlb" ]; then umount /sys/fs/cgroup/hugetlb && rmdir /sys/fs/cgroup/hugetlb; fi
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
# crun (podman's runtime here) refuses this hybrid layout while hugetlb sits on the v2 hierarchy.
if grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb && mounted_hugetlb=1
fi

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Berth.
# In the bench's network namespace: its bridges and firewall tables stay there.
nsenter --net="/run/netns/$ns" "$berth" daemon --data-root "$work/berth" --exec-root "$work/berth-exec" -H "unix://$work/berth.sock" \
  --config-file "$work/none.json" --cgroup-parent "/$cg" >"$work/berth.log" 2>&1 &
berth_pid=$!; pids+=("$berth_pid")
for _ in $(seq 200); do [ -S "$work/berth.sock" ] && break; sleep 0.05; done
b() { "$berth" -H "unix://$work/berth.sock" "$@"; }
b load -q -i "$images/busybox.tar" >/dev/null
# The same without the daemon's defaults (memory ceiling, pids limit, no_new_privs): what
# they cost.
echo '{"default-memory": "0", "default-pids-limit": 0, "no-new-privileges": false}' >"$work/bare.json"
nsenter --net="/run/netns/$ns" "$berth" daemon --data-root "$work/berth-bare" --exec-root "$work/berth-bare-exec" -H "unix://$work/berth-bare.sock" \
  --config-file "$work/bare.json" --cgroup-parent "/$cg-bare" >"$work/berth-bare.log" 2>&1 &
pids+=("$!")
for _ in $(seq 200); do [ -S "$work/berth-bare.sock" ] && break; sleep 0.05; done
bb() { "$berth" -H "unix://$work/berth-bare.sock" "$@"; }
bb load -q -i "$images/busybox.tar" >/dev/null

# Podman.
have_podman=""
if command -v podman >/dev/null; then
  have_podman=1
  cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
EOF
  pd() { CONTAINERS_CONF="$work/containers.conf" podman --root "$work/podman" --runroot "$work/podman-run" \
    --storage-driver overlay --cgroup-manager cgroupfs --events-backend file "$@"; }
  pd load -q -i "$images/busybox.tar" >/dev/null
fi

# Docker.
have_docker=""
if command -v dockerd >/dev/null; then
  nsenter --net="/run/netns/$ns" dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" \
    -H "unix://$work/docker.sock" --pidfile "$work/docker.pid" --iptables=false --ip6tables=false \
    --bridge=none --cgroup-parent "/$cg-docker" >"$work/dockerd.log" 2>&1 &
  docker_pid=$!; pids+=("$docker_pid")
  for _ in $(seq 300); do docker -H "unix://$work/docker.sock" version >/dev/null 2>&1 && { have_docker=1; break; }; sleep 0.2; done
  dk() { docker -H "unix://$work/docker.sock" "$@"; }
  [ -n "$have_docker" ] && dk load -q -i "$images/busybox.tar" >/dev/null
fi

# crun of a bare bundle: the floor.
have_crun=""
if command -v crun >/dev/null; then
  have_crun=1
  mkdir -p "$work/bundle/rootfs"
  tar -xf "$images/busybox.tar" -O --wildcards '*/layer.tar' | tar -x -C "$work/bundle/rootfs"
  "$berth" runtime spec --bundle "$work/bundle"
  python3 - "$work/bundle/config.json" "$cg" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["ociVersion"] = "1.0.2"
c["process"]["args"] = ["/bin/true"]
c["linux"]["cgroupsPath"] = "/" + sys.argv[2] + "-crun/ctr"
json.dump(c, open(sys.argv[1], "w"))
PY
fi

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
declare -A times
time_it() { local name=$1 t; shift; t=$(date +%s%N); "$@" >/dev/null 2>"$work/err" || { echo "$name failed: $(cat "$work/err")" >&2; exit 1; }; times[$name]+="$(ms "$t") "; }

sleep 2
idle_berth=$(rss_kb "$berth_pid")
idle_docker=0
if [ -n "$have_docker" ]; then
  idle_docker=$(rss_kb "$docker_pid")
  for p in $(pgrep -P "$docker_pid" || true); do idle_docker=$((idle_docker + $(rss_kb "$p"))); done
fi

for i in $(seq "$runs"); do
  time_it berth b run --rm --network none busybox true
  time_it berth-userns b run --rm --network none --userns auto busybox true
  time_it berth-nodefaults bb run --rm --network none busybox true
  [ -n "$have_podman" ] && time_it podman pd run --rm --network none --cgroup-parent "/$cg-podman" busybox true
  [ -n "$have_docker" ] && time_it docker dk run --rm --network none busybox true
  [ -n "$have_crun" ] && time_it crun crun --root "$work/crun-state" run --bundle "$work/bundle" "bench-$i"
done

# 50 detached containers in a row, then their removal (one `rm -f` of all), per tool.
declare -A burst_run burst_rm
burst() {
  local name=$1 t; shift
  t=$(date +%s%N)
  for _ in $(seq 50); do "$@" run -d "${extra[@]}" busybox sleep 1000 >/dev/null; done
  burst_run[$name]=$(ms "$t")
  t=$(date +%s%N)
  "$@" rm -f "${rm_extra[@]}" $("$@" ps -aq) >/dev/null
  burst_rm[$name]=$(ms "$t")
}
# (podman's rm -f stops with a 10 s grace period first; -t 0 kills at once as docker's and berth's do)
extra=(--network none); rm_extra=(); burst berth b
[ -n "$have_podman" ] && { extra=(--network none --cgroup-parent "/$cg-podman"); rm_extra=(-t 0); burst podman pd; }
[ -n "$have_docker" ] && { extra=(--network none); rm_extra=(); burst docker dk; }

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
b_med=$(median "${times[berth]}")
echo "| tool | median run --rm true (ms) | berth / tool |"
echo "|---|---|---|"
for tool in berth berth-userns berth-nodefaults podman docker crun; do
  [ -n "${times[$tool]:-}" ] || continue
  m=$(median "${times[$tool]}")
  printf '| %s | %s | %.2f |\n' "$tool" "$m" "$(bc -l <<<"$b_med/$m")"
done
echo
echo "| tool | 50 × run -d (ms) | berth / tool | rm -f of the 50 (ms) | berth / tool |"
echo "|---|---|---|---|---|"
for tool in berth podman docker; do
  [ -n "${burst_run[$tool]:-}" ] || continue
  printf '| %s | %s | %.2f | %s | %.2f |\n' "$tool" "${burst_run[$tool]}" "$(bc -l <<<"${burst_run[berth]}/${burst_run[$tool]}")" \
    "${burst_rm[$tool]}" "$(bc -l <<<"${burst_rm[berth]}/${burst_rm[$tool]}")"
done
echo
echo "| daemon idle RSS | MB |"
echo "|---|---|"
printf '| berth daemon | %.1f |\n' "$(bc -l <<<"$idle_berth/1024")"
[ -n "$have_docker" ] && printf '| dockerd + containerd | %.1f |\n' "$(bc -l <<<"$idle_docker/1024")"
echo "($runs interleaved runs)"

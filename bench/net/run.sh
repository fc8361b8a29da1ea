#!/usr/bin/env bash
# Network benchmark: container-to-container TCP throughput and round-trip latency on one user
# bridge, the same through a published port from the host's loopback, and the time a bridge
# adds to `run --rm … true` over `--network none` — berth, podman and docker (Debian's dockerd)
# in the same run, medians and ratios. Each engine (daemon, bridges, firewall rules) lives in a
# network namespace of its own: dockerd's iptables FORWARD policy (DROP) would otherwise drop
# the other engines' bridged traffic, as it does on hosts that run Docker next to them. Usage: run.sh PATH/TO/berth IMAGES_DIR [ROUNDS]
#   IMAGES_DIR holds busybox.tar (`cargo xtask images busybox`).
set -euo pipefail
berth=$(readlink -f "${1:?usage: run.sh PATH/TO/berth IMAGES_DIR [ROUNDS]}")
images=$(readlink -f "${2:?usage: run.sh PATH/TO/berth IMAGES_DIR [ROUNDS]}")
rounds=${3:-3}
here=$(dirname "$(readlink -f "$0")")
work=$(mktemp -d /tmp/berth-bench-net-XXXXXX)
ns="berthbench-net-$$"
for t in berth podman docker; do
  ip netns add "$ns-$t"
  nsenter --net="/run/netns/$ns-$t" ip link set lo up
done
# inns TOOL CMD…: run in the tool's namespace.
inns() { local t=$1; shift; nsenter --net="/run/netns/$ns-$t" "$@"; }
pids=()
cg="berthbench-net-$$"
mounted_hugetlb=""
umount_under() { { grep -o " $1[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m"; done; }
cleanup() {
  set +e
  [ -n "${have_podman:-}" ] && pd rm -af -t 0 >/dev/null 2>&1
  [ -n "${have_docker:-}" ] && dk rm -f $(dk ps -aq) >/dev/null 2>&1
  b rm -f $(b ps -aq) >/dev/null 2>&1
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  umount_under "$work"
  for d in /sys/fs/cgroup/*/"$cg"*; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  if [ -n "$mounted_hugetlb" ]; then umount /sys/fs/cgroup/hugetlb && rmdir /sys/fs/cgroup/hugetlb; fi
  for t in berth podman docker; do ip netns del "$ns-$t" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
if grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb && mounted_hugetlb=1
fi
gcc -O2 -static -o "$work/tcpbench" "$here/tcpbench.c"

# Berth.
# nsenter itself in the background (not the inns function: $! would be a subshell, and killing
# it would leave the daemon behind); nsenter execs the daemon in place.
nsenter --net="/run/netns/$ns-berth" "$berth" daemon --data-root "$work/berth" --exec-root "$work/berth-exec" -H "unix://$work/berth.sock" \
  --config-file "$work/none.json" --cgroup-parent "/$cg" >"$work/berth.log" 2>&1 &
pids+=("$!")
for _ in $(seq 200); do [ -S "$work/berth.sock" ] && break; sleep 0.05; done
b() { "$berth" -H "unix://$work/berth.sock" "$@"; }
b load -q -i "$images/busybox.tar" >/dev/null
tools=(berth)

# Podman (its netavark bridge and rules inside our namespace).
have_podman=""
if command -v podman >/dev/null; then
  cat >"$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
CONF
  pd() { CONTAINERS_CONF="$work/containers.conf" inns podman podman --root "$work/podman" --runroot "$work/podman-run" \
    --storage-driver overlay --cgroup-manager cgroupfs --events-backend file "$@"; }
  if pd load -q -i "$images/busybox.tar" >/dev/null 2>&1 && pd network create benchprobe >/dev/null 2>&1; then
    pd network rm benchprobe >/dev/null; have_podman=1; tools+=(podman)
  else
    echo "podman: no bridge networking here; skipped" >&2
  fi
fi

# Docker (default bridge, iptables rules inside our namespace, docker-proxy for loopback).
have_docker=""
if command -v dockerd >/dev/null; then
  nsenter --net="/run/netns/$ns-docker" dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" -H "unix://$work/docker.sock" \
    --pidfile "$work/docker.pid" --cgroup-parent "/$cg-docker" >"$work/dockerd.log" 2>&1 &
  pids+=("$!")
  dk() { docker -H "unix://$work/docker.sock" "$@"; }
  for _ in $(seq 300); do dk version >/dev/null 2>&1 && { have_docker=1; break; }; sleep 0.2; done
  if [ -n "$have_docker" ]; then dk load -q -i "$images/busybox.tar" >/dev/null; tools+=(docker); fi
fi

cli() { case $1 in berth) shift; b "$@";; podman) shift; pd "$@";; docker) shift; dk "$@";; esac; }
extra() { case $1 in podman) echo "--cgroup-parent /$cg-podman";; *) echo "";; esac; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
declare -A res
add() { res[$1]+="$2 "; }
port=29000
for r in $(seq "$rounds"); do
  for t in "${tools[@]}"; do
    port=$((port + 1))
    mount=(-v "$work/tcpbench:/tcpbench:ro")
    cli "$t" network create "benchnet$r" >/dev/null
    cli "$t" run -d $(extra "$t") --name "srv$r" --network "benchnet$r" -p "127.0.0.1:$port:5001" "${mount[@]}" \
      busybox /tcpbench server 5001 >/dev/null
    ip=$(cli "$t" inspect -f "{{(index .NetworkSettings.Networks \"benchnet$r\").IPAddress}}" "srv$r")
    add "$t/c2c-tput" "$(cli "$t" run --rm $(extra "$t") --network "benchnet$r" "${mount[@]}" busybox /tcpbench tput "$ip" 5001 1000)"
    add "$t/c2c-rr" "$(cli "$t" run --rm $(extra "$t") --network "benchnet$r" "${mount[@]}" busybox /tcpbench rr "$ip" 5001 20000)"
    add "$t/pub-tput" "$(inns "$t" "$work/tcpbench" tput 127.0.0.1 "$port" 1000)"
    add "$t/pub-rr" "$(inns "$t" "$work/tcpbench" rr 127.0.0.1 "$port" 20000)"
    cli "$t" rm -f "srv$r" >/dev/null
    cli "$t" network rm "benchnet$r" >/dev/null
    for i in 1 2 3 4 5; do
      s=$(date +%s%N); cli "$t" run --rm $(extra "$t") --network none busybox true >/dev/null; add "$t/run-none" "$(ms "$s")"
      s=$(date +%s%N); cli "$t" run --rm $(extra "$t") --network bridge busybox true >/dev/null; add "$t/run-bridge" "$(ms "$s")"
    done
  done
done

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
m() { median "${res[$1]}"; }
echo "| tool | c2c MiB/s | berth / tool | c2c RTT µs | berth / tool | published MiB/s | berth / tool | published RTT µs | berth / tool | bridge adds to run --rm (ms) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for t in "${tools[@]}"; do
  printf '| %s | %s | %.2f | %s | %.2f | %s | %.2f | %s | %.2f | %s |\n' "$t" \
    "$(m "$t/c2c-tput")" "$(bc -l <<<"$(m berth/c2c-tput)/$(m "$t/c2c-tput")")" \
    "$(m "$t/c2c-rr")" "$(bc -l <<<"$(m berth/c2c-rr)/$(m "$t/c2c-rr")")" \
    "$(m "$t/pub-tput")" "$(bc -l <<<"$(m berth/pub-tput)/$(m "$t/pub-tput")")" \
    "$(m "$t/pub-rr")" "$(bc -l <<<"$(m berth/pub-rr)/$(m "$t/pub-rr")")" \
    "$(bc -l <<<"$(m "$t/run-bridge") - $(m "$t/run-none")")"
done
echo "($rounds rounds; throughput: 1000 MiB per transfer; RTT: 20000 one-byte round trips; run: 5 pairs per round)"

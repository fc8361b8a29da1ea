#!/usr/bin/env bash
# Compose benchmark: a project of 10 services (busybox `sleep`, one user network, a healthcheck
# on one of them that the others wait for), three ways:
#   berth          `berth compose` against Berth's daemon
#   compose@berth  Compose v2 (`docker compose`, the CLI plugin) against Berth's daemon
#   compose@docker Compose v2 against Debian's dockerd 20.10
# Timed per round: `up -d --wait` (cold), a no-op `up -d` (nothing changed), and `down -t 0`.
# Medians of RUNS rounds (the tools interleaved), and ratios berth / other (< 1: Berth faster).
# Every daemon has its own roots and socket, in a network namespace of the benchmark's own.
# Usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]   (IMAGES_DIR holds busybox.tar)
set -euo pipefail
berth=$(readlink -f "${1:?usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]}")
images=$(readlink -f "${2:?usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]}")
runs=${3:-5}
work=$(mktemp -d /tmp/berth-bench-compose-XXXXXX)
ns="berthbench-compose-$$"
cg="berthbench-compose-$$"
ip netns add "$ns"
nsenter --net="/run/netns/$ns" ip link set lo up
pids=()
umount_under() { { grep -o " $1[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m"; done; }
cleanup() {
  set +e
  b compose -p benchc down -t 0 >/dev/null 2>&1
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  umount_under "$work"
  for d in /sys/fs/cgroup/*/"$cg"*; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo '{}' >"$work/none.json"
nsenter --net="/run/netns/$ns" "$berth" daemon --data-root "$work/berth" --exec-root "$work/berth-exec" \
  -H "unix://$work/berth.sock" --config-file "$work/none.json" --cgroup-parent "/$cg" >"$work/berth.log" 2>&1 &
pids+=("$!")
for _ in $(seq 200); do [ -S "$work/berth.sock" ] && break; sleep 0.05; done
b() { "$berth" -H "unix://$work/berth.sock" "$@"; }
b load -q -i "$images/busybox.tar" >/dev/null

have_docker=""
if command -v dockerd >/dev/null; then
  nsenter --net="/run/netns/$ns" dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" \
    -H "unix://$work/docker.sock" --pidfile "$work/docker.pid" --iptables=false --ip6tables=false \
    --cgroup-parent "/$cg-docker" >"$work/dockerd.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 300); do /usr/bin/docker -H "unix://$work/docker.sock" version >/dev/null 2>&1 && { have_docker=1; break; }; sleep 0.2; done
  [ -n "$have_docker" ] && /usr/bin/docker -H "unix://$work/docker.sock" load -q -i "$images/busybox.tar" >/dev/null
fi

# The project: db with a healthcheck, nine services that wait for it to be healthy.
mkdir -p "$work/p"
{
  echo "name: benchc"
  echo "services:"
  echo "  db:"
  echo "    image: busybox"
  echo "    command: [sleep, '3600']"
  echo "    networks: [back]"
  echo "    healthcheck: {test: [CMD, 'true'], interval: 200ms}"
  for i in $(seq 1 9); do
    echo "  s$i:"
    echo "    image: busybox"
    echo "    command: [sleep, '3600']"
    echo "    networks: [back]"
    echo "    environment: {N: '$i'}"
    echo "    depends_on: {db: {condition: service_healthy}}"
  done
  echo "networks:"
  echo "  back: {}"
} >"$work/p/compose.yaml"

compose_cli=/usr/local/bin/docker
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
run_tool() { # tool args…: the compose command of that tool, in the project's directory
  local tool=$1; shift
  case $tool in
    berth) (cd "$work/p" && "$berth" -H "unix://$work/berth.sock" compose "$@") ;;
    compose@berth) (cd "$work/p" && DOCKER_HOST="unix://$work/berth.sock" "$compose_cli" compose "$@") ;;
    compose@docker) (cd "$work/p" && DOCKER_HOST="unix://$work/docker.sock" "$compose_cli" compose "$@") ;;
  esac
}
fail() { echo "$1 failed:" >&2; cat "$work/out" >&2; exit 1; }
tools=(berth compose@berth)
[ -n "$have_docker" ] && tools+=(compose@docker)
declare -A up noop down
for _ in $(seq "$runs"); do
  for t in "${tools[@]}"; do
    s=$(date +%s%N); run_tool "$t" up -d --wait >"$work/out" 2>&1 || fail "$t up"; up[$t]+=" $(ms "$s")"
    s=$(date +%s%N); run_tool "$t" up -d >"$work/out" 2>&1 || fail "$t no-op up"; noop[$t]+=" $(ms "$s")"
    s=$(date +%s%N); run_tool "$t" down -t 0 >"$work/out" 2>&1 || fail "$t down"; down[$t]+=" $(ms "$s")"
  done
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "| tool | up -d --wait (ms) | no-op up -d (ms) | down -t 0 (ms) | berth/tool up | berth/tool no-op | berth/tool down |"
echo "|---|---|---|---|---|---|---|"
bu=$(median "${up[berth]}"); bn=$(median "${noop[berth]}"); bd=$(median "${down[berth]}")
for t in "${tools[@]}"; do
  u=$(median "${up[$t]}"); n=$(median "${noop[$t]}"); d=$(median "${down[$t]}")
  printf '| %s | %s | %s | %s | %.2f | %.2f | %.2f |\n' "$t" "$u" "$n" "$d" \
    "$(bc -l <<<"$bu/$u")" "$(bc -l <<<"$bn/$n")" "$(bc -l <<<"$bd/$d")"
done

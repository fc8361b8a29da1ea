#!/usr/bin/env bash
# API under load: CONTAINERS running `busybox sleep`, then ROUNDS rounds of CLIENTS concurrent
# API clients for SECONDS each (bench/api/load: list, inspect, stats?stream=0 and short
# create/start/wait/remove cycles), against Berth's daemon and then Debian's dockerd 20.10, the
# same requests, in one run. Reports per-operation p50/p99, errors, the daemons' RSS idle and
# after each round, `ps -a` and daemon restart (to serving again) times at CONTAINERS.
# Each daemon has its own roots and socket, in a network namespace of the benchmark's own.
# Usage: run.sh PATH/TO/berth IMAGES_DIR [SECONDS] [CONTAINERS] [CLIENTS] [ROUNDS]
#   IMAGES_DIR holds busybox.tar; BERTH_LOAD names the load generator (cargo xtask bench api).
#   BERTH_LOAD_RATE=R: the clients together offer R requests per second to each daemon (the
#   same load for both); unset, each client sends as fast as it is answered.
#   BERTH_BENCH_DOCKER=0: Berth alone (for profiling; the ratios need dockerd).
set -euo pipefail
berth=$(readlink -f "${1:?usage: run.sh PATH/TO/berth IMAGES_DIR [SECONDS] [CONTAINERS] [CLIENTS] [ROUNDS]}")
images=$(readlink -f "${2:?usage: run.sh PATH/TO/berth IMAGES_DIR ...}")
seconds=${3:-60}
count=${4:-100}
clients=${5:-50}
rounds=${6:-3}
load=${BERTH_LOAD:?BERTH_LOAD must name the load generator}
work=$(mktemp -d /tmp/berth-bench-api-XXXXXX)
ns="berthbench-api-$$"
cg="berthbench-api-$$"
ip netns add "$ns"
nsenter --net="/run/netns/$ns" ip link set lo up
pid=""
umount_under() { { grep -o " $1[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m"; done; }
cleanup() {
  set +e
  [ -n "$pid" ] && { kill "$pid"; wait "$pid"; } 2>/dev/null
  umount_under "$work"
  for d in /sys/fs/cgroup/*/"$cg"*; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
rss_kb() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$t"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
mb() { printf '%.1f' "$(bc -l <<<"$1/1024")"; }

declare -A res
# start_daemon NAME: starts it, sets pid and cli.
start_berth() {
  nsenter --net="/run/netns/$ns" "$berth" daemon --data-root "$work/berth" --exec-root "$work/berth-exec" \
    -H "unix://$work/berth.sock" --config-file "$work/none.json" --cgroup-parent "/$cg" >>"$work/berth.log" 2>&1 &
  pid=$!
}
start_docker() {
  nsenter --net="/run/netns/$ns" dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" \
    -H "unix://$work/docker.sock" --pidfile "$work/docker.pid" --iptables=false --ip6tables=false \
    --bridge=none --cgroup-parent "/$cg-docker" >>"$work/dockerd.log" 2>&1 &
  pid=$!
}
ready() { local t=$1; shift; for _ in $(seq $((t * 20))); do "$@" version >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
pids_of() { echo "$pid" $(pgrep -P "$pid" -x containerd || true); }

engine() {
  local name=$1 start=$2 t
  shift 2
  local cli=("$@")
  "$start"
  ready 60 "${cli[@]}" || { echo "$name did not start" >&2; exit 1; }
  "${cli[@]}" load -q -i "$images/busybox.tar" >/dev/null
  : >"$work/$name.ids"
  t=$(date +%s%N)
  for _ in $(seq "$count"); do "${cli[@]}" run -d --network none busybox sleep 100000 >>"$work/$name.ids"; done
  res[$name,start]=$(ms "$t")
  sleep 2
  res[$name,idle]=$(rss_kb $(pids_of))
  t=$(date +%s%N); "${cli[@]}" ps -a >/dev/null; res[$name,ps]=$(ms "$t")
  for r in $(seq "$rounds"); do
    "$load" "unix://$work/$name.sock" "$seconds" "$clients" "$work/$name.ids" >"$work/$name.$r.json"
    sleep 2
    res[$name,rss$r]=$(rss_kb $(pids_of))
  done
  # A restart with CONTAINERS running: stop (SIGTERM), start, time until it serves `ps` again.
  # (Berth's containers outlive its daemon; dockerd 20.10 without live-restore stops its own.)
  if [ "$name" = berth ]; then
    kill "$pid"; wait "$pid" 2>/dev/null || true
    t=$(date +%s%N); "$start"; ready 120 "${cli[@]}"; "${cli[@]}" ps -q >/dev/null; res[$name,restart]=$(ms "$t")
    res[$name,after]=$("${cli[@]}" ps -q | wc -l)
  fi
  "${cli[@]}" rm -f $("${cli[@]}" ps -aq) >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid=""
}

echo '{}' >"$work/none.json"
engine berth start_berth "$berth" -H "unix://$work/berth.sock"
have_docker=""
if command -v dockerd >/dev/null && [ "${BERTH_BENCH_DOCKER:-1}" != 0 ]; then
  have_docker=1
  engine docker start_docker docker -H "unix://$work/docker.sock"
fi

field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); o=d["ops"].get(sys.argv[2]); print(o[sys.argv[3]] if o else 0)' "$@"; }
echo "$count running containers, $clients clients, $rounds rounds of ${seconds} s, ${BERTH_LOAD_RATE:-as fast as answered} requests/s (round 1 shown; errors: all rounds)"
echo
echo "| operation | berth p50 / p99 ms | docker p50 / p99 ms | p50 berth / docker | p99 berth / docker | berth count / errors | docker count / errors |"
echo "|---|---|---|---|---|---|---|"
for op in list inspect stats create+start+wait+remove; do
  bp50=$(field "$work/berth.1.json" "$op" p50_ms); bp99=$(field "$work/berth.1.json" "$op" p99_ms)
  bc_=$(field "$work/berth.1.json" "$op" count)
  be=0; de=0
  for r in $(seq "$rounds"); do
    be=$((be + $(field "$work/berth.$r.json" "$op" errors)))
    [ -n "$have_docker" ] && de=$((de + $(field "$work/docker.$r.json" "$op" errors)))
  done
  if [ -n "$have_docker" ]; then
    dp50=$(field "$work/docker.1.json" "$op" p50_ms); dp99=$(field "$work/docker.1.json" "$op" p99_ms)
    dc=$(field "$work/docker.1.json" "$op" count)
    printf '| %s | %.1f / %.1f | %.1f / %.1f | **%.2f** | **%.2f** | %s / %s | %s / %s |\n' "$op" "$bp50" "$bp99" "$dp50" "$dp99" \
      "$(bc -l <<<"$bp50/$dp50")" "$(bc -l <<<"$bp99/$dp99")" "$bc_" "$be" "$dc" "$de"
  else
    printf '| %s | %.1f / %.1f | — | — | — | %s / %s | — |\n' "$op" "$bp50" "$bp99" "$bc_" "$be"
  fi
done
for f in "$work"/*.[0-9].json; do
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["errors"]; [print("  error", sys.argv[1].rsplit("/",1)[1], k, "×", v) for k, v in list(e.items())[:5]]' "$f"
done
echo
rss_row() { local name=$1 r out; out=$(mb "${res[$name,idle]}"); for r in $(seq "$rounds"); do out+=" → $(mb "${res[$name,rss$r]}")"; done; echo "$out"; }
echo "| | berth | docker |"
echo "|---|---|---|"
echo "| $count × run -d (ms) | ${res[berth,start]} | ${res[docker,start]:-—} |"
echo "| ps -a at $count (ms) | ${res[berth,ps]} | ${res[docker,ps]:-—} |"
echo "| RSS MB idle → after each round | $(rss_row berth) | $([ -n "$have_docker" ] && rss_row docker || echo —) |"
echo "| daemon restart to serving, $count running (ms) | ${res[berth,restart]} (${res[berth,after]} still running) | — |"

#!/usr/bin/env bash
# Monitoring benchmark (issue 18): with N running containers (default 200, `busybox sleep`,
# --network none), through Berth's daemon: a /metrics scrape over the API socket (median
# latency, and the daemon's CPU time per scrape), the stats sampler's CPU cost (the daemon's
# CPU with stats-interval 1s against the same daemon with sampling off, scaled to the default
# 10 s), and the dashboard's containers page (median time to the whole page).
# Usage: run.sh PATH/TO/berth IMAGES_DIR [N]   (IMAGES_DIR holds busybox.tar)
set -euo pipefail
berth=$(readlink -f "${1:?usage: run.sh PATH/TO/berth IMAGES_DIR [N]}")
images=$(readlink -f "${2:?usage: run.sh PATH/TO/berth IMAGES_DIR [N]}")
n=${3:-200}
work=$(mktemp -d /tmp/berth-bench-metrics-XXXXXX)
chmod 711 "$work"
ns="berthbench-metrics-$$"
ip netns add "$ns"
nsenter --net="/run/netns/$ns" ip link set lo up
cg="berthbench-metrics-$$"
pid=""
umount_under() { { grep -o " $1[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m"; done; }
b() { "$berth" -H "unix://$work/berth.sock" "$@"; }
cleanup() {
  set +e
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    ids=$(b ps -aq); [ -n "$ids" ] && b rm -f $ids >/dev/null 2>&1
    kill "$pid"; wait "$pid" 2>/dev/null
  fi
  umount_under "$work"
  for d in /sys/fs/cgroup/*/"$cg"*; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

start() { # $1: stats-interval
  cat >"$work/daemon.json" <<JSON
{"stats-interval": "$1", "dashboard-addr": "127.0.0.1:8443"}
JSON
  nsenter --net="/run/netns/$ns" "$berth" daemon --data-root "$work/data" --exec-root "$work/exec" \
    -H "unix://$work/berth.sock" --config-file "$work/daemon.json" --cgroup-parent "/$cg" >>"$work/daemon.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do [ -S "$work/berth.sock" ] && b version >/dev/null 2>&1 && break; sleep 0.05; done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; rm -f "$work/berth.sock"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
hz=$(getconf CLK_TCK)

start 0
b load -q -i "$images/busybox.tar" >/dev/null
echo "starting $n containers..." >&2
for i in $(seq "$n"); do b run -d --network none --name "c$i" --label "app=bench" busybox sleep 36000 >/dev/null; done

# /metrics over the socket.
for _ in $(seq 3); do curl -s --unix-socket "$work/berth.sock" http://b/metrics >/dev/null; done
t0=$(cpu_ticks)
for _ in $(seq 20); do
  curl -s -o "$work/metrics.txt" -w '%{time_total}\n' --unix-socket "$work/berth.sock" http://b/metrics
done >"$work/scrape.times"
t1=$(cpu_ticks)
scrape_ms=$(awk '{print $1 * 1000}' "$work/scrape.times" | median)
scrape_cpu_ms=$(echo "($t1 - $t0) * 1000 / $hz / 20" | bc -l)
series=$(grep -c '^container_cpu_usage_seconds_total{' "$work/metrics.txt")
bytes=$(wc -c <"$work/metrics.txt")

# The sampler: the daemon idle for 30 s with sampling off, then each second.
sleep 2; t0=$(cpu_ticks); sleep 30; t1=$(cpu_ticks)
idle_off=$(echo "($t1 - $t0) / $hz / 30 * 100" | bc -l)
stop; start 1s
sleep 3; t0=$(cpu_ticks); sleep 30; t1=$(cpu_ticks)
idle_on=$(echo "($t1 - $t0) / $hz / 30 * 100" | bc -l)
per_pass=$(echo "($idle_on - $idle_off) * 10" | bc -l) # ms of CPU per pass (of 1 s)
at_default=$(echo "($idle_on - $idle_off) / 10" | bc -l)

# The dashboard's containers page, signed in.
echo 'bench password' | b dashboard user add bench --role viewer --password-stdin >/dev/null
N="nsenter --net=/run/netns/$ns"
jar="$work/jar"
csrf=$($N curl -sk -c "$jar" https://127.0.0.1:8443/login | grep -o 'name="csrf" value="[^"]*"' | sed 's/.*value="//;s/"//')
$N curl -sk -b "$jar" -c "$jar" -o /dev/null --data-urlencode username=bench --data-urlencode 'password=bench password' --data-urlencode "csrf=$csrf" https://127.0.0.1:8443/login
for _ in $(seq 11); do
  $N curl -sk -b "$jar" -o "$work/page.html" -w '%{time_total}\n' https://127.0.0.1:8443/containers
done | tail -n 10 >"$work/page.times"
page_ms=$(awk '{print $1 * 1000}' "$work/page.times" | median)
rows=$(grep -o '<tr>' "$work/page.html" | wc -l)

echo "| measure ($n running containers) | value | bound (issue 18) | value / bound |"
echo "|---|---|---|---|"
printf '| /metrics scrape, median of 20 (%s series, %s KiB) | %.1f ms | 50 ms | %.2f |\n' "$series" "$((bytes / 1024))" "$scrape_ms" "$(echo "$scrape_ms / 50" | bc -l)"
printf '| daemon CPU per scrape | %.1f ms | | |\n' "$scrape_cpu_ms"
printf '| sampler: CPU per pass | %.1f ms | | |\n' "$per_pass"
printf '| sampler at the default 10 s | %.3f %% of a core | 1 %% | %.2f |\n' "$at_default" "$(echo "$at_default / 1" | bc -l)"
printf '| daemon idle, sampling off | %.3f %% of a core | | |\n' "$idle_off"
printf '| containers page (%s rows), median of 10 | %.1f ms | | |\n' "$((rows - 1))" "$page_ms"

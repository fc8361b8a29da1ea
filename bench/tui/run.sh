#!/usr/bin/env bash
# TUI benchmark (issue 19): with N running containers (default 200), the time from starting
# the terminal UI in tmux to its first full screen (the container list drawn with all N, and
# the images panel filled), for `berth tui` and lazydocker's own binary against the same
# Berth daemon; RUNS rounds each, interleaved; medians and the ratio.
# Usage: run.sh PATH/TO/berth IMAGES_DIR [N] [RUNS]
set -euo pipefail
berth=$(readlink -f "${1:?usage: run.sh PATH/TO/berth IMAGES_DIR [N] [RUNS]}")
images=$(readlink -f "${2:?usage: run.sh PATH/TO/berth IMAGES_DIR [N] [RUNS]}")
n=${3:-200}
runs=${4:-5}
work=$(mktemp -d /tmp/berth-bench-tui-XXXXXX)
chmod 711 "$work"
ns="berthbench-tui-$$"
ip netns add "$ns"
nsenter --net="/run/netns/$ns" ip link set lo up
cg="berthbench-tui-$$"
sock="tmux-berthbench-$$"
pid=""
umount_under() { { grep -o " $1[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m"; done; }
b() { "$berth" -H "unix://$work/berth.sock" "$@"; }
cleanup() {
  set +e
  tmux -L "$sock" kill-server 2>/dev/null
  if [ -n "$pid" ]; then
    ids=$(b ps -aq); [ -n "$ids" ] && b rm -f $ids >/dev/null 2>&1
    kill "$pid"; wait "$pid" 2>/dev/null
  fi
  umount_under "$work"
  for d in /sys/fs/cgroup/*/"$cg"*; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
echo '{}' >"$work/daemon.json"
nsenter --net="/run/netns/$ns" "$berth" daemon --data-root "$work/data" --exec-root "$work/exec" \
  -H "unix://$work/berth.sock" --config-file "$work/daemon.json" --cgroup-parent "/$cg" >"$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 200); do [ -S "$work/berth.sock" ] && b version >/dev/null 2>&1 && break; sleep 0.05; done
b load -q -i "$images/busybox.tar" >/dev/null
echo "starting $n containers..." >&2
for i in $(seq "$n"); do b run -d --network none --name "c$i" busybox sleep 36000 >/dev/null; done

# ms from the start of CMD in a fresh tmux session until the pane shows the full first screen.
first_screen() { # $1: command, $2: a grep -E pattern the full screen matches
  local t0 t
  tmux -L "$sock" kill-session -t s 2>/dev/null || true
  t0=$(date +%s%N)
  tmux -L "$sock" new-session -d -s s -x 160 -y 50 "$1"
  for _ in $(seq 1500); do
    if tmux -L "$sock" capture-pane -p -t =s: 2>/dev/null | grep -Eq "$2"; then
      t=$(( ($(date +%s%N) - t0) / 1000000 ))
      tmux -L "$sock" kill-session -t =s: 2>/dev/null || true
      echo "$t"; return
    fi
    sleep 0.01
  done
  echo "timeout: $1" >&2; exit 1
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
: >"$work/berth.times"; : >"$work/lazy.times"
for _ in $(seq "$runs"); do
  # Berth: the title counts all N, and the images panel has its row.
  first_screen "BERTH_HOST=unix://$work/berth.sock $berth tui" "Containers \\($n\\)" >>"$work/berth.times"
  if command -v lazydocker >/dev/null; then
    # lazydocker: the list drawn (a container's row) and the images panel filled.
    first_screen "DOCKER_HOST=unix://$work/berth.sock lazydocker" "alpine +3\\.10" >>"$work/lazy.times"
  fi
done
bm=$(median <"$work/berth.times")
echo "| TUI ($n containers, tmux 160x50) | first full screen, median of $runs |"
echo "|---|---|"
echo "| berth tui | $bm ms |"
if [ -s "$work/lazy.times" ]; then
  lm=$(median <"$work/lazy.times")
  echo "| lazydocker 0.25 | $lm ms |"
  printf '| berth / lazydocker | **%.2f** (bound 0.5) |\n' "$(echo "$bm / $lm" | bc -l)"
fi

#!/usr/bin/env bash
# Runtime lifecycle benchmark: create → start → wait for exit → delete of a busybox `/bin/true`
# bundle, for berth-runtime, crun and runc, interleaved in one run. Prints medians (ms) and the
# ratios to crun. Usage: run.sh PATH/TO/berth [RUNS]
set -euo pipefail
berth=${1:?usage: run.sh PATH/TO/berth [RUNS]}
runs=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/berth-bench-XXXXXX)
ln -s "$(readlink -f "$berth")" "$work/berth-runtime"

# One bundle, one config for all runtimes: Berth's default spec, with /bin/true.
mkdir -p "$work/bundle/rootfs/bin"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/true"
ln -s busybox "$work/bundle/rootfs/bin/sh"
mkdir -p "$work/bundle/rootfs/"{proc,sys,dev,tmp}
"$berth" runtime spec --bundle "$work/bundle"
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["ociVersion"] = "1.0.2"  # crun 1.8.1 rejects newer spec versions
c["process"]["args"] = ["/bin/true"]
c["linux"]["cgroupsPath"] = "/berthbench/ctr"
json.dump(c, open(p, "w"))
PY

# crun 1.8.1 refuses this hybrid layout while hugetlb sits on the (otherwise empty) v2 hierarchy;
# mounting hugetlb as a v1 hierarchy fixes that. Undone on exit if we did it.
mounted_hugetlb=""
if command -v crun >/dev/null && grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null \
   && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb && mounted_hugetlb=1
fi
cleanup() {
  for d in /sys/fs/cgroup/*/berthbench; do rmdir "$d"/* "$d" 2>/dev/null || true; done
  if [ -n "$mounted_hugetlb" ]; then umount /sys/fs/cgroup/hugetlb && rmdir /sys/fs/cgroup/hugetlb; fi
  rm -rf "$work"
}
trap cleanup EXIT

runtimes=("$work/berth-runtime")
for r in crun runc; do
  if command -v "$r" >/dev/null; then runtimes+=("$(command -v "$r")"); else echo "note: $r not installed (apt-get install $r)" >&2; fi
done

lifecycle() {  # runtime id -> milliseconds
  local rt=$1 id=$2 root="$work/root-$(basename "$1")"
  local t0 t1
  t0=$(date +%s%N)
  if ! "$rt" --root "$root" create --bundle "$work/bundle" --pid-file "$work/pid" "$id" >/dev/null 2>"$work/err" </dev/null; then
    echo "$(basename "$rt") create failed: $(cat "$work/err")" >&2; exit 1
  fi
  local pid; pid=$(cat "$work/pid")
  "$rt" --root "$root" start "$id" >/dev/null
  # Wait for the process to be gone (or a zombie), the same way for every runtime.
  local n=0
  while [ -e "/proc/$pid" ] && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
    n=$((n + 1)); [ "$n" -lt 1000000 ] || { echo "$(basename "$rt"): $id never stopped" >&2; exit 1; }
  done
  "$rt" --root "$root" delete "$id" >/dev/null
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 ))
}

declare -A samples
for i in $(seq 1 "$runs"); do
  for rt in "${runtimes[@]}"; do
    us=$(lifecycle "$rt" "b$i")
    samples[$rt]+="$us "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A med
for rt in "${runtimes[@]}"; do med[$rt]=$(echo "${samples[$rt]}" | median); done
crun_med=${med[$(command -v crun 2>/dev/null || echo none)]:-}
printf '%-16s %12s %10s\n' runtime median_ms vs_crun
for rt in "${runtimes[@]}"; do
  ratio="-"
  [ -n "$crun_med" ] && ratio=$(awk -v a="${med[$rt]}" -v b="$crun_med" 'BEGIN{printf "%.2f", a/b}')
  printf '%-16s %12.2f %10s\n' "$(basename "$rt")" "$(awk -v a="${med[$rt]}" 'BEGIN{print a/1000}')" "$ratio"
done
echo "($runs runs each, interleaved; create→start→wait→delete of /bin/true)"

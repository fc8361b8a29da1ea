#!/usr/bin/env bash
# Build benchmark: the same Dockerfiles built by Berth (`berth build` against its daemon), by
# BuildKit (Debian's docker.io 20.10: dockerd and its own 20.10 CLI with DOCKER_BUILDKIT=1) and
# by buildah (Debian's, `bud --layers`), each with roots of its own, RUN steps without a network
# for all three (`--network none`). Scenarios:
#   a  cold multi-stage build of a small C program (gcc on the Debian minbase image), --no-cache
#   b  rebuild with one source file changed
#   c  no-op rebuild
#   d  a RUN --mount=type=cache step rerun with a warm cache (50 MB the step would otherwise make)
#   e  a context of 10,000 files (half of them excluded by .dockerignore): cold, then no-op
# Medians of RUNS rounds (the tools interleaved), and ratios Berth / other (< 1: Berth faster).
# Usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]
#   IMAGES_DIR holds debian.tar (`cargo xtask images debian`); the gcc image is made once with
#   mmdebstrap and kept there as debian-gcc-rootfs.tar.
set -euo pipefail
berth=$(readlink -f "${1:?usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]}")
images=$(readlink -f "${2:?usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]}")
runs=${3:-5}
work=$(mktemp -d /tmp/berth-bench-build-XXXXXX)
ns="berthbench-build-$$"
cg="berthbench-build-$$"
ip netns add "$ns"
nsenter --net="/run/netns/$ns" ip link set lo up
pids=()
mounted_hugetlb=""
umount_under() { { grep -o " $1[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m"; done; }
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  umount_under "$work"
  for d in /sys/fs/cgroup/*/"$cg"*; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  if [ -n "$mounted_hugetlb" ]; then umount /sys/fs/cgroup/hugetlb && rmdir /sys/fs/cgroup/hugetlb; fi
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
if grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb && mounted_hugetlb=1
fi

gcc_rootfs="$images/debian-gcc-rootfs.tar"
if [ ! -f "$gcc_rootfs" ]; then
  echo "making $gcc_rootfs (mmdebstrap minbase + gcc, once)" >&2
  mmdebstrap --variant=minbase --mode=root --quiet --format=tar --include=gcc,libc6-dev bookworm "$gcc_rootfs.tmp"
  mv "$gcc_rootfs.tmp" "$gcc_rootfs"
fi

echo '{}' >"$work/none.json"
nsenter --net="/run/netns/$ns" "$berth" daemon --data-root "$work/berth" --exec-root "$work/berth-exec" -H "unix://$work/berth.sock" \
  --config-file "$work/none.json" --cgroup-parent "/$cg" >"$work/berth.log" 2>&1 &
pids+=("$!")
for _ in $(seq 200); do [ -S "$work/berth.sock" ] && break; sleep 0.05; done
b() { "$berth" -H "unix://$work/berth.sock" "$@"; }
b load -q -i "$images/debian.tar" >/dev/null
b import "$gcc_rootfs" debian-gcc:bench >/dev/null
b save -o "$work/gcc.tar" debian-gcc:bench

nsenter --net="/run/netns/$ns" dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" \
  -H "unix://$work/docker.sock" --pidfile "$work/docker.pid" --iptables=false --ip6tables=false \
  --bridge=none --cgroup-parent "/$cg-docker" >"$work/dockerd.log" 2>&1 &
pids+=("$!")
dk() { DOCKER_BUILDKIT=1 /usr/bin/docker -H "unix://$work/docker.sock" "$@"; }
for _ in $(seq 300); do dk version >/dev/null 2>&1 && break; sleep 0.2; done
dk load -q -i "$images/debian.tar" >/dev/null
dk load -q -i "$work/gcc.tar" >/dev/null

bh() { buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver overlay "$@"; }
bh pull -q "docker-archive:$images/debian.tar" >/dev/null
bh pull -q "docker-archive:$work/gcc.tar" >/dev/null
bh images --format '{{.Name}}:{{.Tag}}' >&2

# The projects.
mkdir -p "$work/c/src"
cat >"$work/c/Dockerfile" <<'DF'
FROM debian-gcc:bench AS build
WORKDIR /src
COPY src/ ./
RUN gcc -O2 -c util.c -o util.o && gcc -O2 -c main.c -o main.o && gcc -o hello main.o util.o

FROM debian:bookworm
COPY --from=build /src/hello /usr/local/bin/hello
CMD ["hello"]
DF
cat >"$work/c/src/util.c" <<'C'
int add(int a, int b) { return a + b; }
C
cat >"$work/c/src/main.c" <<'C'
#include <stdio.h>
int add(int, int);
int main(void) { printf("%d\n", add(2, 3)); return 0; }
C
mkdir -p "$work/cm"
cat >"$work/cm/Dockerfile" <<'DF'
FROM debian:bookworm
COPY stamp /stamp
RUN --mount=type=cache,target=/cache sh -c 'test -f /cache/data || head -c 50000000 /dev/urandom | gzip -1 > /cache/data; sha256sum /cache/data > /sum'
DF
echo 0 >"$work/cm/stamp"
mkdir -p "$work/big"
printf 'FROM debian:bookworm\nCOPY . /ctx/\n' >"$work/big/Dockerfile"
printf 'skip/\n' >"$work/big/.dockerignore"
for d in keep skip; do
  for i in $(seq 0 49); do
    mkdir -p "$work/big/$d/$i"
    for j in $(seq 0 99); do echo "$d $i $j" >"$work/big/$d/$i/$j.txt"; done
  done
done

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
declare -A times
build() { # tool dir [flags...]
  local tool=$1 dir=$2; shift 2
  case $tool in
    berth) b build -q --network none -t bench "$@" "$dir" ;;
    buildkit) dk build -q --network none -t bench "$@" "$dir" ;;
    buildah) bh bud -q --layers --network none -t bench "$@" "$dir" ;;
  esac
}
time_it() { # name tool dir [flags]
  local name=$1 tool=$2 t; shift 2
  t=$(date +%s%N)
  build "$tool" "$@" >/dev/null 2>"$work/err" || { echo "$name $tool failed: $(tail -5 "$work/err")" >&2; exit 1; }
  times[$name.$tool]+="$(ms "$t") "
}

tools=(berth buildkit buildah)
for t in "${tools[@]}"; do build "$t" "$work/cm" >/dev/null 2>&1; build "$t" "$work/c" >/dev/null 2>&1; done # warm-up, and the cache mounts
for i in $(seq "$runs"); do
  for t in "${tools[@]}"; do
    time_it a "$t" "$work/c" --no-cache
    echo "int add(int a, int b) { return a + b; } /* round $i, $t */" >"$work/c/src/util.c"
    time_it b "$t" "$work/c"
    time_it c "$t" "$work/c"
    echo "$i$t" >"$work/cm/stamp"
    time_it d "$t" "$work/cm"
    time_it e-cold "$t" "$work/big" --no-cache
    time_it e-noop "$t" "$work/big"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '%-8s %10s %10s %10s %12s %12s\n' scenario berth_ms buildkit_ms buildah_ms vs_buildkit vs_buildah
for s in a b c d e-cold e-noop; do
  m_b=$(echo "${times[$s.berth]}" | median)
  m_k=$(echo "${times[$s.buildkit]}" | median)
  m_h=$(echo "${times[$s.buildah]}" | median)
  printf '%-8s %10s %10s %10s %12.2f %12.2f\n' "$s" "$m_b" "$m_k" "$m_h" "$(echo "$m_b / $m_k" | bc -l)" "$(echo "$m_b / $m_h" | bc -l)"
done

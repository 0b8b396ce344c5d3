#!/bin/bash
# Benchmark: a 200 MB, 5-layer image of incompressible data (three gzip layers, two zstd
# layers) pushed and pulled end to end over loopback, all in one run:
#   berth daemon  -> berth registry serve   (htpasswd auth)
#   dockerd       -> distribution 2.8       (Debian's docker.io and docker-registry)
#   skopeo        -> distribution 2.8       (skopeo does not unpack: its pull ends in a dir)
# Pulls by berth and dockerd include unpacking. Every push goes to a fresh, empty registry, so
# every blob is uploaded. Then 20 concurrent pulls (every blob of the image, by curl) from
# each server with the server's peak anonymous memory for one pull and for 20, and one 1 GiB
# blob GET from each.
#
# usage: benches/registry.sh [RUNS=3]   (as root; builds berth --release)
#        BERTH_BASELINE=/path/to/older/berth benches/registry.sh   (its daemon and client are
#        measured too, against the same berth registry, for a before/after table)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
sh scripts/install-deps.sh bench >/dev/null
command -v zstd >/dev/null || { apt-get install -y -qq zstd >/dev/null; }
command -v curl >/dev/null || { apt-get install -y -qq curl >/dev/null; }
cargo build --release -q
berth=$PWD/target/x86_64-unknown-linux-gnu/release/berth
work=$(mktemp -d /tmp/berth-bench-XXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "benches/registry.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR

now_ms() { date +%s%N | cut -b1-16; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# time_cmd FILE CMD...: appends CMD's wall time in ms to FILE (CMD must succeed).
time_cmd() {
  local out=$1; shift
  local t0 t1
  t0=$(now_ms)
  "$@" >"$work/last.log" 2>&1 || { echo "failed: $*" >&2; cat "$work/last.log" >&2; return 1; }
  t1=$(now_ms)
  echo "scale=1; ($t1 - $t0) / 1000" | bc >> "$out"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
peak_rss_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
# sample_anon PID FILE: records PID's anonymous resident memory (kB) every 20 ms until killed
# (file pages of served blobs are page cache, shared and reclaimable, so they are not counted).
sample_anon() { while :; do awk '/RssAnon/ {print $2}' "/proc/$1/status" >> "$2" 2>/dev/null || return 0; sleep 0.02; done; }
max_mb() { sort -n "$1" | tail -1 | awk '{printf "%.0f", $1/1024}'; }

# --- the images: OCI archives of 5 x 40 MiB of random bytes; "mixed" has layers 1-3 gzip and
# 4-5 zstd, "gzip" has all five gzip (Debian's dockerd 20.10 cannot unpack zstd layers, so the
# three-way comparison uses it, and berth is measured with both).
make_image() { # DIR ZSTD_LAYERS
python3 - "$1" "$2" <<'PY'
import gzip, hashlib, io, json, os, subprocess, sys, tarfile
out = sys.argv[1]
zstd_layers = int(sys.argv[2])
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, d), "wb").write(data)
    return "sha256:" + d
layers, diff_ids = [], []
for i in range(5):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        payload = os.urandom(40 << 20)
        info = tarfile.TarInfo(f"layer{i}/data.bin"); info.size = len(payload); info.mtime = 0
        t.addfile(info, io.BytesIO(payload))
    raw = buf.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    if i < 5 - zstd_layers:
        comp, mt = gzip.compress(raw, compresslevel=1), "application/vnd.oci.image.layer.v1.tar+gzip"
    else:
        comp = subprocess.run(["zstd", "-1", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
        mt = "application/vnd.oci.image.layer.v1.tar+zstd"
    layers.append({"mediaType": mt, "digest": put(comp), "size": len(comp)})
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
    "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
    "layers": layers}).encode()
md = put(manifest)
json.dump({"imageLayoutVersion": "1.0.0"}, open(os.path.join(out, "oci-layout"), "w"))
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": md, "size": len(manifest), "annotations": {"io.containerd.image.name": "bench/img:1",
    "org.opencontainers.image.ref.name": "1"}}]}, open(os.path.join(out, "index.json"), "w"))
PY
tar -C "$1" -cf "$1.tar" .
}
make_image "$work/oci" 0
make_image "$work/oci-mixed" 2
image_mb=$(du -sm "$work/oci/blobs" | cut -f1)

htpasswd -bBc "$work/htpasswd" bench bench 2>/dev/null
auth_json=$(printf '{"auths":{}}')
mkdir -p "$work/dc"
export DOCKER_CONFIG="$work/dc"
echo "$auth_json" > "$DOCKER_CONFIG/config.json"

# berth_registry ROOT: starts `berth registry serve` on a fresh port; sets breg and breg_pid.
berth_registry() {
  breg_port=$(free_port)
  "$berth" registry serve --addr "127.0.0.1:$breg_port" --root "$1" --htpasswd "$work/htpasswd" \
    --gc-interval 0 --log-level warn 2>>"$work/breg.log" &
  breg_pid=$!
  pids+=($breg_pid)
  wait_port "$breg_port"
  breg=127.0.0.1:$breg_port
  # The daemon-side login (config.json): berth and docker share it.
  local b64
  b64=$(printf 'bench:bench' | base64)
  python3 - "$DOCKER_CONFIG/config.json" "$breg" "$b64" <<'PY'
import json, sys
p, host, b = sys.argv[1:]
c = json.load(open(p)); c.setdefault("auths", {})[host] = {"auth": b}; json.dump(c, open(p, "w"))
PY
}
# distribution ROOT: starts Debian's docker-registry; sets dreg and dreg_pid.
distribution() {
  dreg_port=$(free_port)
  cat > "$1.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $1}}
http: {addr: 127.0.0.1:$dreg_port}
YML
  docker-registry serve "$1.yml" >>"$work/dreg.log" 2>&1 &
  dreg_pid=$!
  pids+=($dreg_pid)
  wait_port "$dreg_port"
  dreg=127.0.0.1:$dreg_port
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# --- berth daemon -> berth registry
# start_daemon BIN NAME: BIN's daemon on a root, socket and bridge named after NAME; exports
# BERTH_HOST and sets daemon_pid.
start_daemon() {
  export BERTH_HOST="unix://$work/$2.sock"
  "$1" daemon --root "$work/$2-root" --host "$BERTH_HOST" --bridge "b$2$$" \
    --dns-listen none --log-level warn 2>"$work/$2.log" &
  daemon_pid=$!
  pids+=($daemon_pid)
  for _ in $(seq 100); do [ -S "$work/$2.sock" ] && break; sleep 0.05; done
}
start_daemon "$berth" b
bd_pid=$daemon_pid
# berth_round PREFIX ARCHIVE: pushes (each to a fresh registry), then pulls from the last one
# (the image leaves the store, layers too, before each pull).
# berth_round PREFIX ARCHIVE [BIN]: BIN (default: this build) is the daemon's binary and the
# client; the registry is always this build's.
berth_round() {
  local bin=${3:-$berth}
  "$bin" load -q -i "$2" >/dev/null
  for i in $(seq "$runs"); do
    berth_registry "$work/breg-$1-push-$i"
    "$bin" tag bench/img:1 "$breg/bench/img:1"
    time_cmd "$work/$1-push" "$bin" push "$breg/bench/img:1"
    "$bin" rmi "$breg/bench/img:1" >/dev/null
    [ "$i" = "$runs" ] || stop "$breg_pid"
  done
  "$bin" rmi bench/img:1 >/dev/null
  for i in $(seq "$runs"); do
    time_cmd "$work/$1-pull" "$bin" pull "$breg/bench/img:1"
    "$bin" rmi "$breg/bench/img:1" >/dev/null
  done
}
berth_round bm "$work/oci-mixed.tar"
stop "$breg_pid"
berth_round b "$work/oci.tar"
b_daemon_rss=$(peak_rss_mb "$bd_pid")
if [ -n "${BERTH_BASELINE:-}" ]; then
  # The older build's daemon on a root, socket and bridge of its own.
  stop "$breg_pid"
  ours_host=$BERTH_HOST
  start_daemon "$BERTH_BASELINE" base
  base_pid=$daemon_pid
  berth_round basem "$work/oci-mixed.tar" "$BERTH_BASELINE"
  stop "$breg_pid"
  berth_round base "$work/oci.tar" "$BERTH_BASELINE"
  stop "$base_pid"
  export BERTH_HOST=$ours_host
fi
berth_src=$breg
berth_src_pid=$breg_pid

# --- dockerd -> distribution, and skopeo -> distribution
have_docker=0
distribution "$work/dreg-seed"
seed=$dreg
seed_pid=$dreg_pid
skopeo copy -q --dest-tls-verify=false "oci-archive:$work/oci.tar" "docker://$seed/bench/img:1" >/dev/null
for i in $(seq "$runs"); do
  distribution "$work/dreg-skopeo-$i"
  time_cmd "$work/s-push" skopeo copy -q --dest-tls-verify=false "oci-archive:$work/oci.tar" "docker://$dreg/bench/img:1"
  stop "$dreg_pid"
  rm -rf "$work/s-dir"
  time_cmd "$work/s-pull" skopeo copy -q --src-tls-verify=false "docker://$seed/bench/img:1" "dir:$work/s-dir"
done
if command -v dockerd >/dev/null; then
  dockerd --data-root "$work/docker-root" --exec-root "$work/docker-exec" \
    --host "unix://$work/docker.sock" --pidfile "$work/docker.pid" --bridge none \
    --iptables=false --ip6tables=false --containerd-namespace berth-bench \
    --containerd-plugins-namespace berth-bench-plugins >"$work/dockerd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do [ -S "$work/docker.sock" ] && break; sleep 0.1; done
  if [ -S "$work/docker.sock" ]; then
    have_docker=1
    D=(/usr/local/bin/docker -H "unix://$work/docker.sock")
    for i in $(seq "$runs"); do
      time_cmd "$work/d-pull" "${D[@]}" pull "$seed/bench/img:1" || { have_docker=0; break; }
      "${D[@]}" rmi "$seed/bench/img:1" >/dev/null
    done
    if [ "$have_docker" = 1 ]; then
      "${D[@]}" pull -q "$seed/bench/img:1" >/dev/null
      for i in $(seq "$runs"); do
        distribution "$work/dreg-docker-$i"
        "${D[@]}" tag "$seed/bench/img:1" "$dreg/bench/img:1"
        time_cmd "$work/d-push" "${D[@]}" push "$dreg/bench/img:1"
        "${D[@]}" rmi "$dreg/bench/img:1" >/dev/null
        stop "$dreg_pid"
      done
    fi
  fi
fi

echo "medians of $runs runs (ms, wall time through each client); image: 5 gzip layers, ${image_mb} MB"
printf '%-34s %10s %10s\n' "" push pull
row() { # LABEL PREFIX
  local push=- pull=-
  [ -s "$work/$2-push" ] && push=$(median < "$work/$2-push")
  [ -s "$work/$2-pull" ] && pull=$(median < "$work/$2-pull")
  printf '%-34s %10s %10s\n' "$1" "$push" "$pull"
}
row "berth -> berth registry" b
[ "$have_docker" = 1 ] && row "dockerd -> distribution" d
row "skopeo -> distribution (no unpack)" s
row "berth, 3 gzip + 2 zstd layers" bm
if [ -n "${BERTH_BASELINE:-}" ]; then
  row "baseline berth -> berth registry" base
  row "baseline berth, 3 gzip + 2 zstd" basem
fi

# --- 20 concurrent pulls of every blob of the image, from each server, and one 1 GiB GET
# The image's config and layers (the manifest is not a blob to distribution).
blobs=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/blobs/sha256/"+json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"][7:])); print(" ".join(d["digest"][7:] for d in [m["config"]]+m["layers"]))' "$work/oci")
fetch_all() { # BASE CURLOPTS...
  local base=$1; shift
  for b in $blobs; do
    curl -sSf "$@" -o /dev/null "$base/v2/bench/img/blobs/sha256:$b" || { echo "GET $base/v2/bench/img/blobs/sha256:$b failed" >&2; return 1; }
  done
}
concurrent() { # FILE BASE CURLOPTS...
  local out=$1 base=$2; shift 2
  local t0 t1
  local fetchers=()
  t0=$(now_ms)
  for _ in $(seq 20); do fetch_all "$base" "$@" & fetchers+=($!); done
  for p in "${fetchers[@]}"; do wait "$p" || echo "a concurrent pull failed" >&2; done
  t1=$(now_ms)
  echo "scale=1; ($t1 - $t0) / 1000" | bc >> "$out"
}
sample_anon "$berth_src_pid" "$work/b-anon-1" & sampler=$!
fetch_all "http://$berth_src" -u bench:bench
kill "$sampler"; wait "$sampler" 2>/dev/null || true
sample_anon "$berth_src_pid" "$work/b-anon-20" & sampler=$!
for i in $(seq "$runs"); do concurrent "$work/b-conc" "http://$berth_src" -u bench:bench; done
kill "$sampler"; wait "$sampler" 2>/dev/null || true
b_reg_rss="$(max_mb "$work/b-anon-1") / $(max_mb "$work/b-anon-20")"
sample_anon "$seed_pid" "$work/d-anon-1" & sampler=$!
fetch_all "http://$seed"
kill "$sampler"; wait "$sampler" 2>/dev/null || true
sample_anon "$seed_pid" "$work/d-anon-20" & sampler=$!
for i in $(seq "$runs"); do concurrent "$work/d-conc" "http://$seed"; done
kill "$sampler"; wait "$sampler" 2>/dev/null || true
d_reg_rss="$(max_mb "$work/d-anon-1") / $(max_mb "$work/d-anon-20")"

head -c $((1 << 30)) /dev/urandom > "$work/big.bin"
big=sha256:$(sha256sum "$work/big.bin" | cut -d' ' -f1)
# (-T appends the file name to a URL ending in /, hence `uploads` without one.)
curl -sf -u bench:bench -X POST -T "$work/big.bin" -H 'Content-Type: application/octet-stream' \
  "http://$berth_src/v2/bench/big/blobs/uploads?digest=$big" -o /dev/null
loc=$(curl -sf -X POST -D - -o /dev/null "http://$seed/v2/bench/big/blobs/uploads/" | awk -F': ' 'tolower($1)=="location" {print $2}' | tr -d '\r')
sep='?'; case "$loc" in *\?*) sep='&';; esac
curl -sf -X PUT -T "$work/big.bin" -H 'Content-Type: application/octet-stream' "$loc${sep}digest=$big" -o /dev/null
rm -f "$work/big.bin"
for i in $(seq "$runs"); do
  time_cmd "$work/b-big" curl -sf -u bench:bench -o /dev/null "http://$berth_src/v2/bench/big/blobs/$big"
  time_cmd "$work/d-big" curl -sf -o /dev/null "http://$seed/v2/bench/big/blobs/$big"
done

echo
printf '%-34s %12s %18s %14s\n' "" "20 pulls ms" "anon MB (1 / 20)" "1 GiB GET ms"
printf '%-34s %12s %18s %14s\n' "berth registry" "$(median < "$work/b-conc")" "$b_reg_rss" "$(median < "$work/b-big")"
printf '%-34s %12s %18s %14s\n' "distribution 2.8" "$(median < "$work/d-conc")" "$d_reg_rss" "$(median < "$work/d-big")"
echo
echo "berth daemon peak RSS over the pushes and pulls: ${b_daemon_rss} MB"
exit 0

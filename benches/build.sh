#!/bin/bash
# Benchmark: building a 10-step Dockerfile (three RUNs, a COPY of a 50 MB tree of small and
# large files, ENV, WORKDIR) cold (--no-cache), fully cached (nothing changed), and with one
# copied file changed; Berth vs Debian's dockerd with its classic builder (docker v28 client,
# DOCKER_BUILDKIT=0) and with BuildKit (Debian's docker 20.10 client, DOCKER_BUILDKIT=1), and
# podman build, all in one run, every RUN with --network none.
#
# usage: benches/build.sh [RUNS=5]   (as root; builds berth --release)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
sh scripts/install-deps.sh bench >/dev/null
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
sh scripts/busybox-rootfs.sh "$work/busybox.tar"

# The context: 2000 small files (4 KiB) and 4 large ones (10 MiB), 48 MiB in all.
ctx=$work/ctx
mkdir -p "$ctx/tree/small" "$ctx/tree/large"
for i in $(seq 2000); do head -c 4096 /dev/urandom > "$ctx/tree/small/f$i"; done
for i in 1 2 3 4; do head -c 10485760 /dev/urandom > "$ctx/tree/large/l$i"; done
echo small > "$ctx/small.txt"
cat > "$ctx/Dockerfile" <<'EOF'
FROM busybox
ENV APP=/app
WORKDIR /app
RUN echo one > /one
COPY tree/ /app/tree/
RUN find /app/tree -type f | wc -l > /count
ENV MODE=prod
RUN echo two > /two
COPY small.txt /app/small.txt
CMD ["sh"]
EOF

now_ms() { date +%s%N | cut -b1-16; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
time_cmd() {
  local out=$1; shift
  local t0 t1
  t0=$(now_ms); "$@" >/dev/null 2>&1; t1=$(now_ms)
  echo "scale=3; ($t1 - $t0) / 1000" | bc >> "$out"
}
# scenario PREFIX BUILD...: cold, cached and one-file-changed timings of BUILD (a command
# that builds $ctx and accepts --no-cache appended after it).
scenario() {
  local p=$1; shift
  "$@" "$ctx" >/dev/null 2>&1 || { echo "$p: build failed" >&2; "$@" "$ctx" >&2 || true; return 1; }
  for _ in $(seq "$runs"); do time_cmd "$work/$p-cold" "$@" --no-cache "$ctx"; done
  "$@" "$ctx" >/dev/null 2>&1
  for _ in $(seq "$runs"); do time_cmd "$work/$p-cached" "$@" "$ctx"; done
  for i in $(seq "$runs"); do
    echo "edit $p $i $RANDOM" > "$ctx/tree/small/f7"
    time_cmd "$work/$p-changed" "$@" "$ctx"
  done
}

# --- berth
export BERTH_HOST="unix://$work/b.sock"
"$berth" daemon --root "$work/b-root" --host "$BERTH_HOST" --bridge "bbb$$" \
  --dns-listen none --log-level warn 2>"$work/b.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/b.sock" ] && break; sleep 0.05; done
"$berth" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
scenario b "$berth" build -q --network none -t bench
unset BERTH_HOST

# --- podman (private storage, cgroupfs, runc; see container-run.sh)
cat > "$work/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
CONF
export CONTAINERS_CONF="$work/containers.conf"
P=(podman --root "$work/podman-root" --runroot "$work/podman-run" --events-backend none --cgroup-manager cgroupfs --runtime runc)
"${P[@]}" import -q --change 'CMD ["sh"]' "$work/busybox.tar" docker.io/library/busybox:latest >/dev/null
have_podman=1
scenario p "${P[@]}" build -q --network none --layers -t bench || have_podman=0

# --- Docker: Debian's dockerd on a private root; classic builder through the v28 client,
# BuildKit through Debian's own 20.10 client.
have_docker=0
if command -v dockerd >/dev/null; then
  dockerd --data-root "$work/docker-root" --exec-root "$work/docker-exec" \
    --host "unix://$work/docker.sock" --pidfile "$work/docker.pid" --bridge none \
    --iptables=false --ip6tables=false --containerd-namespace berth-bench \
    --containerd-plugins-namespace berth-bench-plugins >"$work/dockerd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do [ -S "$work/docker.sock" ] && break; sleep 0.1; done
  if [ -S "$work/docker.sock" ]; then
    have_docker=1
    mkdir -p "$work/docker-config"
    export DOCKER_CONFIG="$work/docker-config"
    classic=(env DOCKER_BUILDKIT=0 /usr/local/bin/docker -H "unix://$work/docker.sock")
    buildkit=(env DOCKER_BUILDKIT=1 /usr/bin/docker -H "unix://$work/docker.sock")
    "${classic[@]}" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
    scenario dc "${classic[@]}" build -q --network none -t bench || have_docker=0
    have_buildkit=1
    scenario dk "${buildkit[@]}" build -q --network none -t bench || have_buildkit=0
  fi
fi

echo "medians of $runs builds (wall time through each CLI), 10-step Dockerfile, 48 MiB COPY"
printf '%-22s %10s %10s %10s\n' "" cold cached changed
row() {
  [ -s "$work/$2-cold" ] || return 0
  printf '%-22s %10s %10s %10s\n' "$1" "$(median < "$work/$2-cold")" \
    "$(median < "$work/$2-cached")" "$(median < "$work/$2-changed")"
}
row "berth (ms)" b
[ "$have_docker" = 1 ] && row "docker classic (ms)" dc
[ "$have_docker" = 1 ] && [ "${have_buildkit:-0}" = 1 ] && row "docker buildkit (ms)" dk
[ "$have_podman" = 1 ] && row "podman (ms)" p
exit 0

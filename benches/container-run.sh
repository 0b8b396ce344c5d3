#!/bin/bash
# Benchmark: `run --rm busybox true` end to end through the CLI and the daemon (create,
# attach, start, wait, remove), Berth vs podman vs Docker's dockerd, in one run, all with
# `--network none` (bridges are the networking issue's). Also: `run -d` + `rm -f`, `exec`,
# and memory: the daemon at rest and each container's supervisor (Berth's shim, podman's
# conmon, Docker's containerd-shim).
#
# usage: benches/container-run.sh [RUNS=20]   (as root; builds berth --release)
#        BERTH_BASELINE=/path/to/older/berth benches/container-run.sh   (that build beside it)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
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

now_ms() { date +%s%N | cut -b1-16; }  # tenths of microseconds trimmed: microseconds
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# time_cmd FILE CMD...: appends the wall time in ms (3 decimals) of CMD to FILE.
time_cmd() {
  local out=$1; shift
  local t0 t1
  t0=$(now_ms); "$@" >/dev/null; t1=$(now_ms)
  echo "scale=3; ($t1 - $t0) / 1000" | bc >> "$out"
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
report() { printf '%-34s %8s ms\n' "$1" "$(median < "$2")"; }

# --- berth (and, with BERTH_BASELINE=/path/to/an/older/berth, that build beside it)
bench_berth() {  # bench_berth BINARY PREFIX
  local bin=$1 p=$2
  export BERTH_HOST="unix://$work/$p.sock"
  "$bin" daemon --root "$work/$p-root" --host "$BERTH_HOST" --bridge "bb$p$$" \
    --dns-listen none --log-level warn 2>"$work/$p.log" &
  pids+=($!); local daemon_pid=$!
  for _ in $(seq 100); do [ -S "$work/$p.sock" ] && break; sleep 0.05; done
  "$bin" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
  "$bin" run --rm --network none busybox true  # warm-up
  for _ in $(seq "$runs"); do time_cmd "$work/$p-run" "$bin" run --rm --network none busybox true; done
  for _ in $(seq "$runs"); do
    time_cmd "$work/$p-detach" "$bin" run -d --name bench-d --network none busybox sleep 60
    time_cmd "$work/$p-exec" "$bin" exec bench-d true
    shim=$(cat "$work"/$p-root/shims/*/shim.pid)
    echo "$(rss_kb "$shim")" >> "$work/$p-shim"
    time_cmd "$work/$p-rm" "$bin" rm -f bench-d
  done
  echo "$(rss_kb "$daemon_pid")" > "$work/$p-daemon"
  echo "$(awk '/Threads/ {print $2}' "/proc/$daemon_pid/status")" > "$work/$p-threads"
  unset BERTH_HOST
}
bench_berth "$berth" b
if [ -n "${BERTH_BASELINE:-}" ]; then bench_berth "$BERTH_BASELINE" base; fi

# --- podman (private storage and config, cgroupfs, runc: crun refuses this hybrid cgroup
# layout; default ulimits this machine can grant without CAP_SYS_RESOURCE)
cat > "$work/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
CONF
export CONTAINERS_CONF="$work/containers.conf"
P=(podman --root "$work/podman-root" --runroot "$work/podman-run" --events-backend none --cgroup-manager cgroupfs --runtime runc)
"${P[@]}" import -q --change 'CMD ["sh"]' "$work/busybox.tar" localhost/busybox:latest >/dev/null
"${P[@]}" run --rm --network none localhost/busybox true
for _ in $(seq "$runs"); do time_cmd "$work/p-run" "${P[@]}" run --rm --network none localhost/busybox true; done
for _ in $(seq "$runs"); do
  time_cmd "$work/p-detach" "${P[@]}" run -d --name bench-d --network none localhost/busybox sleep 60
  time_cmd "$work/p-exec" "${P[@]}" exec bench-d true
  conmon=$(pgrep -n -x conmon || true)
  [ -n "$conmon" ] && rss_kb "$conmon" >> "$work/p-shim"
  time_cmd "$work/p-rm" "${P[@]}" rm -f -t 0 bench-d
done

# --- Docker (Debian's dockerd on a private root and socket; no bridge, no iptables)
have_docker=0
if command -v dockerd >/dev/null && command -v docker >/dev/null; then
  dockerd --data-root "$work/docker-root" --exec-root "$work/docker-exec" \
    --host "unix://$work/docker.sock" --pidfile "$work/docker.pid" --bridge none \
    --iptables=false --ip6tables=false --containerd-namespace berth-bench \
    --containerd-plugins-namespace berth-bench-plugins >"$work/dockerd.log" 2>&1 &
  pids+=($!); dockerd_pid=$!
  for _ in $(seq 200); do [ -S "$work/docker.sock" ] && break; sleep 0.1; done
  if [ -S "$work/docker.sock" ]; then
    have_docker=1
    D=(docker -H "unix://$work/docker.sock")
    "${D[@]}" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
    "${D[@]}" run --rm --network none busybox true
    for _ in $(seq "$runs"); do time_cmd "$work/d-run" "${D[@]}" run --rm --network none busybox true; done
    for _ in $(seq "$runs"); do
      time_cmd "$work/d-detach" "${D[@]}" run -d --name bench-d --network none busybox sleep 60
      time_cmd "$work/d-exec" "${D[@]}" exec bench-d true
      shim=$(pgrep -n -f containerd-shim || true)
      [ -n "$shim" ] && echo "$(rss_kb "$shim")" >> "$work/d-shim"
      time_cmd "$work/d-rm" "${D[@]}" rm -f bench-d
    done
    echo "$(rss_kb "$dockerd_pid")" > "$work/d-daemon"
  fi
fi

echo "medians of $runs runs (wall time through each CLI)"
for what in run detach exec rm; do
  report "berth  $what" "$work/b-$what"
  [ -n "${BERTH_BASELINE:-}" ] && report "baseline $what" "$work/base-$what"
  report "podman $what" "$work/p-$what"
  [ "$have_docker" = 1 ] && report "docker $what" "$work/d-$what"
done
printf '%-34s %8s kB\n' "berth daemon RSS (after runs)" "$(cat "$work/b-daemon")"
printf '%-34s %8s\n' "berth daemon threads (after runs)" "$(cat "$work/b-threads")"
if [ -n "${BERTH_BASELINE:-}" ]; then
  printf '%-34s %8s kB\n' "baseline daemon RSS (after runs)" "$(cat "$work/base-daemon")"
  printf '%-34s %8s\n' "baseline daemon threads" "$(cat "$work/base-threads")"
  printf '%-34s %8s kB\n' "baseline shim RSS per container" "$(median < "$work/base-shim")"
fi
[ "$have_docker" = 1 ] && printf '%-34s %8s kB\n' "dockerd RSS (after runs)" "$(cat "$work/d-daemon")"
printf '%-34s %8s kB\n' "berth shim RSS per container" "$(median < "$work/b-shim")"
[ -s "$work/p-shim" ] && printf '%-34s %8s kB\n' "podman conmon RSS per container" "$(median < "$work/p-shim")"
[ -s "$work/d-shim" ] && printf '%-34s %8s kB\n' "containerd-shim RSS per container" "$(median < "$work/d-shim")"
exit 0

#!/bin/bash
# Benchmark: `save` and `load` of a ~200 MB image, Berth vs podman, in one run.
# Prints median wall time and peak memory (berth: the daemon's VmHWM, reset before each
# operation via /proc/PID/clear_refs, plus the CLI's own peak; podman: its process peak).
#
# usage: benches/save-load.sh [SIZE_MB=200] [RUNS=5]   (as root; builds berth --release)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-200}
runs=${2:-5}
sh scripts/install-deps.sh bench >/dev/null
cargo build --release -q
berth=$PWD/target/x86_64-unknown-linux-gnu/release/berth
work=$(mktemp -d /tmp/berth-bench-XXXX)
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The image: busybox plus $size MB of incompressible data in 8 files.
sh scripts/busybox-rootfs.sh "$work/base.tar"
mkdir -p "$work/rootfs/data"
tar -C "$work/rootfs" -xf "$work/base.tar"
for i in 1 2 3 4 5 6 7 8; do
  head -c $((size * 1024 * 1024 / 8)) /dev/urandom > "$work/rootfs/data/blob$i"
done
tar -C "$work/rootfs" -cf "$work/image.tar" .
rm -rf "$work/rootfs"

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# --- berth
export BERTH_HOST="unix://$work/berth.sock"
"$berth" daemon --root "$work/berth-root" --host "$BERTH_HOST" --log-level warn 2>"$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$work/berth.sock" ] && break; sleep 0.05; done
"$berth" import "$work/image.tar" bench:1 >/dev/null
idle_kb=$(hwm_kb "$daemon_pid")
: > "$work/b-save"; : > "$work/b-load"; : > "$work/b-save-mem"; : > "$work/b-load-mem"
for _ in $(seq "$runs"); do
  rm -f "$work/b.tar"; sync
  echo 5 > "/proc/$daemon_pid/clear_refs"
  t0=$(now_ms); /usr/bin/time -f %M -o "$work/cli-mem" "$berth" save -o "$work/b.tar" bench:1; t1=$(now_ms)
  echo $((t1 - t0)) >> "$work/b-save"
  echo "$(hwm_kb "$daemon_pid") $(cat "$work/cli-mem")" >> "$work/b-save-mem"
  "$berth" rmi bench:1 >/dev/null
  echo 5 > "/proc/$daemon_pid/clear_refs"
  t0=$(now_ms); /usr/bin/time -f %M -o "$work/cli-mem" "$berth" load -q -i "$work/b.tar" >/dev/null; t1=$(now_ms)
  echo $((t1 - t0)) >> "$work/b-load"
  echo "$(hwm_kb "$daemon_pid") $(cat "$work/cli-mem")" >> "$work/b-load-mem"
done

# --- podman (private storage; overlay like berth)
P=(podman --root "$work/podman-root" --runroot "$work/podman-run" --events-backend none --cgroup-manager cgroupfs)
"${P[@]}" import -q "$work/image.tar" localhost/bench:1 >/dev/null
: > "$work/p-save"; : > "$work/p-load"; : > "$work/p-save-mem"; : > "$work/p-load-mem"
for _ in $(seq "$runs"); do
  rm -f "$work/p.tar"; sync
  t0=$(now_ms); /usr/bin/time -f %M -o "$work/pm" "${P[@]}" save -q -o "$work/p.tar" localhost/bench:1; t1=$(now_ms)
  echo $((t1 - t0)) >> "$work/p-save"; cat "$work/pm" >> "$work/p-save-mem"
  "${P[@]}" rmi -f localhost/bench:1 >/dev/null
  t0=$(now_ms); /usr/bin/time -f %M -o "$work/pm" "${P[@]}" load -q -i "$work/p.tar" >/dev/null; t1=$(now_ms)
  echo $((t1 - t0)) >> "$work/p-load"; cat "$work/pm" >> "$work/p-load-mem"
done

bs=$(median < "$work/b-save"); bl=$(median < "$work/b-load")
ps_=$(median < "$work/p-save"); pl=$(median < "$work/p-load")
echo "image: $(du -m "$work/image.tar" | cut -f1) MB uncompressed, $runs runs, medians"
printf '%-8s %10s %10s %28s %28s\n' engine "save ms" "load ms" "save peak KB (daemon cli)" "load peak KB (daemon cli)"
printf '%-8s %10s %10s %28s %28s\n' berth "$bs" "$bl" "$(sort -n -k1 "$work/b-save-mem" | tail -1)" "$(sort -n -k1 "$work/b-load-mem" | tail -1)"
printf '%-8s %10s %10s %28s %28s\n' podman "$ps_" "$pl" "$(sort -n "$work/p-save-mem" | tail -1)" "$(sort -n "$work/p-load-mem" | tail -1)"
echo "ratios (podman/berth): save $(awk "BEGIN{printf \"%.2f\", $ps_/$bs}")x, load $(awk "BEGIN{printf \"%.2f\", $pl/$bl}")x"
echo "berth daemon peak after import: ${idle_kb} KB"

#!/bin/bash
# Benchmark: the daemon's memory under a sustained mixed API load. CLIENTS clients each loop
# over `run --rm`, `run -d` + `exec` + `logs` + `rm -f`, `ps -a`, `inspect`, `images` and a
# `wait` that never ends (cut off by its client) for ROUND seconds; that is repeated ROUNDS
# times, with the daemon's resident memory, threads and descriptors read after each round and
# after a pause. Goal (issue 11): flat, not growing round after round.
#
# usage: benches/api-load.sh [CLIENTS=20] [ROUND=30] [ROUNDS=6]   (as root; builds --release)
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-20}
round=${2:-30}
rounds=${3:-6}
sh scripts/install-deps.sh bench >/dev/null
cargo build --release -q
berth=$PWD/target/x86_64-unknown-linux-gnu/release/berth
work=$(mktemp -d /tmp/berth-load-XXXX)
pids=()
cleanup() {
  [ -S "$work/berth.sock" ] && "$berth" rm -f $("$berth" ps -aq) >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
sh scripts/busybox-rootfs.sh "$work/busybox.tar"
export BERTH_HOST="unix://$work/berth.sock"
"$berth" daemon --root "$work/root" --host "$BERTH_HOST" --bridge "bl$$" \
  --dns-listen none --log-level warn 2>"$work/daemon.log" &
pids+=($!); dpid=$!
for _ in $(seq 100); do [ -S "$work/berth.sock" ] && break; sleep 0.05; done
"$berth" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
"$berth" run -d --name anchor --network none busybox sleep 100000 >/dev/null

client() {  # client N SECONDS
  local n=$1 end=$(( $(date +%s) + $2 )) i=0
  while [ "$(date +%s)" -lt "$end" ]; do
    i=$((i + 1))
    case $((i % 6)) in
      0) "$berth" run --rm --network none busybox true ;;
      1) "$berth" run -d --name "c$n-$i" --network none busybox sh -c 'echo hi; sleep 100' >/dev/null
         "$berth" exec "c$n-$i" true
         "$berth" logs "c$n-$i" >/dev/null
         "$berth" rm -f "c$n-$i" >/dev/null ;;
      2) "$berth" ps -a >/dev/null ;;
      3) "$berth" inspect anchor >/dev/null ;;
      4) "$berth" images >/dev/null ;;
      5) timeout 0.5 curl -s --unix-socket "$work/berth.sock" -X POST http://x/containers/anchor/wait >/dev/null || true ;;
    esac
  done
}

status() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
printf '%-10s %12s %10s %12s\n' "round" "RSS (kB)" "threads" "descriptors"
printf '%-10s %12s %10s %12s\n' "start" "$(status $dpid VmRSS)" "$(status $dpid Threads)" "$(ls /proc/$dpid/fd | wc -l)"
for r in $(seq "$rounds"); do
  for c in $(seq "$clients"); do client "$c" "$round" >/dev/null 2>&1 & done
  wait $(jobs -p | grep -v "^$dpid$") 2>/dev/null || true
  printf '%-10s %12s %10s %12s\n' "$r" "$(status $dpid VmRSS)" "$(status $dpid Threads)" "$(ls /proc/$dpid/fd | wc -l)"
done
sleep 10
printf '%-10s %12s %10s %12s\n' "+10 s" "$(status $dpid VmRSS)" "$(status $dpid Threads)" "$(ls /proc/$dpid/fd | wc -l)"

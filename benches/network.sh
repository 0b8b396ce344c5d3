#!/bin/bash
# Benchmark: what networking costs. (1) `run --rm busybox true` with the default bridge network
# vs `--network none` (the set-up cost: namespace, veth, address, DNS entry); (2) throughput of
# busybox httpd through a published port (127.0.0.1:PORT, nftables DNAT) vs the container's
# address directly, with wrk; and, where Debian's dockerd starts, the same two figures for
# Docker (its own bridge made here, userland proxy for the published port).
#
# usage: benches/network.sh [RUNS=20] [WRK_SECONDS=2] [ROUNDS=10]   (as root; builds berth --release)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
secs=${2:-2}
rounds=${3:-10}
sh scripts/install-deps.sh bench >/dev/null
cargo build --release -q
berth=$PWD/target/x86_64-unknown-linux-gnu/release/berth
work=$(mktemp -d /tmp/berth-bench-XXXX)
bridge=bb$(printf '%04x' $$)
dbridge=bd$(printf '%04x' $$)
pids=()
cleanup() {
  "$berth" rm -f bench-srv >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  ip link del "$dbridge" 2>/dev/null || true
  nft delete table ip "berth_$bridge" 2>/dev/null || true
  nft delete table ip "berth_${bridge}_user" 2>/dev/null || true
  rm -rf "$work"
  [ -n "${tw_reuse:-}" ] && sysctl -qw net.ipv4.tcp_tw_reuse="$tw_reuse"
}
trap cleanup EXIT
tw_reuse=$(sysctl -n net.ipv4.tcp_tw_reuse)
sysctl -qw net.ipv4.tcp_tw_reuse=1
sh scripts/busybox-rootfs.sh "$work/busybox.tar"
now_us() { date +%s%N | cut -b1-16; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
time_cmd() {
  local out=$1; shift
  local t0 t1
  t0=$(now_us); "$@" >/dev/null; t1=$(now_us)
  echo "scale=3; ($t1 - $t0) / 1000" | bc >> "$out"
}
rps() { wrk -t2 -c16 -d"${secs}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
# Throughput, direct vs published, on ONE container serving both (its address, and
# 127.0.0.1:PORT through the engine's port publishing), in ROUNDS short rounds that alternate
# direct/published, after a warm-up round of each. The same warm server answers both paths, so
# the ratio shows what publishing costs and nothing else. wrk closes each connection once it
# has the page, so every request leaves a TIME_WAIT socket on the host; Debian's default
# tcp_tw_reuse=2 reuses those ports for loopback only, so the direct path (to the container's
# address) ran out of ports after ~28k connections and stalled in later rounds while the
# published one (from 127.0.0.1) did not: that was the 194 %. The bench sets tcp_tw_reuse=1
# while it runs (restored at exit), and the container runs with tcp_max_tw_buckets=0.
rps_rounds() { # $1 host port, then the CLI; prints "direct_median d_min d_max published_median p_min p_max"
  local port=$1; shift
  local d=() p=() i ip
  "$@" run -d --name bench-srv --sysctl net.ipv4.tcp_max_tw_buckets=0 \
    -p "127.0.0.1:$port:80" busybox sh -c "$serve" >/dev/null
  ip=$("$@" inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' bench-srv)
  for _ in $(seq 50); do timeout 1 bash -c "</dev/tcp/$ip/80" 2>/dev/null && break; sleep 0.1; done
  secs=1 rps "http://$ip/index.html" >/dev/null
  secs=1 rps "http://127.0.0.1:$port/index.html" >/dev/null
  for i in $(seq "$rounds"); do
    if [ $((i % 2)) = 1 ]; then
      d+=("$(rps "http://$ip/index.html")"); p+=("$(rps "http://127.0.0.1:$port/index.html")")
    else
      p+=("$(rps "http://127.0.0.1:$port/index.html")"); d+=("$(rps "http://$ip/index.html")")
    fi
  done
  "$@" rm -f bench-srv >/dev/null
  local ds ps
  ds=$(printf '%s\n' "${d[@]}" | sort -n)
  ps=$(printf '%s\n' "${p[@]}" | sort -n)
  echo "$(echo "$ds" | median) $(echo "$ds" | head -1) $(echo "$ds" | tail -1)" \
    "$(echo "$ps" | median) $(echo "$ps" | head -1) $(echo "$ps" | tail -1)"
}
serve='mkdir -p /www && head -c 4096 /dev/zero > /www/index.html && httpd -f -p 80 -h /www'

# --- berth
export BERTH_HOST="unix://$work/berth.sock"
"$berth" daemon --root "$work/berth-root" --host "$BERTH_HOST" --bridge "$bridge" \
  --bip 10.213.0.0/24 --dns-listen none --log-level warn 2>"$work/berth.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/berth.sock" ] && break; sleep 0.05; done
"$berth" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
"$berth" run --rm busybox true
for _ in $(seq "$runs"); do
  time_cmd "$work/b-bridge" "$berth" run --rm busybox true
  time_cmd "$work/b-none" "$berth" run --rm --network none busybox true
done
read -r b_d b_dmin b_dmax b_p b_pmin b_pmax < <(rps_rounds 18760 "$berth")

# --- Docker (private dockerd on its own bridge; published ports via its userland proxy)
have_docker=0
if command -v dockerd >/dev/null; then
  ip link add "$dbridge" type bridge && ip addr add 10.214.0.1/24 dev "$dbridge" && ip link set "$dbridge" up
  dockerd --data-root "$work/docker-root" --exec-root "$work/docker-exec" \
    --host "unix://$work/docker.sock" --pidfile "$work/docker.pid" --bridge "$dbridge" \
    --iptables=false --ip6tables=false --containerd-namespace berth-bench \
    --containerd-plugins-namespace berth-bench-plugins >"$work/dockerd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do [ -S "$work/docker.sock" ] && break; sleep 0.1; done
  if [ -S "$work/docker.sock" ]; then
    have_docker=1
    D=(docker -H "unix://$work/docker.sock")
    "${D[@]}" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
    "${D[@]}" run --rm busybox true
    for _ in $(seq "$runs"); do
      time_cmd "$work/d-bridge" "${D[@]}" run --rm busybox true
      time_cmd "$work/d-none" "${D[@]}" run --rm --network none busybox true
    done
    read -r d_d d_dmin d_dmax d_p d_pmin d_pmax < <(rps_rounds 18770 "${D[@]}")
  fi
fi

echo "run --rm busybox true, medians of $runs:"
printf '  berth  bridge %8s ms   none %8s ms\n' "$(median < "$work/b-bridge")" "$(median < "$work/b-none")"
[ "$have_docker" = 1 ] && printf '  docker bridge %8s ms   none %8s ms\n' "$(median < "$work/d-bridge")" "$(median < "$work/d-none")"
echo "httpd, 4 KiB page, wrk -t2 -c16, $rounds alternating ${secs}s rounds on one container (requests/s, median [min-max]):"
row() { # name direct min max published min max
  printf '  %-6s direct %9s [%s-%s]   published %9s [%s-%s]   published/direct %s%%\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$(echo "scale=1; 100 * $5 / $2" | bc)"
}
row berth "$b_d" "$b_dmin" "$b_dmax" "$b_p" "$b_pmin" "$b_pmax"
[ "$have_docker" = 1 ] && row docker "$d_d" "$d_dmin" "$d_dmax" "$d_p" "$d_pmin" "$d_pmax"
exit 0

#!/bin/bash
# Benchmark: what networking costs. (1) `run --rm busybox true` with the default bridge network
# vs `--network none` (the set-up cost: namespace, veth, address, DNS entry); (2) throughput of
# busybox httpd through a published port (127.0.0.1:PORT, nftables DNAT) vs the container's
# address directly, with wrk; and, where Debian's dockerd starts, the same two figures for
# Docker (its own bridge made here, userland proxy for the published port).
#
# usage: benches/network.sh [RUNS=20] [WRK_SECONDS=5]   (as root; builds berth --release)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
secs=${2:-5}
sh scripts/install-deps.sh test >/dev/null
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
cargo build --release -q
berth=$PWD/target/x86_64-unknown-linux-gnu/release/berth
work=$(mktemp -d /tmp/berth-bench-XXXX)
bridge=bb$(printf '%04x' $$)
dbridge=bd$(printf '%04x' $$)
pids=()
cleanup() {
  "$berth" rm -f bench-d1 bench-d2 bench-d3 bench-p1 bench-p2 bench-p3 >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  ip link del "$dbridge" 2>/dev/null || true
  nft delete table ip "berth_$bridge" 2>/dev/null || true
  nft delete table ip "berth_${bridge}_user" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
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
# Direct and published alternate, three rounds each, medians compared. Every measurement gets
# a fresh container: busybox httpd closes each connection first, so its TIME_WAIT sockets hold
# the (container:80, gateway:port) tuples for 60 s, and past ~28k connections (the client's
# port range) new SYNs hit them and wait out retransmits: the second 4-second round to the
# same container collapsed to a fifth of the first, direct and published alike.
rps_rounds() { # $1 port base, then the CLI; prints "direct published" medians
  local base=$1; shift
  local d=() p=() i dip
  for i in 1 2 3; do
    "$@" run -d --name "bench-d$i" busybox sh -c "$serve" >/dev/null
    "$@" run -d --name "bench-p$i" -p "127.0.0.1:$((base + i)):80" busybox sh -c "$serve" >/dev/null
    sleep 0.5
    dip=$("$@" inspect --format '{{.NetworkSettings.IPAddress}}' "bench-d$i")
    d+=("$(rps "http://$dip/index.html")")
    p+=("$(rps "http://127.0.0.1:$((base + i))/index.html")")
    "$@" rm -f "bench-d$i" "bench-p$i" >/dev/null
  done
  printf '%s\n' "${d[@]}" | median | tr '\n' ' '
  printf '%s\n' "${p[@]}" | median
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
read -r b_direct b_published < <(rps_rounds 18760 "$berth")

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
    read -r d_direct d_published < <(rps_rounds 18770 "${D[@]}")
  fi
fi

echo "run --rm busybox true, medians of $runs:"
printf '  berth  bridge %8s ms   none %8s ms\n' "$(median < "$work/b-bridge")" "$(median < "$work/b-none")"
[ "$have_docker" = 1 ] && printf '  docker bridge %8s ms   none %8s ms\n' "$(median < "$work/d-bridge")" "$(median < "$work/d-none")"
echo "httpd, 4 KiB page, wrk -t2 -c16 ${secs}s, median of 3 alternating rounds, a fresh container each (requests/s):"
printf '  berth  direct %10s   published %10s   (%s%%)\n' "$b_direct" "$b_published" \
  "$(echo "scale=1; 100 * $b_published / $b_direct" | bc)"
[ "$have_docker" = 1 ] && printf '  docker direct %10s   published %10s   (%s%%)\n' "$d_direct" "$d_published" \
  "$(echo "scale=1; 100 * $d_published / $d_direct" | bc)"
exit 0

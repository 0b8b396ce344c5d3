#!/bin/bash
# Benchmark: many running containers on one daemon. Starts N `sleep` containers (busybox,
# `--network none`) one after the other, then measures `ps` (median of 15), the daemon's
# resident memory, threads and descriptors, the shims' memory, and removing them all; Docker's
# dockerd and podman beside it, each on its own private root, with PEER_N containers (default:
# N; 1000 containerd-shims take ~13 GB, so lower it on a small machine).
# Goal (issue 11): 1000 containers, `ps` under 100 ms, a daemon under 64 MB and 32 threads.
#
# usage: benches/scale.sh [N=1000] [PEER_N=N]   (as root; builds berth --release)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
peer_n=${2:-$n}
sh scripts/install-deps.sh bench >/dev/null
cargo build --release -q
berth=$PWD/target/x86_64-unknown-linux-gnu/release/berth
work=$(mktemp -d /tmp/berth-scale-XXXX)
pids=()
cleanup() {
  [ -S "$work/berth.sock" ] && BERTH_HOST="unix://$work/berth.sock" "$berth" rm -f \
    $(BERTH_HOST="unix://$work/berth.sock" "$berth" ps -aq) >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
sh scripts/busybox-rootfs.sh "$work/busybox.tar"
field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
# sum_rss PID...: total resident kB.
sum_rss() { local t=0; for p in "$@"; do t=$((t + $(field "$p" VmRSS))); done; echo "$t"; }
# sum_private PID...: total private (anonymous + private file) kB, from smaps_rollup.
sum_private() {
  local t=0
  for p in "$@"; do
    t=$((t + $(awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s}' "/proc/$p/smaps_rollup")))
  done
  echo "$t"
}
seconds() { date +%s.%N; }
elapsed() { local now; now=$(seconds); echo "scale=1; ($now - $1) / 1" | bc; }

# --- berth
export BERTH_HOST="unix://$work/berth.sock"
"$berth" daemon --root "$work/berth-root" --host "$BERTH_HOST" --bridge "bs$$" \
  --dns-listen none --log-level warn 2>"$work/berth.log" &
pids+=($!); bpid=$!
for _ in $(seq 100); do [ -S "$work/berth.sock" ] && break; sleep 0.05; done
"$berth" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
t0=$(seconds)
for i in $(seq "$n"); do "$berth" run -d --network none busybox sleep 100000 >/dev/null; done
b_up=$(elapsed "$t0")
hyperfine -N -w 2 -r 15 --export-json "$work/b-ps.json" "$berth ps" >/dev/null 2>&1
b_ps=$(python3 -c "import json;print(round(json.load(open('$work/b-ps.json'))['results'][0]['median']*1000,1))")
b_rss=$(field "$bpid" VmRSS); b_threads=$(field "$bpid" Threads); b_fds=$(fds "$bpid")
mapfile -t shims < <(for f in "$work"/berth-root/shims/*/shim.pid; do cat "$f"; echo; done)
b_shim_private=$(( $(sum_private "${shims[@]}") / ${#shims[@]} ))
t0=$(seconds)
"$berth" rm -f $("$berth" ps -aq) >/dev/null
b_down=$(elapsed "$t0")
b_rss_rm=$(field "$bpid" VmRSS); b_threads_rm=$(field "$bpid" Threads)
sleep 20  # idle threads leave, freed memory goes back (the daemon trims its heap every 15 s)
b_rss_after=$(field "$bpid" VmRSS); b_threads_after=$(field "$bpid" Threads)
unset BERTH_HOST

# --- Docker (Debian's dockerd on a private root and socket, no bridge, no iptables)
d_ps=- d_rss=- d_threads=- d_up=- d_down=- d_shim=-
if command -v dockerd >/dev/null && command -v docker >/dev/null; then
  dockerd --data-root "$work/docker-root" --exec-root "$work/docker-exec" \
    --host "unix://$work/docker.sock" --pidfile "$work/docker.pid" --bridge none \
    --iptables=false --ip6tables=false --containerd-namespace berth-scale \
    --containerd-plugins-namespace berth-scale-plugins >"$work/dockerd.log" 2>&1 &
  pids+=($!); dpid=$!
  for _ in $(seq 200); do [ -S "$work/docker.sock" ] && break; sleep 0.1; done
  D=(docker -H "unix://$work/docker.sock")
  "${D[@]}" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
  t0=$(seconds)
  for i in $(seq "$peer_n"); do "${D[@]}" run -d --network none busybox sleep 100000 >/dev/null; done
  d_up=$(elapsed "$t0")
  hyperfine -N -w 2 -r 15 --export-json "$work/d-ps.json" "docker -H unix://$work/docker.sock ps" >/dev/null 2>&1
  d_ps=$(python3 -c "import json;print(round(json.load(open('$work/d-ps.json'))['results'][0]['median']*1000,1))")
  cpid=$(pgrep -n -f "containerd --config $work/docker-exec" || pgrep -n -x containerd || echo "")
  d_rss=$(field "$dpid" VmRSS); d_threads=$(field "$dpid" Threads)
  [ -n "$cpid" ] && d_rss="$d_rss + containerd $(field "$cpid" VmRSS)" && d_threads="$d_threads + $(field "$cpid" Threads)"
  mapfile -t dshims < <(pgrep -f containerd-shim || true)
  [ "${#dshims[@]}" -gt 0 ] && d_shim=$(( $(sum_private "${dshims[@]}") / ${#dshims[@]} ))
  t0=$(seconds)
  "${D[@]}" rm -f $("${D[@]}" ps -aq) >/dev/null
  d_down=$(elapsed "$t0")
fi

# --- podman (private storage and config, cgroupfs, runc: crun refuses this hybrid layout)
cat > "$work/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
CONF
export CONTAINERS_CONF="$work/containers.conf"
P=(podman --root "$work/podman-root" --runroot "$work/podman-run" --events-backend none --cgroup-manager cgroupfs --runtime runc)
"${P[@]}" import -q --change 'CMD ["sh"]' "$work/busybox.tar" localhost/busybox:latest >/dev/null
t0=$(seconds)
for i in $(seq "$peer_n"); do "${P[@]}" run -d --network none localhost/busybox sleep 100000 >/dev/null; done
p_up=$(elapsed "$t0")
hyperfine -N -w 2 -r 15 --export-json "$work/p-ps.json" "${P[*]} ps" >/dev/null 2>&1
p_ps=$(python3 -c "import json;print(round(json.load(open('$work/p-ps.json'))['results'][0]['median']*1000,1))")
mapfile -t conmons < <(pgrep -x conmon || true)
p_shim=-
[ "${#conmons[@]}" -gt 0 ] && p_shim=$(( $(sum_private "${conmons[@]}") / ${#conmons[@]} ))
t0=$(seconds)
"${P[@]}" rm -f -t 0 $("${P[@]}" ps -aq) >/dev/null
p_down=$(elapsed "$t0")

printf '%-44s %14s %14s %14s\n' "" "berth ($n)" "dockerd ($peer_n)" "podman ($peer_n)"
printf '%-44s %14s %14s %14s\n' "start them one by one (s)" "$b_up" "$d_up" "$p_up"
printf '%-44s %14s %14s %14s\n' "ps, median (ms)" "$b_ps" "$d_ps" "$p_ps"
printf '%-44s %14s %14s %14s\n' "daemon RSS with them running (kB)" "$b_rss" "$d_rss" "-"
printf '%-44s %14s %14s %14s\n' "daemon threads with them running" "$b_threads" "$d_threads" "-"
printf '%-44s %14s %14s %14s\n' "daemon descriptors with them running" "$b_fds" "-" "-"
printf '%-44s %14s %14s %14s\n' "private memory per supervisor (kB)" "$b_shim_private" "$d_shim" "$p_shim"
printf '%-44s %14s %14s %14s\n' "rm -f of all (s)" "$b_down" "$d_down" "$p_down"
printf '%-44s %14s\n' "berth daemon RSS (kB) / threads right after rm" "$b_rss_rm / $b_threads_rm"
printf '%-44s %14s\n' "berth daemon RSS (kB) / threads 20 s later" "$b_rss_after / $b_threads_after"

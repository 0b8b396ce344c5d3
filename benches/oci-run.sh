#!/bin/bash
# Benchmark: OCI `run` of a static /bin/true bundle — berth vs runc vs crun, with and without a
# new network namespace, beside the kernel floor (`unshare -fpmiun true`). All runtimes get the
# same config.json (Berth's default spec: Docker's capabilities, seccomp profile, masked paths).
# Prints hyperfine medians (>= RUNS runs each) and peak RSS (/usr/bin/time -f %M, KiB).
#
# crun refuses this machine's hybrid cgroup layout, so it runs inside a private mount namespace
# with the cgroup2 mount hidden; that wrapper is measured on its own ("crun wrapper") so it can
# be subtracted.
#
# usage: benches/oci-run.sh [RUNS=30]   (as root)
#        BERTH_BASELINE=/path/to/older/berth benches/oci-run.sh   (that build's `oci` beside it)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
# hyperfine, runc, crun, GNU time and busybox-static, on a fresh machine too.
sh scripts/install-deps.sh bench >/dev/null
out=target/x86_64-unknown-linux-gnu/release
if [ -x $out/berth ] && $out/berth oci --help >/dev/null 2>&1; then
  berth="$PWD/$out/berth oci"
else
  cargo build --release -q -p berth-runtime --example oci
  berth="$PWD/$out/examples/oci"
fi
work=$(mktemp -d /tmp/berth-oci-bench-XXXX)
cleanup() {
  for rt in berth base runc crun; do
    for id in b-net b-nonet; do
      case $rt in
        berth) $berth --root "$work/state-berth" delete --force $id >/dev/null 2>&1 || true ;;
        base) [ -n "${BERTH_BASELINE:-}" ] && "$BERTH_BASELINE" oci --root "$work/state-base" delete --force $id >/dev/null 2>&1 || true ;;
        runc) runc --root "$work/state-runc" delete --force $id >/dev/null 2>&1 || true ;;
        crun) crun --root "$work/state-crun" delete --force $id >/dev/null 2>&1 || true ;;
      esac
    done
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Two bundles, each with a rootfs of busybox-static and its `true` applet.
for b in net nonet; do
  mkdir -p "$work/$b/rootfs/bin" "$work/$b/rootfs/proc" "$work/$b/rootfs/sys" "$work/$b/rootfs/dev"
  cp /bin/busybox "$work/$b/rootfs/bin/busybox"
  ln -s busybox "$work/$b/rootfs/bin/true"
  (cd "$work/$b" && $berth spec -b .)
  python3 - "$work/$b/config.json" "$b" <<'PY'
import json, sys
path, kind = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["process"]["args"] = ["/bin/true"]
c["hostname"] = "bench"
c["ociVersion"] = "1.0.2-dev"  # crun 1.8 refuses newer versions
if kind == "nonet":
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
json.dump(c, open(path, "w"), indent=1)
PY
done

crun_wrap() { # $1 = command run after hiding the cgroup2 mount
  echo "unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; $1'"
}
cmds=()
names=()
for b in net nonet; do
  names+=("berth $b"); cmds+=("$berth --root $work/state-berth run -b $work/$b b-$b")
  if [ -n "${BERTH_BASELINE:-}" ]; then
    names+=("berth baseline $b"); cmds+=("$BERTH_BASELINE oci --root $work/state-base run -b $work/$b b-$b")
  fi
  names+=("runc $b"); cmds+=("runc --root $work/state-runc run -b $work/$b b-$b")
  names+=("crun $b"); cmds+=("$(crun_wrap "crun --root $work/state-crun run -b $work/$b b-$b")")
done
names+=("crun wrapper"); cmds+=("$(crun_wrap true)")
names+=("floor unshare -fpmiun"); cmds+=("unshare -fpmiun true")
names+=("floor unshare -fpmiu"); cmds+=("unshare -fpmiu true")

args=(-N --warmup 3 --runs "$runs" --export-json "$work/hf.json")
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine "${args[@]}" >/dev/null
echo "median wall time over $runs runs, and peak RSS of one run:"
for i in "${!cmds[@]}"; do
  median=$(python3 -c "import json,sys; r=json.load(open('$work/hf.json'))['results'][$i]; print('%.2f' % (r['median']*1000))")
  /usr/bin/time -o "$work/rss" -f %M sh -c "${cmds[$i]}" >/dev/null 2>&1 || true
  rss=$(tail -n1 "$work/rss")
  printf '  %-24s %8s ms  %8s KiB\n' "${names[$i]}" "$median" "$rss"
done

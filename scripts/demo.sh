#!/bin/sh
# The main job: build Berth, make a busybox image from Debian's busybox-static, import it, and
# run containers from it: one in the foreground, one detached whose logs we read. The first
# `berth` command starts the daemon on demand (root /var/lib/berth).
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh demo
cargo build --release
berth=target/x86_64-unknown-linux-gnu/release/berth
tar=$(mktemp --suffix=.tar)
sh scripts/busybox-rootfs.sh "$tar"
$berth import --change 'CMD ["sh"]' --message "busybox-static from Debian" "$tar" busybox:latest
rm -f "$tar"
$berth images
$berth run --rm busybox echo hello from berth
$berth rm -f berth-demo >/dev/null 2>&1 || true
$berth run -d --name berth-demo busybox sh -c 'echo "up as $(hostname)"; while true; do sleep 1; done'
sleep 0.5
$berth ps
$berth logs berth-demo
$berth exec berth-demo uname -sr
$berth rm -f berth-demo

#!/bin/sh
# The main job: build Berth, make a busybox image from Debian's busybox-static, import it and
# list it. The first `berth` command starts the daemon on demand (root /var/lib/berth).
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh demo
cargo build --release
berth=target/release/berth
tar=$(mktemp --suffix=.tar)
sh scripts/busybox-rootfs.sh "$tar"
$berth import --change 'CMD ["sh"]' --message "busybox-static from Debian" "$tar" busybox:latest
rm -f "$tar"
$berth images
$berth image inspect --format 'busybox is {{.Id}} with {{len .RootFS.Layers}} layer(s), cmd {{.Config.Cmd}}' busybox

#!/bin/sh
# Builds the NSS module, libnss_berth.so.2, and puts it next to the berth binary, where
# `berth system install-dns` looks for it. A shared object cannot be linked with crt-static
# like the rest of the workspace, so it is built on its own (its own target dir, so the main
# build's cache is not invalidated by the different flags).
# usage: scripts/build-nss.sh [debug|release]
set -eu
cd "$(dirname "$0")/.."
profile=${1:-debug}
flag=""
[ "$profile" = release ] && flag=--release
# shellcheck disable=SC2086
RUSTFLAGS="-C target-feature=-crt-static" cargo rustc -q $flag -p berth-nss --lib \
  --crate-type cdylib --target-dir target/nss
out=target/x86_64-unknown-linux-gnu/$profile
mkdir -p "$out"
cp "target/nss/x86_64-unknown-linux-gnu/$profile/libberth_nss.so" "$out/libnss_berth.so.2"
echo "$out/libnss_berth.so.2"

#!/bin/sh
# Runs the engine's fake-backed life-cycle tests as an unprivileged user (nobody): proof that
# this tier needs no root, which a root CI run alone would not show.
set -eu
cd "$(dirname "$0")/.."
bin=$(cargo test -p berth-engine --lib --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -n "$bin" ] || { echo "engine-tests-unprivileged: no test binary" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then
    exec "$bin" lifecycle_tests
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$bin" "$dir/engine-tests"
chmod 755 "$dir" "$dir/engine-tests"
chown 65534:65534 "$dir"
cd "$dir"
TMPDIR="$dir" HOME="$dir" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
    ./engine-tests lifecycle_tests

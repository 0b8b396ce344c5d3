#!/bin/sh
# Sets up and runs every check and test: formatting, clippy, unit and end-to-end tests.
# End-to-end tests need root (namespaces, overlay mounts); each uses its own temp root dir.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh test
cargo fmt --all -- --check
# The seccomp syscall tables are generated: the committed file must be what the script makes.
python3 scripts/gen-syscall-table.py --check
cargo clippy --workspace --all-targets -- -D warnings
# The e2e harness keeps one busybox tarball per test process; remove them whatever happens.
trap 'rm -rf "${TMPDIR:-/tmp}"/berth-busybox-*' EXIT
# The NSS module is a shared object built apart (tests/host_dns.rs installs it in a sandbox).
sh scripts/build-nss.sh >/dev/null
cargo test --workspace 2>&1
# The engine's life-cycle tier on fakes must pass without root: run it as nobody too.
sh scripts/engine-tests-unprivileged.sh

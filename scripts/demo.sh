#!/usr/bin/env bash
# Installs dependencies, builds the static podvisor and runs it on the bundled example:
# a stand-in model server that crashes twice while "loading", then serves and exits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPODVISOR_TESTS=OFF >/dev/null
ninja -C build podvisor
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
echo "---- podvisor -- examples/flaky-model-server.sh ----"
# Exit 0 is what this example's server does when done; autorestart=unexpected ends there.
EXAMPLE_STATE_DIR="$state" SUPERVISOR_PROGRAM__APP_AUTORESTART=unexpected \
  ./build/podvisor -- examples/flaky-model-server.sh </dev/null

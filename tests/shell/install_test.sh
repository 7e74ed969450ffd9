#!/usr/bin/env bash
# The install step puts podvisor in the prefix, standard-supervisor beside it as a symlink, and
# the NVML companion podvisor-gpu.
set -euo pipefail
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
test -x "$prefix/bin/podvisor" || { echo "no $prefix/bin/podvisor"; exit 1; }
test -L "$prefix/bin/standard-supervisor" || { echo "standard-supervisor is not a symlink"; exit 1; }
[[ $(readlink "$prefix/bin/standard-supervisor") == podvisor ]] || { echo "symlink target wrong"; exit 1; }
# The NVML companion beside it: linked dynamically (it dlopens NVML), on glibc alone.
test -x "$prefix/bin/podvisor-gpu" || { echo "no $prefix/bin/podvisor-gpu"; exit 1; }
needed=$(readelf -d "$prefix/bin/podvisor-gpu" | grep NEEDED || true)
[[ -n $needed && $needed != *libstdc++* ]] || { echo "podvisor-gpu links: $needed"; exit 1; }
status=0
PROCESS_AUTO_RECOVERY=false "$prefix/bin/standard-supervisor" sh -c 'exit 5' </dev/null 2>/dev/null || status=$?
[[ $status -eq 5 ]] || { echo "installed standard-supervisor returned $status, want 5"; exit 1; }
echo "install layout ok"

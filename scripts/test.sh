#!/usr/bin/env bash
# Installs dependencies, builds podvisor twice (release, and ASan+UBSan) and runs the whole
# test suite against both builds, then runs each fuzz target for 20 s. Warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh --test
jobs=$(nproc)

run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  ninja -C "$dir"
  (cd "$dir" && ctest -j"$jobs" --output-on-failure --timeout 300)
}

echo "==== release build ===="
run_suite build -DCMAKE_BUILD_TYPE=Release -DPODVISOR_TESTS=ON
echo "==== ASan+UBSan build ===="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPODVISOR_SANITIZE=ON -DPODVISOR_TESTS=ON
echo "==== fuzzing: the XML-RPC decoder, the HTTP request path, the INI reader ===="
bash scripts/fuzz.sh 20

#!/usr/bin/env bash
# The release binary runs in an empty root that holds only itself and a static busybox:
# no shared library, no NSS, no /etc.
set -euo pipefail
binary=$1
if ! file -L "$binary" 2>/dev/null | grep -q "statically linked"; then
  # readelf is the fallback where file(1) is missing.
  if readelf -l "$binary" 2>/dev/null | grep -q INTERP; then
    echo "SKIP: $binary is not static (sanitizer build)"; exit 77
  fi
fi
[[ $(id -u) -eq 0 ]] || { echo "SKIP: chroot needs root"; exit 77; }
busybox=$(command -v busybox) || { echo "SKIP: no busybox"; exit 77; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin"
cp "$binary" "$root/bin/podvisor"
cp "$busybox" "$root/bin/busybox"
status=0
out=$(chroot "$root" /bin/podvisor --no-restart -- /bin/busybox sh -c 'echo hello from an empty root; exit 7' </dev/null 2>"$root/err") || status=$?
[[ $status -eq 7 ]] || { echo "exit status $status, want 7"; cat "$root/err"; exit 1; }
[[ $out == "hello from an empty root" ]] || { echo "stdout was: $out"; exit 1; }
grep -q "spawned: 'app'" "$root/err" || { echo "no lifecycle line:"; cat "$root/err"; exit 1; }
echo "static binary ok in an empty root"

# Shared by the bench scripts (sourced, from the repository root): dependencies, the podvisor
# binary under test, and the timestamp helper.

# bench_need COMMAND:PACKAGE ...: apt-get the packages whose command is missing. A COMMAND
# starting with / is a file that must exist (libc.a for the static stamp helper).
bench_need() {
  local missing=() pair cmd pkg
  for pair in "$@"; do
    cmd=${pair%%:*} pkg=${pair#*:}
    if [[ $cmd == /* ]]; then [[ -e $cmd ]] && continue; else command -v "$cmd" >/dev/null && continue; fi
    [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "bench: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "bench: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Sets $podvisor: $PODVISOR when given, else a release build in build-bench/.
bench_podvisor() {
  if [[ -n ${PODVISOR:-} ]]; then
    podvisor=$(realpath "$PODVISOR")
    [[ -x $podvisor ]] || { echo "bench: PODVISOR=$PODVISOR is not an executable" >&2; exit 1; }
  else
    bash scripts/deps.sh
    cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DPODVISOR_TESTS=OFF >/dev/null
    ninja -C build-bench podvisor >/dev/null
    podvisor=$PWD/build-bench/podvisor
  fi
}

# Sets $stamp: bench/stamp.c built static, rebuilt only when older than its source.
bench_stamp() {
  mkdir -p build-bench/bench
  stamp=$PWD/build-bench/bench/stamp
  [[ -x $stamp && $stamp -nt bench/stamp.c ]] || cc -O2 -static -Wall -Wextra -o "$stamp" bench/stamp.c
}

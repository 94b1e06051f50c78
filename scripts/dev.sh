#!/usr/bin/env bash
# One entry point for building, running and testing Switchyard. It installs the Debian packages it needs when
# they are missing, configures once and builds incrementally, so every command is idempotent and fast the
# second time.
#
#   scripts/dev.sh run [SWITCHYARD ARGS...]   build the CLI and the plugins only, then run the main job (a story
#                                             from the default model)
#   scripts/dev.sh test                       build the rest (tests, benchmarks), then run the whole suite (CTest)
#   scripts/dev.sh sanitize                   build with AddressSanitizer + UndefinedBehaviorSanitizer (clang,
#                                             with the libFuzzer target) in build-sanitize/ and run the suite
#   scripts/dev.sh build                      only build
#
# Environment: SWITCHYARD_MODEL (default model), BUILD_DIR (default build), CI=true turns warnings into errors.
# GPU plugins: ROCm from Debian's hipcc and libamdhip64-dev (installed here), CUDA when the toolkit is in
# /usr/local/cuda (NVIDIA's installer).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly PACKAGES=(
  cmake ninja-build g++ pkg-config
  libtbb-dev libboost-dev libboost-filesystem-dev nlohmann-json3-dev libspdlog-dev doctest-dev libcli11-dev
  libssl-dev libpcre2-dev libre2-dev libvalijson-dev libcpu-features-dev clang-14 libclang-rt-14-dev python3 python3-numpy python3-jsonschema
  hipcc libamdhip64-dev
)
readonly JOBS="${JOBS:-$(nproc)}"

ensure_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing missing Debian packages: ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# configure DIR [CMAKE ARGS...]: configures DIR once; later calls only rebuild, unless a GPU toolchain has
# appeared since DIR was configured without it (CMake would otherwise keep skipping that plugin).
configure() {
  local dir="$1"
  shift
  local werror=OFF
  [ "${CI:-}" = "true" ] && werror=ON
  if [ -f "$dir/build.ninja" ]; then
    toolchain_appeared "$dir" || return 0
    echo "a GPU toolchain was installed since $dir was configured: configuring again" >&2
  fi
  cmake -S . -B "$dir" -G Ninja -DSWITCHYARD_WERROR="$werror" "$@" >&2
}

toolchain_appeared() {
  local cache="$1/CMakeCache.txt"
  { grep -q '^SWITCHYARD_HIPCC:FILEPATH=.*NOTFOUND' "$cache" && command -v hipcc >/dev/null; } ||
    { grep -q '^CMAKE_CUDA_COMPILER:FILEPATH=.*NOTFOUND' "$cache" && [ -x /usr/local/cuda/bin/nvcc ]; }
}

# build DIR [TARGET...]: builds the targets (default: everything).
build() {
  local dir="$1"
  shift
  local targets=()
  [ $# -gt 0 ] && targets=(--target "$@")
  cmake --build "$dir" -j "$JOBS" "${targets[@]}" >&2
}

main() {
  local command="${1:-}"
  [ $# -gt 0 ] && shift
  local dir="${BUILD_DIR:-build}"
  case "$command" in
    run)
      ensure_packages
      configure "$dir"
      build "$dir" cli_and_plugins
      local model="${SWITCHYARD_MODEL:-../shared/models/stories260K.gguf}"
      if [ $# -eq 0 ]; then set -- run -m "$model" -p "Once upon a time" --metrics; fi
      exec "$dir/bin/switchyard" "$@"
      ;;
    test)
      ensure_packages
      configure "$dir"
      build "$dir"
      exec ctest --test-dir "$dir" --output-on-failure -j "$JOBS"
      ;;
    sanitize)
      ensure_packages
      dir="${BUILD_DIR:-build-sanitize}"
      CC=clang-14 CXX=clang++-14 configure "$dir" -DCMAKE_BUILD_TYPE=Debug \
        -DSWITCHYARD_SANITIZE=address,undefined -DSWITCHYARD_BUILD_FUZZ=ON -DSWITCHYARD_BUILD_BENCH=OFF \
        -DSWITCHYARD_BUILD_CUDA=OFF -DSWITCHYARD_BUILD_ROCM=OFF
      build "$dir"
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        exec ctest --test-dir "$dir" --output-on-failure -j "$JOBS"
      ;;
    build)
      ensure_packages
      configure "$dir"
      build "$dir"
      ;;
    *)
      sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
      exit 2
      ;;
  esac
}

main "$@"

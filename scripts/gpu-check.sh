#!/usr/bin/env bash
# Builds Switchyard with the GPU plugins and runs the plugin conformance suite on every GPU this machine has: every
# op, and matmul/get_rows/convert for every weight type a plugin claims (quantized ones included). CUDA is run
# twice: with its defaults (own kernels for the suite's 1- and 3-token matmuls) and with cuBLAS taking every F32,
# F16 and BF16 matmul (SWITCHYARD_CUDA_BLAS_MIN_TOKENS=1). Prints a short table; must finish within 8 minutes on
# one GPU.
#   scripts/gpu-check.sh [BUILD_DIR [LOG_DIR]]
#     BUILD_DIR  default: build-gpu in this repository (ignored by git)
#     LOG_DIR    default: $OUT when set, else BUILD_DIR/gpu-check; gets configure, build and conformance logs
# Exit status: 0 when a GPU plugin found a device and every conformance run passed; 1 otherwise. A GPU plugin
# built for hardware this machine lacks (say ROCm on a CUDA machine) reports "no device", which is no failure.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build-gpu}"
logs="${2:-${OUT:-$build/gpu-check}}"
jobs="$(nproc 2>/dev/null || echo 4)"
deadline=$((SECONDS + 450)) # 7.5 minutes, inside the 8-minute budget with room for the table

mkdir -p "$build" "$logs" || exit 1
log() { printf '[gpu-check] %s\n' "$*" | tee -a "$logs/gpu-check.log" >&2; }
# Seconds left before the deadline, at least 10 so a late step still gets a chance to say why it failed.
remaining() {
  local left=$((deadline - SECONDS))
  if ((left > 10)); then echo "$left"; else echo 10; fi
}

if [[ -z "${CUDACXX:-}" && -x /usr/local/cuda/bin/nvcc ]] && ! command -v nvcc >/dev/null; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$logs/gpu-check.log" >&2
fi
if command -v rocm-smi >/dev/null; then
  rocm-smi --showproductname 2>&1 | tee -a "$logs/gpu-check.log" >&2
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
log "configuring $build (logs in $logs)"
if ! timeout "$(remaining)" cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DSWITCHYARD_BUILD_BENCH=OFF -DSWITCHYARD_BUILD_TESTS=OFF -DSWITCHYARD_BUILD_CUDA=ON -DSWITCHYARD_BUILD_ROCM=ON \
  >"$logs/configure.log" 2>&1; then
  log "configure failed, see $logs/configure.log"
  tail -20 "$logs/configure.log" >&2
  exit 1
fi
grep -E 'plugin (skipped|architectures)' "$logs/configure.log" | tee -a "$logs/gpu-check.log" >&2

targets=(switchyard-conformance switchyard switchyard_cpu_plugin)
gpu_plugins=()
for gpu in cuda rocm; do
  if grep -q "CMakeFiles/switchyard_${gpu}_plugin.dir" "$build/CMakeFiles/TargetDirectories.txt" 2>/dev/null; then
    targets+=("switchyard_${gpu}_plugin")
    gpu_plugins+=("$gpu")
  fi
done
log "building ${targets[*]} with $jobs jobs"
if ! timeout "$(remaining)" cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$logs/build.log" 2>&1; then
  log "build failed, see $logs/build.log"
  tail -30 "$logs/build.log" >&2
  exit 1
fi

plugins_dir="$build/lib/switchyard/plugins"
rows=()
status=0
found_gpu_device=0
# run_conformance NAME PLUGIN [ENV=VALUE...]: one conformance run, one table row, its log in $logs/NAME.log.
run_conformance() {
  local name="$1" plugin="$2"
  shift 2
  local file="$plugins_dir/libswitchyard-$plugin.so"
  if [[ ! -f "$file" ]]; then
    rows+=("$name|not built|-|see $logs/configure.log")
    return
  fi
  local output rc
  output="$(env "$@" timeout "$(remaining)" "$build/bin/switchyard-conformance" "$file" 2>&1)"
  rc=$?
  printf '%s\n' "$output" >"$logs/$name.log"
  local devices summary result
  devices="$(grep -c '^device ' <<<"$output")"
  summary="$(grep -E 'checks, [0-9]+ failed|no devices|FAIL  (load|negotiation)' <<<"$output" | tail -1)"
  if ((rc == 0 && devices == 0)); then
    result="no device"
  elif ((rc == 0)); then
    result=pass
  else
    result="FAIL (rc $rc)"
    status=1
  fi
  [[ $plugin != cpu ]] && ((devices > 0)) && found_gpu_device=1
  rows+=("$name|$result|$devices|${summary:-see $logs/$name.log}")
  grep '^FAIL' <<<"$output" | head -20 >&2
}

run_conformance cpu cpu
for gpu in cuda rocm; do
  if [[ " ${gpu_plugins[*]} " == *" $gpu "* ]]; then
    run_conformance "$gpu" "$gpu"
    if [[ $gpu == cuda ]] && grep -q '^device ' "$logs/cuda.log"; then
      run_conformance cuda-cublas cuda SWITCHYARD_CUDA_BLAS_MIN_TOKENS=1
    fi
  else
    rows+=("$gpu|not built|-|see $logs/configure.log")
  fi
done

"$build/bin/switchyard" devices >"$logs/devices.log" 2>&1 || true
{
  printf '\n%-12s %-14s %-8s %s\n' run result devices summary
  for row in "${rows[@]}"; do
    IFS='|' read -r name result devices summary <<<"$row"
    printf '%-12s %-14s %-8s %s\n' "$name" "$result" "$devices" "$summary"
  done
} | tee -a "$logs/gpu-check.log"
# A GPU machine without a working GPU plugin is a failure of this check.
if ((found_gpu_device == 0)); then
  log "no GPU plugin found a device (see $logs/devices.log)"
  status=1
fi
log "done in ${SECONDS}s"
exit $status

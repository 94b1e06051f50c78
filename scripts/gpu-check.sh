#!/usr/bin/env bash
# Builds Switchyard with the GPU plugins and runs the plugin conformance suite on every GPU this machine has,
# then prints a short table. Meant for a CUDA (or ROCm) machine; must finish within 8 minutes on one GPU.
#   scripts/gpu-check.sh [BUILD_DIR]      (default: build-gpu beside this repository's root)
# Exit status: 0 every GPU plugin found a device and passed; 1 otherwise.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build-gpu}"
jobs="$(nproc 2>/dev/null || echo 4)"
deadline=$((SECONDS + 470))  # leave headroom inside the 8-minute budget

log() { printf '[gpu-check] %s\n' "$*" >&2; }
remaining() { local left=$((deadline - SECONDS)); ((left > 10)) && echo "$left" || echo 10; }

if [[ -z "${CUDACXX:-}" && -x /usr/local/cuda/bin/nvcc ]] && ! command -v nvcc >/dev/null; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2

log "configuring $build"
timeout "$(remaining)" cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSWITCHYARD_BUILD_BENCH=OFF -DSWITCHYARD_BUILD_CUDA=ON -DSWITCHYARD_BUILD_ROCM=ON >"$build.configure.log" 2>&1 ||
  { log "configure failed, see $build.configure.log"; tail -20 "$build.configure.log" >&2; exit 1; }

targets=(switchyard-conformance switchyard switchyard_cpu_plugin)
grep -q switchyard_cuda_plugin "$build/build.ninja" && targets+=(switchyard_cuda_plugin)
grep -q switchyard_rocm_plugin "$build/build.ninja" && targets+=(switchyard_rocm_plugin)
log "building ${targets[*]} with $jobs jobs"
timeout "$(remaining)" cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$build.build.log" 2>&1 ||
  { log "build failed, see $build.build.log"; tail -30 "$build.build.log" >&2; exit 1; }

plugins_dir="$build/lib/switchyard/plugins"
declare -a rows=()
status=0
for plugin in cpu cuda rocm; do
  file="$plugins_dir/libswitchyard-$plugin.so"
  if [[ ! -f "$file" ]]; then
    rows+=("$plugin|not built|-|-")
    continue
  fi
  require=(--require-device)
  [[ $plugin == cpu ]] && require=()
  output="$(timeout "$(remaining)" "$build/bin/switchyard-conformance" "${require[@]}" "$file" 2>&1)"
  rc=$?
  printf '%s\n' "$output" >"$build.conformance-$plugin.log"
  devices="$(grep -c '^device ' <<<"$output")"
  summary="$(grep -E 'checks, [0-9]+ failed|no devices|FAIL  negotiation' <<<"$output" | tail -1)"
  if ((rc == 0)); then result=pass; else result="FAIL (rc $rc)"; status=1; fi
  rows+=("$plugin|$result|$devices|${summary:-see $build.conformance-$plugin.log}")
  grep '^FAIL' <<<"$output" | head -20 >&2
done

"$build/bin/switchyard" devices >&2 || true
printf '\n%-6s %-14s %-8s %s\n' plugin result devices summary
for row in "${rows[@]}"; do
  IFS='|' read -r name result devices summary <<<"$row"
  printf '%-6s %-14s %-8s %s\n' "$name" "$result" "$devices" "$summary"
done
# A GPU machine without a working GPU plugin is a failure of this check.
if ! grep -q '^device ' "$build.conformance-cuda.log" 2>/dev/null && ! grep -q '^device ' "$build.conformance-rocm.log" 2>/dev/null; then
  log "no GPU plugin found a device"
  status=1
fi
log "done in ${SECONDS}s"
exit $status

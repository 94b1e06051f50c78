#!/usr/bin/env bash
# Builds Switchyard with the GPU plugins and checks them on every GPU this machine has:
#  1. the plugin conformance suite: every op, and matmul/get_rows/convert for every weight type a plugin claims
#     (quantized ones included). CUDA is run three times: with its defaults (own kernels for the suite's 1- and
#     3-token matmuls), with cuBLAS taking every F32, F16 and BF16 matmul (SWITCHYARD_CUDA_BLAS_MIN_TOKENS=1), and
#     under compute-sanitizer's memcheck where the toolkit has it;
#  2. `switchyard load --verify` of every model in MODELS_DIR onto the GPU, progressive and lazy (a 2 MiB cache, so
#     that tensors are evicted and uploaded again), each tensor read back and compared with the file;
#  3. `switchyard crossval` of every reference run in REFERENCE_DIR (../shared/reference) with every layer on the GPU
#     and with half of them (-ngl), the logits compared with the reference's at every position (the documented
#     default tolerances).
#  4. benchmarks, which print numbers and fail nothing: bench_ops' one-token matmuls of Q4_0, Q8_0, Q4_K, Q6_K and
#     F16 on the first GPU beside the bandwidth it reports, then `switchyard bench` (pp512, tg128) of each file in
#     BENCH_MODELS (environment, space-separated; the 1.1B Q4_0 and Q4_K of bench/README.md) all on the GPU and with
#     half of its layers on the CPU, while time is left.
# Prints a short table; must finish within 8 minutes on one GPU.
#   scripts/gpu-check.sh [--prebuilt] [BUILD_DIR [LOG_DIR]]
#     --prebuilt  use the binaries already in BUILD_DIR (bin/, lib/switchyard/plugins/, as a build or an install
#                 tree has them), built on another machine; configure and build nothing
#     BUILD_DIR   default: build-gpu in this repository (ignored by git)
#     LOG_DIR     default: $OUT when set, else BUILD_DIR/gpu-check; gets configure, build, conformance, load logs
#   MODELS_DIR (environment) default: ../shared/models beside this repository; skipped with a note when absent.
# Exit status: 0 when a GPU plugin found a device and every conformance run and load passed; 1 otherwise. A GPU
# plugin built for hardware this machine lacks (say ROCm on a CUDA machine) reports "no device", which is no
# failure.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prebuilt=0
if [[ "${1:-}" == --prebuilt ]]; then
  prebuilt=1
  shift
fi
build="${1:-$repo/build-gpu}"
models="${MODELS_DIR:-$repo/../shared/models}"
logs="${2:-${OUT:-$build/gpu-check}}"
jobs="$(nproc 2>/dev/null || echo 4)"
deadline=$((SECONDS + 450)) # 7.5 minutes, inside the 8-minute budget with room for the table

mkdir -p "$logs" || exit 1
((prebuilt)) || mkdir -p "$build" || exit 1
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

gpu_plugins=()
not_built_hint="see $logs/configure.log"
if ((prebuilt)); then
  not_built_hint="not in $build/lib/switchyard/plugins"
  for program in switchyard switchyard-conformance; do
    if [[ ! -x "$build/bin/$program" ]]; then
      log "--prebuilt: $build/bin/$program is missing; point BUILD_DIR at a build or install tree, or drop --prebuilt"
      exit 1
    fi
  done
  log "using the binaries in $build"
  for gpu in cuda rocm; do
    [[ -f "$build/lib/switchyard/plugins/libswitchyard-$gpu.so" ]] && gpu_plugins+=("$gpu")
  done
else
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  log "configuring $build (logs in $logs)"
  if ! timeout "$(remaining)" cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DSWITCHYARD_BUILD_BENCH=ON -DSWITCHYARD_BUILD_TESTS=OFF -DSWITCHYARD_BUILD_CUDA=ON -DSWITCHYARD_BUILD_ROCM=ON \
    >"$logs/configure.log" 2>&1; then
    log "configure failed, see $logs/configure.log"
    tail -20 "$logs/configure.log" >&2
    exit 1
  fi
  grep -E 'plugin (skipped|architectures)' "$logs/configure.log" | tee -a "$logs/gpu-check.log" >&2

  targets=(switchyard-conformance switchyard switchyard_cpu_plugin bench_ops)
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
fi

plugins_dir="$build/lib/switchyard/plugins"
rows=()
status=0
found_gpu_device=0
# run_conformance NAME PLUGIN [ENV=VALUE...]: one conformance run, one table row, its log in $logs/NAME.log.
# $wrapper (an array, normally empty) is put in front of the conformance program.
wrapper=()
run_conformance() {
  local name="$1" plugin="$2"
  shift 2
  local file="$plugins_dir/libswitchyard-$plugin.so"
  if [[ ! -f "$file" ]]; then
    rows+=("$name|not built|-|$not_built_hint")
    return
  fi
  local output rc
  output="$(env "$@" timeout "$(remaining)" "${wrapper[@]}" "$build/bin/switchyard-conformance" "$file" 2>&1)"
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
      # Out-of-bounds and misaligned device accesses, which a passing comparison can hide.
      sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
      if [[ -x $sanitizer ]]; then
        wrapper=("$sanitizer" --tool memcheck --error-exitcode 3 --print-limit 20)
        run_conformance cuda-memcheck cuda
        wrapper=()
      fi
    fi
  else
    rows+=("$gpu|not built|-|$not_built_hint")
  fi
done

"$build/bin/switchyard" devices >"$logs/devices.log" 2>&1 || true

# load_verify NAME MODEL ARGS...: one `switchyard load --verify` onto the first GPU, one table row.
load_verify() {
  local name="$1" model="$2"
  shift 2
  local output rc
  output="$(timeout "$(remaining)" "$build/bin/switchyard" load -m "$model" --policy gpu-first --ctx-size 64 \
    --batch-size 8 --verify "$@" 2>&1)"
  rc=$?
  printf '%s\n' "$output" >>"$logs/load.log"
  local placed summary
  placed="$(grep -oE '^  (cuda|rocm):[0-9]+ +[0-9]+ tensors' <<<"$output" | head -1 | tr -s ' ')"
  summary="$(grep -E '^verify ' <<<"$output" | sed 's/^verify *//')"
  if ((rc != 0)); then
    rows+=("$name|FAIL (rc $rc)|-|${summary:-see $logs/load.log}")
    status=1
    grep -E 'MISMATCH|error' <<<"$output" | head -5 >&2
  elif [[ -z "$placed" ]]; then
    rows+=("$name|FAIL|-|nothing was placed on a GPU, see $logs/load.log")
    status=1
  else
    rows+=("$name|pass|${placed# }|$summary")
  fi
}

# crossval_gpu NAME MODEL REFERENCE ARGS...: one teacher-forced comparison with a placement onto the GPU, one row.
crossval_gpu() {
  local name="$1" model="$2" reference="$3"
  shift 3
  local output rc
  output="$(timeout "$(remaining)" "$build/bin/switchyard" crossval -m "$model" --reference "$reference" "$@" 2>&1)"
  rc=$?
  printf '%s\n' "$output" >>"$logs/crossval.log"
  local summary
  summary="$(grep -oE 'largest absolute error [^ ]+' <<<"$output" | head -1)"
  if ((rc != 0)); then
    rows+=("$name|FAIL (rc $rc)|-|${summary:-see $logs/crossval.log}")
    status=1
  else
    rows+=("$name|pass|gpu|$summary")
  fi
}

if ((found_gpu_device)); then
  if [[ -d "$models" ]]; then
    for model in "$models"/*.gguf; do
      base="$(basename "$model" .gguf)"
      load_verify "load $base" "$model"
      load_verify "lazy $base" "$model" --load-mode lazy --lazy-budget 2 --touch 1
    done
    references="${REFERENCE_DIR:-$repo/../shared/reference}"
    for reference in "$references"/*.*.json; do
      base="$(basename "$reference" .json)"
      model="$models/${base%.*}.gguf"
      [[ -f "$model" ]] || continue
      crossval_gpu "crossval gpu $base" "$model" "$reference" --policy gpu-first
      layers="$("$build/bin/switchyard" inspect -m "$model" --format json 2>/dev/null |
        grep -oE '"block_count": [0-9]+' | grep -oE '[0-9]+$')"
      crossval_gpu "crossval half $base" "$model" "$reference" --policy gpu-first --n-gpu-layers "$(((${layers:-2} + 1) / 2))"
    done
  else
    log "no models in $models (set MODELS_DIR): loads and crossval not checked"
  fi
  # 4. Benchmarks: numbers in $logs/bench*.log and a row each; none of them fails the check.
  gpu_device="$(grep -m1 -oE '(cuda|rocm):[0-9]+' "$logs/devices.log" 2>/dev/null)"
  if [[ -x "$build/bin/bench_ops" && -n "$gpu_device" ]] && (($(remaining) > 90)); then
    for gpu in "${gpu_plugins[@]}"; do
      [[ "$gpu_device" == "$gpu":* ]] || continue
      if timeout "$(($(remaining) - 60))" "$build/bin/bench_ops" --plugin "$plugins_dir/libswitchyard-$gpu.so" \
        --device "$gpu_device" --types q4_0,q8_0,q4_K,q6_K,f16 --mib 256 --tokens 512 --runs 7 \
        >"$logs/bench_ops.log" 2>&1; then
        rows+=("bench_ops $gpu_device|numbers|$gpu_device|see $logs/bench_ops.log")
      else
        rows+=("bench_ops $gpu_device|no numbers|$gpu_device|see $logs/bench_ops.log")
      fi
      cat "$logs/bench_ops.log" >&2
    done
  else
    log "bench_ops not built or no GPU device named in $logs/devices.log, or too little time left: no kernel figures"
  fi
  for model in ${BENCH_MODELS:-}; do
    base="$(basename "$model" .gguf)"
    layers="$("$build/bin/switchyard" inspect -m "$model" --format json 2>/dev/null |
      grep -oE '"block_count": [0-9]+' | grep -oE '[0-9]+$')"
    for placement in "gpu:--policy gpu-first" "half:--policy gpu-first --n-gpu-layers $(((${layers:-2} + 1) / 2))"; do
      (($(remaining) > 60)) || { log "no time left for the bench of $base"; break 2; }
      # shellcheck disable=SC2086  # the placement's flags are words
      if timeout "$(($(remaining) - 30))" "$build/bin/switchyard" bench -m "$model" -p 512 -n 128 -r 3 \
        --plugin-path "$plugins_dir" ${placement#*:} >"$logs/bench-$base-${placement%%:*}.log" 2>&1; then
        rows+=("bench $base ${placement%%:*}|numbers|${placement#*:}|see $logs/bench-$base-${placement%%:*}.log")
      else
        rows+=("bench $base ${placement%%:*}|no numbers|${placement#*:}|see $logs/bench-$base-${placement%%:*}.log")
      fi
      cat "$logs/bench-$base-${placement%%:*}.log" >&2
    done
  done
fi
{
  printf '\n%-32s %-14s %-20s %s\n' run result devices summary
  for row in "${rows[@]}"; do
    IFS='|' read -r name result devices summary <<<"$row"
    printf '%-32s %-14s %-20s %s\n' "$name" "$result" "$devices" "$summary"
  done
} | tee -a "$logs/gpu-check.log"
# A GPU machine without a working GPU plugin is a failure of this check.
if ((found_gpu_device == 0)); then
  log "no GPU plugin found a device (see $logs/devices.log)"
  status=1
fi
log "done in ${SECONDS}s"
exit $status

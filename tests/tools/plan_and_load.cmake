# switchyard plan / load end to end: shipped configs, JSON reports, provenance, lazy streaming on simdev, and one
# clear message (exit 2) per class of configuration error.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run expected_exit)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL expected_exit)
    message(FATAL_ERROR "${ARGN}: exit ${rc}, expected ${expected_exit}\nstdout: ${out}\nstderr: ${err}")
  endif()
  set(output "${out}${err}" PARENT_SCOPE)
endfunction()

function(expect_match pattern)
  if(NOT output MATCHES "${pattern}")
    message(FATAL_ERROR "expected output matching '${pattern}', got:\n${output}")
  endif()
endfunction()

# Every shipped config plans on this machine (GPU configs fall back to the CPU when no GPU is present).
file(GLOB configs ${CONFIGS}/*.json)
foreach(config ${configs})
  if(config MATCHES "schema.json$")
    continue()
  endif()
  run(0 ${SWITCHYARD} plan -m ${MODEL} --config ${config})
  expect_match("(→|->) cpu")  # ASCII under a locale that is not UTF-8
endforeach()

run(0 ${SWITCHYARD} plan -m ${MODEL} --config ${CONFIGS}/cpu.json --format json)
expect_match("\"schema\": \"switchyard.plan/1\"")
expect_match("\"policy\": \"cpu\"")

# A CPU-only load copies no weight: every byte is adopted from the mapping.
run(0 ${SWITCHYARD} load -m ${MODEL} --policy cpu --format json)
expect_match("\"schema\": \"switchyard.load/1\"")
expect_match("\"copied_bytes\": 0,")
expect_match("\"zero_copy_bytes\": 1171200")

# Provenance: file, then environment, then flags.
run(0 ${CMAKE_COMMAND} -E env SWITCHYARD_SEED=7 SWITCHYARD_THREADS=3
    ${SWITCHYARD} plan -m ${MODEL} --config ${CONFIGS}/cpu.json --threads 2 --print-config)
expect_match("runtime.threads = 2 +\\(flag --threads\\)")
expect_match("runtime.seed = 7 +\\(env SWITCHYARD_SEED\\)")
expect_match("placement.policy = \"cpu\" +\\(file ")
expect_match("sampling.top_k = 40 +\\(default\\)")

# Lazy mode streams a 13 MB model through an 8 MiB simulated GPU with a 4 MiB cache, used twice over.
run(0 ${CMAKE_COMMAND} -E env SWITCHYARD_SIMDEV=1x8MiB
    ${SWITCHYARD} load -m ${MODEL_13MB} --plugin-path ${SIMDEV} --policy gpu-first --load-mode lazy --lazy-budget 4
    --ctx-size 16 --batch-size 2 --touch 2)
expect_match("cache simdev:0 +budget 4.0 MiB")
expect_match("simdev:0 +3[0-9] tensors")
expect_match("evictions [1-9]")

# --verify reads every tensor back: identical after uploads through the staging halves, conversions included
# (simdev stores no Q5_0, so the q4mix model's Q5_0 embedding, placed there with --device, is converted on upload);
# a corrupted upload is caught, named, exit 1.
run(0 ${CMAKE_COMMAND} -E env SWITCHYARD_SIMDEV=1x64MiB
    ${SWITCHYARD} load -m ${MODEL_CONVERTED} --plugin-path ${SIMDEV} --device simdev --ctx-size 16 --batch-size 2
    --verify --format json)
expect_match("\"converted_tensors\": [1-9]")
expect_match("\"verify\": {\n *\"tensors\": 48,")
expect_match("\"mismatches\": \\[\\]")
run(1 ${CMAKE_COMMAND} -E env SWITCHYARD_SIMDEV=1x64MiB SWITCHYARD_SIMDEV_CORRUPT_UPLOAD=100
    ${SWITCHYARD} load -m ${MODEL} --plugin-path ${SIMDEV} --policy gpu-first --ctx-size 16 --batch-size 2 --verify)
expect_match("MISMATCH blk.4.ffn_gate.weight on simdev:0: byte 100 of 44032 differs from the file")

# Configuration errors: each names the key path (or variable), the value and what is allowed; exit 2.
file(WRITE ${WORK_DIR}/typo.json "{\"placement\": {\"polcy\": \"cpu\"}}")
run(2 ${SWITCHYARD} plan -m ${MODEL} --config ${WORK_DIR}/typo.json)
expect_match("unknown key 'placement.polcy'; did you mean 'placement.policy'\\?")
file(WRITE ${WORK_DIR}/type.json "{\"runtime\": {\"threads\": \"four\"}}")
run(2 ${SWITCHYARD} plan -m ${MODEL} --config ${WORK_DIR}/type.json)
expect_match("'runtime.threads' is a string \\(\"four\"\\), expected an integer")
file(WRITE ${WORK_DIR}/range.json "{\"sampling\": {\"temperature\": -1}}")
run(2 ${SWITCHYARD} plan -m ${MODEL} --config ${WORK_DIR}/range.json)
expect_match("'sampling.temperature' is -1, below the minimum 0")
file(WRITE ${WORK_DIR}/device.json "{\"placement\": {\"overrides\": [{\"pattern\": \"ffn\", \"device\": \"cuda:7\"}]}}")
run(2 ${SWITCHYARD} plan -m ${MODEL} --config ${WORK_DIR}/device.json)
expect_match("'placement.overrides\\[0\\].device' is \"cuda:7\", a device that does not exist")
file(WRITE ${WORK_DIR}/regex.json "{\"placement\": {\"overrides\": [{\"pattern\": \"blk.(\", \"device\": \"cpu\"}]}}")
run(2 ${SWITCHYARD} plan -m ${MODEL} --config ${WORK_DIR}/regex.json)
expect_match("not a valid regular expression")
run(2 ${CMAKE_COMMAND} -E env SWITCHYARD_THREADS=lots ${SWITCHYARD} plan -m ${MODEL})
expect_match("env SWITCHYARD_THREADS: 'lots' is not a non-negative integer")
run(2 ${SWITCHYARD} plan -m ${MODEL} --require-device cuda)
expect_match("cuda")

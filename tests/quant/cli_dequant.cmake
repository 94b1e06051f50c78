# `switchyard dequant --sha256` against reference/dequant.jsonl, run with cmake -P. With QUANTIZE_FROM set, first
# quantizes that model with `switchyard quantize --type QUANTIZE_TYPE` and fingerprints the result instead, which
# must match MODEL's reference lines: the CLI's quantizer reproduces llama-quantize's tensors end to end.
# Variables: SWITCHYARD, SHARED_DIR, MODEL (as in the reference, e.g. models/x.gguf), WORK_DIR, [QUANTIZE_FROM,
# QUANTIZE_TYPE, QUANTIZE_ARGS: more quantize options separated by commas, e.g. --output-type=q6_K].
set(target ${MODEL})
if(QUANTIZE_FROM)
  set(target ${WORK_DIR}/quantized-${QUANTIZE_TYPE}.gguf)
  string(REPLACE "," ";" extra_args "${QUANTIZE_ARGS}")
  execute_process(COMMAND ${SWITCHYARD} quantize -m ${QUANTIZE_FROM} -o ${target} --type ${QUANTIZE_TYPE} ${extra_args}
                  WORKING_DIRECTORY ${SHARED_DIR} RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "switchyard quantize ${QUANTIZE_FROM} --type ${QUANTIZE_TYPE}: exit ${rc}\n${err}")
  endif()
endif()

execute_process(COMMAND ${SWITCHYARD} dequant -m ${target} --sha256 WORKING_DIRECTORY ${SHARED_DIR}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "switchyard dequant -m ${target} --sha256: exit ${rc}\n${err}")
endif()

# Lines hold no ';', so CMake lists of lines are safe. The model key differs for a quantized copy: compare the rest.
string(REGEX REPLACE "\n$" "" out "${out}")
string(REPLACE "\n" ";" actual "${out}")
file(STRINGS ${SHARED_DIR}/reference/dequant.jsonl reference)
set(expected)
foreach(line IN LISTS reference)
  if(line MATCHES "^{\"model\":\"${MODEL}\",")
    list(APPEND expected "${line}")
  endif()
endforeach()
list(LENGTH expected n_expected)
if(n_expected EQUAL 0)
  message(FATAL_ERROR "no reference lines for ${MODEL} in ${SHARED_DIR}/reference/dequant.jsonl")
endif()
list(TRANSFORM expected REPLACE "^{\"model\":\"[^\"]*\"," "{")
list(TRANSFORM actual REPLACE "^{\"model\":\"[^\"]*\"," "{")
list(SORT expected)
list(SORT actual)
foreach(line IN LISTS expected)
  list(FIND actual "${line}" found)
  if(found EQUAL -1)
    message(FATAL_ERROR "${target}: no output line equals the reference line\n  ${line}\noutput:\n${out}")
  endif()
endforeach()
list(LENGTH actual n_actual)
if(NOT n_actual EQUAL n_expected)
  message(FATAL_ERROR "${target}: ${n_actual} lines, the reference has ${n_expected}")
endif()
message(STATUS "${target}: all ${n_expected} tensors match the reference")

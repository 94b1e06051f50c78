# switchyard quantize as a user sees it: a size summary on success, errors that name the file asked for (not its
# temporary), and general.alignment kept when the input spells it out.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND ${SWITCHYARD} quantize -m ${MODEL} -o ${WORK_DIR}/out.gguf --type q8_0
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "out\\.gguf: [0-9]+ tensors, [0-9.]+ MiB -> [0-9.]+ MiB \\([0-9]\\.[0-9][0-9] bits per weight\\), mostly q8_0")
  message(FATAL_ERROR "quantize printed no size summary (exit ${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${SWITCHYARD} inspect --format json -m ${WORK_DIR}/out.gguf OUTPUT_VARIABLE inspected)
if(NOT inspected MATCHES "\"key\": \"general.alignment\"")
  message(FATAL_ERROR "quantize dropped general.alignment:\n${inspected}")
endif()
execute_process(COMMAND ${SWITCHYARD} quantize -m ${MODEL} -o ${WORK_DIR}/no-such-dir/out.gguf --type q8_0
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "^error: [^\n]*no-such-dir/out\\.gguf: cannot create")
  message(FATAL_ERROR "a failed write does not name the output file (exit ${rc}):\n${err}")
endif()

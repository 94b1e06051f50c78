# A model that shrinks while mapped (another process truncates it): dequant, load --verify and quantize each stop
# with "MODEL changed while being read (now N bytes, was M)" and exit 1, leaving no partial output: no cut JSON line
# on stdout, no output or temporary file. Before, each died of SIGBUS without a word, mid-line or beside a partial
# temporary. The shim (truncate_on_map.c) truncates the model right after it is mapped.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
file(SIZE ${MODEL} model_size)
math(EXPR half "${model_size} / 2")

function(run_truncated expected_stdout_lines)
  configure_file(${MODEL} ${WORK_DIR}/model.gguf COPYONLY)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env LD_PRELOAD=${SHIM} TRUNCATE_ON_MAP=${WORK_DIR}/model.gguf
                          TRUNCATE_TO=${half} ${SWITCHYARD} ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
  if(NOT rc EQUAL 1)
    message(FATAL_ERROR "switchyard ${ARGN}: exit ${rc}, expected 1\nstdout: ${out}\nstderr: ${err}")
  endif()
  if(NOT err MATCHES "error: ${WORK_DIR}/model.gguf changed while being read \\(now ${half} bytes, was ${model_size} bytes\\)")
    message(FATAL_ERROR "switchyard ${ARGN}: no 'changed while being read' sentence:\n${err}")
  endif()
  string(LENGTH "${out}" length)
  if(length GREATER 0)
    string(REGEX MATCH "\n$" ends_whole "${out}")
    if(NOT ends_whole)
      message(FATAL_ERROR "switchyard ${ARGN}: stdout ends mid-line:\n${out}")
    endif()
  endif()
endfunction()

run_truncated(0 dequant -m ${WORK_DIR}/model.gguf --sha256)
run_truncated(0 load -m ${WORK_DIR}/model.gguf --verify --device cpu)
run_truncated(0 quantize -m ${WORK_DIR}/model.gguf -o ${WORK_DIR}/out.gguf --type q8_0)
file(GLOB left ${WORK_DIR}/*)
if(NOT left STREQUAL "${WORK_DIR}/model.gguf")
  message(FATAL_ERROR "quantize left files behind: ${left}")
endif()

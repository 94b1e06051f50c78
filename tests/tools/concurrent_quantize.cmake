# Two quantizes to one output at the same time: each writes its own temporary, so the output always holds one
# run's complete file (never one run's data followed by the other's, as with the shared OUT.tmp), and nothing is
# left beside it. Each run ends with exit 0 or with the "replaced by another writer" error.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
foreach(type q8_0 q4_0)
  execute_process(COMMAND ${SWITCHYARD} quantize -m ${MODEL} -o ${WORK_DIR}/${type}.gguf --type ${type} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "reference quantize to ${type} failed")
  endif()
  file(SHA256 ${WORK_DIR}/${type}.gguf sha_${type})
endforeach()

foreach(round RANGE 1 6)
  # Commands of one execute_process run concurrently (as a pipeline); each one's summary on stdout goes to
  # /dev/null, since the next command in the pipeline does not read it (and the writer would get SIGPIPE).
  execute_process(COMMAND sh -c "exec \"$0\" \"$@\" > /dev/null" ${SWITCHYARD} quantize -m ${MODEL}
                          -o ${WORK_DIR}/out.gguf --type q8_0
                  COMMAND sh -c "exec \"$0\" \"$@\" > /dev/null" ${SWITCHYARD} quantize -m ${MODEL}
                          -o ${WORK_DIR}/out.gguf --type q4_0
                  RESULTS_VARIABLE codes ERROR_VARIABLE err TIMEOUT 300)
  foreach(code ${codes})
    if(NOT code EQUAL 0 AND NOT err MATCHES "was replaced by another writer")
      message(FATAL_ERROR "round ${round}: a quantize failed (${codes}): ${err}")
    endif()
  endforeach()
  file(SHA256 ${WORK_DIR}/out.gguf sha_out)
  if(NOT sha_out STREQUAL sha_q8_0 AND NOT sha_out STREQUAL sha_q4_0)
    message(FATAL_ERROR "round ${round}: the output is neither run's file (mixed or partial)")
  endif()
  file(GLOB left RELATIVE ${WORK_DIR} ${WORK_DIR}/.* ${WORK_DIR}/*)
  list(SORT left)
  if(NOT left STREQUAL "out.gguf;q4_0.gguf;q8_0.gguf")
    message(FATAL_ERROR "round ${round}: files left behind: ${left}")
  endif()
endforeach()

# The embedding API as an embedder uses it: install Switchyard to a fresh prefix, build examples/embed against it
# with find_package, and run it on the shared model.
file(REMOVE_RECURSE ${PREFIX} ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed:\n${out}${err}")
endif()
# A sanitizer build's library needs the sanitizers' runtime in the program that loads it.
set(sanitize_flags)
if(SANITIZE)
  set(sanitize_flags -DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE} -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE})
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/embed -B ${WORK_DIR} -G Ninja
                        -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_CXX_COMPILER=${CXX_COMPILER} ${sanitize_flags}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the example against the install failed:\n${out}${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the example failed:\n${out}${err}")
endif()
# No plugin path and no environment: the library finds the plugins installed beside it.
execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=SWITCHYARD_PLUGIN_PATH ${WORK_DIR}/embed ${MODEL}
                        "Once upon a time" ${TEXT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the example failed (exit ${rc}):\n${out}${err}")
endif()
foreach(expected "architecture llama, 48 tensors on cpu"
                 "Once upon a time, there was a little girl named Lily"
                 "stop cancelled after 20 tokens" "perplexity 4.13" "logits 512")
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the example's output lacks '${expected}':\n${out}${err}")
  endif()
endforeach()
# A missing model is the project's error type with its code.
execute_process(COMMAND ${WORK_DIR}/embed ${WORK_DIR}/missing.gguf "x" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 1 OR NOT err MATCHES "error \\((io|not_found)\\)")
  message(FATAL_ERROR "a missing model should fail with the error type's code, got exit ${rc}:\n${out}${err}")
endif()

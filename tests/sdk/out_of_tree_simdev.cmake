# Run by CTest with cmake -P: installs the SDK component of the build tree to a fresh prefix, builds the simdev
# example against that prefix alone, then runs the conformance suite on it, with and without injected faults.
# Inputs (-D): BUILD_DIR, SOURCE_DIR, WORK_DIR, CONFORMANCE, CXX_COMPILER, GENERATOR.
file(REMOVE_RECURSE "${WORK_DIR}")

function(run_step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${name} failed (${result}):\n${output}")
  endif()
  set(step_output "${output}" PARENT_SCOPE)
endfunction()

run_step("SDK install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --component sdk --prefix "${WORK_DIR}/prefix")
run_step("simdev configure" ${CMAKE_COMMAND} -S "${SOURCE_DIR}/sdk/examples/simdev" -B "${WORK_DIR}/build"
         -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
         -DCMAKE_BUILD_TYPE=)  # no optimisation: the test checks correctness, and compiles faster
run_step("simdev build" ${CMAKE_COMMAND} --build "${WORK_DIR}/build")
if(step_output MATCHES "warning:")
  message(FATAL_ERROR "simdev built with warnings against the installed SDK:\n${step_output}")
endif()
set(plugin "${WORK_DIR}/build/libswitchyard-simdev.so")
# The SDK component carries the conformance suite, and switchyard_add_plugin(... INSTALL) puts the plugin where an
# installed switchyard looks for it.
if(NOT EXISTS "${WORK_DIR}/prefix/bin/switchyard-conformance")
  message(FATAL_ERROR "the SDK install component lacks bin/switchyard-conformance")
endif()
run_step("simdev install" ${CMAKE_COMMAND} --install "${WORK_DIR}/build" --prefix "${WORK_DIR}/plugin-prefix")
if(NOT EXISTS "${WORK_DIR}/plugin-prefix/lib/switchyard/plugins/libswitchyard-simdev.so")
  message(FATAL_ERROR "switchyard_add_plugin(... INSTALL) did not install to lib/switchyard/plugins")
endif()

run_step("conformance on simdev" ${CMAKE_COMMAND} -E env SWITCHYARD_SIMDEV=2x64MiB
         "${CONFORMANCE}" --require-device "${plugin}")
message("${step_output}")
if(NOT step_output MATCHES "device simdev:0" OR NOT step_output MATCHES "device simdev:1")
  message(FATAL_ERROR "conformance did not see both simulated devices")
endif()

# simdev speaks the header's ABI (1.5). ABI 1.3's and 1.4's additions are checked on it as it is (events across its
# two devices, step values, its enforced alignment, rope scaling) and with an attention context limit; as an ABI 1.2
# plugin it must still pass what 1.2 had.
if(NOT step_output MATCHES "ABI 1\\.5,")
  message(FATAL_ERROR "conformance did not run simdev at ABI 1.5:\n${step_output}")
endif()
run_step("conformance on simdev with an attention limit" ${CMAKE_COMMAND} -E env SWITCHYARD_SIMDEV=2x64MiB
         SWITCHYARD_SIMDEV_MAX_CONTEXT=64 "${CONFORMANCE}" --require-device --verbose "${plugin}")
if(NOT step_output MATCHES "ok    simdev:0 attention past max_attention_context" OR
   NOT step_output MATCHES "ok    simdev:0 step values: attention at position 2" OR
   NOT step_output MATCHES "ok    simdev:0 stream_wait_event orders the second stream" OR
   NOT step_output MATCHES "ok    simdev:0 -> simdev:1 hand-off by event" OR
   NOT step_output MATCHES "ok    simdev:0 offset off buffer_alignment refused" OR
   NOT step_output MATCHES "ok    simdev:0 rope scaling yarn x8 with freq factors" OR
   NOT step_output MATCHES "ok    simdev:0 rope_neox scaling freq factors only")
  message(FATAL_ERROR "conformance skipped an ABI 1.3 or 1.4 check on simdev:\n${step_output}")
endif()
run_step("conformance on simdev speaking ABI 1.2" ${CMAKE_COMMAND} -E env SWITCHYARD_SIMDEV=2x64MiB
         SWITCHYARD_SIMDEV_ABI=1.2 "${CONFORMANCE}" --require-device "${plugin}")
if(NOT step_output MATCHES "ABI 1\\.2,")
  message(FATAL_ERROR "simdev did not negotiate ABI 1.2 when asked to:\n${step_output}")
endif()

# The suite must notice a device that lies about free memory and one whose allocations fail.
foreach(fault "SWITCHYARD_SIMDEV_LIE_FREE=1GiB" "SWITCHYARD_SIMDEV_FAIL_ALLOC_AFTER=4096")
  execute_process(COMMAND ${CMAKE_COMMAND} -E env SWITCHYARD_SIMDEV=1x64MiB ${fault} "${CONFORMANCE}" "${plugin}"
                  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(result EQUAL 0)
    message(FATAL_ERROR "conformance passed a simdev with ${fault}; it should have failed:\n${output}")
  endif()
endforeach()

# Without SWITCHYARD_SIMDEV the plugin loads nowhere (probe score 0), and the suite says why.
execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=SWITCHYARD_SIMDEV "${CONFORMANCE}" "${plugin}"
                RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(result EQUAL 0 OR NOT output MATCHES "SWITCHYARD_SIMDEV is not set")
  message(FATAL_ERROR "an unconfigured simdev should be skipped with its reason:\n${output}")
endif()

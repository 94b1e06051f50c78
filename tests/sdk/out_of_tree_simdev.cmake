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

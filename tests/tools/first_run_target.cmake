# `scripts/dev.sh run` builds only the target cli_and_plugins: it must bring the switchyard binary and the CPU plugin
# (and every other plugin this build configures), and nothing of the test suite or the benchmarks.
execute_process(COMMAND ${NINJA} -C ${BUILD_DIR} -t query cli_and_plugins RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ninja -t query cli_and_plugins failed (${rc}): ${out}${err}")
endif()
foreach(wanted bin/switchyard lib/switchyard/plugins/libswitchyard-cpu.so ${PLUGINS})
  string(FIND "${out}" "${wanted}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "cli_and_plugins does not build ${wanted}:\n${out}")
  endif()
endforeach()
if(out MATCHES "_test|bench_")
  message(FATAL_ERROR "cli_and_plugins builds tests or benchmarks:\n${out}")
endif()

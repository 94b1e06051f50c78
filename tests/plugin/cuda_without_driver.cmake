# On a machine without the NVIDIA driver, the CUDA plugin loads with no device and says so in those words (the
# CUDA runtime's own text is "driver version is insufficient"). Skipped where the driver is installed.
execute_process(COMMAND ldconfig -p OUTPUT_VARIABLE libraries)
if(libraries MATCHES "libcuda\\.so\\.1")
  message("the NVIDIA driver is installed here: nothing to check")
  return()
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E env SWITCHYARD_PLUGIN_PATH= ${SWITCHYARD} devices --plugin-path ${PLUGIN}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "loaded +cuda [^\n]*\n +0 devices; probe score 1: no NVIDIA driver found")
  message(FATAL_ERROR "the CUDA plugin without a driver (exit ${rc}):\n${out}${err}")
endif()

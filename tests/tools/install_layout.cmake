# Installs the build tree to a fresh prefix and checks the layout the README promises.
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed:\n${out}${err}")
endif()
foreach(path bin/switchyard bin/switchyard-conformance lib/switchyard/plugins/libswitchyard-cpu.so
             include/switchyard/plugin.h lib/cmake/SwitchyardSDK/SwitchyardSDKConfig.cmake
             share/bash-completion/completions/switchyard)
  if(NOT EXISTS ${PREFIX}/${path})
    message(FATAL_ERROR "the install lacks ${path}")
  endif()
endforeach()
execute_process(COMMAND ${PREFIX}/bin/switchyard devices --format json
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "\"origin\": \"install\",[^}]*\"loaded\": true")
  message(FATAL_ERROR "the installed switchyard did not load its CPU plugin from the install:\n${out}${err}")
endif()
# Only its own prefix: an installed switchyard used to search the build tree it was built in as well.
if(out MATCHES "\"origin\": \"build tree\"" OR out MATCHES "${BUILD_DIR}/lib/switchyard")
  message(FATAL_ERROR "the installed switchyard searches the build tree:\n${out}")
endif()

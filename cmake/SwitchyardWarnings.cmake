# Warnings and sanitizers applied to every Switchyard target through one interface library.
add_library(switchyard_options INTERFACE)
target_compile_options(switchyard_options INTERFACE
  $<$<COMPILE_LANGUAGE:C,CXX>:-Wall -Wextra -Wpedantic -Wshadow>)
if(SWITCHYARD_WERROR)
  target_compile_options(switchyard_options INTERFACE $<$<COMPILE_LANGUAGE:C,CXX>:-Werror>)
endif()
if(SWITCHYARD_SANITIZE)
  # C and C++ only: nvcc rejects these flags, and device code cannot be sanitized this way anyway.
  target_compile_options(switchyard_options INTERFACE
    $<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=${SWITCHYARD_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all>)
  target_link_options(switchyard_options INTERFACE -fsanitize=${SWITCHYARD_SANITIZE})
endif()

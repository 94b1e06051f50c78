# Warnings and sanitizers applied to every Switchyard target through one interface library.
add_library(switchyard_options INTERFACE)
target_compile_options(switchyard_options INTERFACE
  $<$<COMPILE_LANGUAGE:C,CXX>:-Wall -Wextra -Wpedantic -Wshadow>)
# GCC 12 at -O3 reports string concatenation and vector fills as overlapping or overflowing copies of ~2^63
# bytes (GCC bugs 105329 and 105651, fixed in GCC 13): false positives that would fail a Release build with
# -Werror. Real overruns are the sanitizer builds' job (ASan, UBSan, with clang).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
   AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(switchyard_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict -Wno-stringop-overflow>)
endif()
if(SWITCHYARD_WERROR)
  target_compile_options(switchyard_options INTERFACE $<$<COMPILE_LANGUAGE:C,CXX>:-Werror>)
endif()
if(SWITCHYARD_SANITIZE)
  # C and C++ only: nvcc rejects these flags, and device code cannot be sanitized this way anyway.
  target_compile_options(switchyard_options INTERFACE
    $<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=${SWITCHYARD_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all>)
  target_link_options(switchyard_options INTERFACE -fsanitize=${SWITCHYARD_SANITIZE})
endif()

# load --report's peak resident memory covers every phase: --verify reads the whole model back (its pages become
# resident), so the peak with --verify exceeds the peak without it by about the file's size. It used to be taken
# before the verify phase, so both were the same.
function(peak_of out_var)
  execute_process(COMMAND ${SWITCHYARD} load -m ${MODEL} --device cpu --format json ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_QUIET TIMEOUT 120)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "load ${ARGN} failed: ${out}")
  endif()
  string(JSON peak GET "${out}" peak_resident_bytes)
  set(${out_var} ${peak} PARENT_SCOPE)
endfunction()
peak_of(plain)
peak_of(verified --verify)
file(SIZE ${MODEL} size)
math(EXPR grown "${verified} - ${plain}")
math(EXPR wanted "${size} / 2")
if(grown LESS wanted)
  message(FATAL_ERROR "peak with --verify (${verified}) is not above the peak without it (${plain}) by half the "
                      "model's ${size} bytes: the verify phase is not counted")
endif()

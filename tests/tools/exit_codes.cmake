# Exit codes documented in the README: 0 valid, 1 findings (malformed model), 2 usage or I/O error.
function(expect_exit code)
  execute_process(COMMAND ${SWITCHYARD} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL code)
    message(FATAL_ERROR "switchyard ${ARGN}: exit ${rc}, expected ${code}\nstdout: ${out}\nstderr: ${err}")
  endif()
  set(last_output "${out}${err}" PARENT_SCOPE)
endfunction()

file(WRITE ${WORK_DIR}/not-a-model.gguf "this is not a GGUF file at all, just text")
expect_exit(1 validate -m ${WORK_DIR}/not-a-model.gguf)
if(NOT last_output MATCHES "bad_magic")
  message(FATAL_ERROR "validate did not name the bad magic: ${last_output}")
endif()
expect_exit(1 inspect -m ${WORK_DIR}/not-a-model.gguf)
expect_exit(2 validate -m ${WORK_DIR}/does-not-exist.gguf)
if(NOT last_output MATCHES "does-not-exist.gguf: cannot open")
  message(FATAL_ERROR "the I/O error does not name the file: ${last_output}")
endif()
expect_exit(2 inspect --format yaml)
expect_exit(2 no-such-command)
expect_exit(0 --help)
expect_exit(0 inspect --help)

# inspect still shows what the header holds when the tensor table has problems, lists them, and exits 1.
find_program(PYTHON3 python3)
if(PYTHON3)
  execute_process(COMMAND ${PYTHON3} -c [[
import struct, sys
def s(t): return struct.pack('<Q', len(t)) + t.encode()
out = b'GGUF' + struct.pack('<IQQ', 3, 1, 1) + s('general.architecture') + struct.pack('<I', 8) + s('llama')
out += s('a') + struct.pack('<I', 1) + struct.pack('<Q', 32) + struct.pack('<I', 0) + struct.pack('<Q', 4)
out += b'\0' * (-len(out) % 32) + b'\0' * 256
open(sys.argv[1], 'wb').write(out)
]] ${WORK_DIR}/misaligned.gguf)
  expect_exit(1 inspect -m ${WORK_DIR}/misaligned.gguf)
  if(NOT last_output MATCHES "architecture +llama" OR NOT last_output MATCHES "problem: \\[offset_misaligned\\]")
    message(FATAL_ERROR "inspect of a file with a misaligned tensor did not show its header and the problem:\n"
                        "${last_output}")
  endif()
endif()

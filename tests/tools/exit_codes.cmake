# Exit codes documented in the README: 0 valid, 1 findings (malformed model), 2 usage or I/O error.
function(expect_exit code)
  # The timeout turns a command that blocks (on a FIFO, say) into a failure instead of a hung test.
  execute_process(COMMAND ${SWITCHYARD} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
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

# A FIFO or a device where a file is expected is refused before it is opened: `validate -m FIFO`
# used to block forever waiting for a writer.
file(REMOVE ${WORK_DIR}/input.fifo)
execute_process(COMMAND mkfifo ${WORK_DIR}/input.fifo RESULT_VARIABLE mkfifo_rc)
if(NOT mkfifo_rc EQUAL 0)
  message(FATAL_ERROR "mkfifo failed")
endif()
expect_exit(2 validate -m ${WORK_DIR}/input.fifo)
if(NOT last_output MATCHES "input.fifo: is a FIFO \\(named pipe\\), not a regular file")
  message(FATAL_ERROR "validate -m FIFO does not say it is a FIFO: ${last_output}")
endif()
expect_exit(2 inspect -m /dev/zero)
if(NOT last_output MATCHES "/dev/zero: is a character device, not a regular file")
  message(FATAL_ERROR "inspect -m /dev/zero does not say it is a device: ${last_output}")
endif()
expect_exit(2 plan -m ${MODEL} --config ${WORK_DIR}/input.fifo)
if(NOT last_output MATCHES "input.fifo: is a FIFO \\(named pipe\\), not a regular file \\(expected the run configuration\\)")
  message(FATAL_ERROR "plan --config FIFO does not say it is a FIFO: ${last_output}")
endif()
# A configuration past 16 MiB is refused with its size before it is read.
file(WRITE ${WORK_DIR}/huge-config.json "{}")
execute_process(COMMAND truncate -s 17M ${WORK_DIR}/huge-config.json)
expect_exit(2 plan -m ${MODEL} --config ${WORK_DIR}/huge-config.json)
if(NOT last_output MATCHES "the run configuration is 17.0 MiB \\(17825792 bytes\\), more than the 16.0 MiB allowed")
  message(FATAL_ERROR "a 17 MiB config is not refused with its size: ${last_output}")
endif()
file(REMOVE ${WORK_DIR}/huge-config.json ${WORK_DIR}/input.fifo)
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

# Metadata that is not UTF-8 (and holds an escape sequence) is escaped in JSON output: inspect --format json used
# to fail with "[json.exception.type_error.316] invalid UTF-8 byte", naming neither file nor key.
execute_process(COMMAND python3 -c [=[
import struct, sys
def s(b): return struct.pack('<Q', len(b)) + b
kv = [(b'general.architecture', s(b'llama')), (b'general.name', s(b'bad\xff\x1b[31mname'))]
out = b'GGUF' + struct.pack('<IQQ', 3, 0, len(kv)) + b''.join(s(k) + struct.pack('<I', 8) + v for k, v in kv)
open(sys.argv[1], 'wb').write(out)
]=] ${WORK_DIR}/not-utf8.gguf RESULT_VARIABLE python_rc)
if(NOT python_rc EQUAL 0)
  message(FATAL_ERROR "could not write not-utf8.gguf")
endif()
expect_exit(0 inspect -m ${WORK_DIR}/not-utf8.gguf --format json)
if(NOT last_output MATCHES "\"value\": \"bad\\\\\\\\xff\\\\u001b\\[31mname\"")
  message(FATAL_ERROR "inspect --format json does not escape the invalid byte: ${last_output}")
endif()

# Text from model files and plugins reaches a terminal escaped: a GGUF whose name, architecture, keys and tokens hold
# escape sequences, newlines and bytes that are not UTF-8, and a plugin whose strings do, can neither drive the
# terminal nor forge a line of output (they used to be printed as they were in inspect, validate, plan, devices and
# errors).
string(ASCII 27 esc)
function(run_switchyard)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env SWITCHYARD_PLUGIN_PATH= NO_COLOR=1 ${SWITCHYARD} ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr TIMEOUT 60)
  set(out "${stdout}${stderr}")
  string(FIND "${out}" "${esc}" at)
  # A forged line starts where only the program's own lines should.
  if(rc GREATER 2 OR NOT at EQUAL -1 OR out MATCHES "(^|\n)(forged|error: forged|\\[error\\] forged|  loaded   cpu 1 )")
    message(FATAL_ERROR "switchyard ${ARGN} (exit ${rc}) let a control character or a forged line through:\n${out}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()
function(expect_text text)
  string(FIND "${last_output}" "${text}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "expected '${text}' in:\n${last_output}")
  endif()
endfunction()

execute_process(COMMAND python3 -c [=[
import struct, sys
def s(b): return struct.pack('<Q', len(b)) + b
def string(b): return struct.pack('<I', 8) + s(b)
def write(path, kv):
    out = b'GGUF' + struct.pack('<IQQ', 3, 0, len(kv)) + b''.join(s(k) + v for k, v in kv)
    open(path, 'wb').write(out)
tokens = [b'<s>', b'\x1b[31mred', b'line\nforged token']
write(sys.argv[1], [
    (b'general.architecture', string(b'llama')),
    (b'general.name', string(b'bad\x1b[2J\nforged name \xff\xfe')),
    (b'general.description', string(b'left \xe2\x80\xaethgir \xc2\x9b2J')),
    (b'llama.evil\x1b[2J\nforged key', struct.pack('<I', 4) + struct.pack('<I', 7)),
    (b'tokenizer.ggml.model', string(b'llama')),
    (b'tokenizer.ggml.tokens', struct.pack('<IIQ', 9, 8, len(tokens)) + b''.join(s(t) for t in tokens)),
    (b'tokenizer.ggml.bos_token_id', struct.pack('<I', 4) + struct.pack('<I', 1)),
])
write(sys.argv[2], [(b'general.architecture', string(b'lla\x1b[2J\nforged architecture'))])
]=] ${WORK_DIR}/hostile-metadata.gguf ${WORK_DIR}/hostile-architecture.gguf RESULT_VARIABLE python_rc)
if(NOT python_rc EQUAL 0)
  message(FATAL_ERROR "could not write the hostile GGUF files")
endif()

run_switchyard(inspect -m ${WORK_DIR}/hostile-metadata.gguf)
expect_text("name          bad\\x1b[2J\\nforged name \\xff\\xfe")
expect_text("\"left \\u{202e}thgir \\u{9b}2J\"")
expect_text("evil\\x1b[2J\\nforged key")
expect_text("\"\\x1b[31mred\"")
run_switchyard(inspect -m ${WORK_DIR}/hostile-metadata.gguf --full)
expect_text("\"line\\nforged token\"")
run_switchyard(validate -m ${WORK_DIR}/hostile-architecture.gguf)
expect_text("architecture 'lla\\x1b[2J\\nforged architecture'")
run_switchyard(inspect -m ${WORK_DIR}/hostile-architecture.gguf)
expect_text("architecture  lla\\x1b[2J\\nforged architecture")
# An error message may be several lines on purpose: its newlines stay, each line after the first indented under it.
run_switchyard(plan -m ${WORK_DIR}/hostile-architecture.gguf)
expect_text("error: ${WORK_DIR}/hostile-architecture.gguf: architecture 'lla\\x1b[2J\n  forged architecture'")

# A plugin's version, vendor, probe reason and status messages (in `devices` and in the log), and a plugin name
# that would forge lines and is refused.
run_switchyard(devices --plugin-path ${HOSTILE_DIR}/libswitchyard-hostile-text.so
               --plugin-path ${HOSTILE_DIR}/libswitchyard-hostile-name.so --log-level warn)
expect_text("loaded   broken 1\\x1b[8m (tests\\r\\n  loaded   cpu 1 (forged))")
expect_text("probe score 1: ready\\x1b[2J\\x1b[H\\nerror: forged line \\xff\\xfe \\u{202e}")
expect_text("could not be opened: gone\\x1b]0;owned\\x07\\n[error] forged log line")
expect_text("its name 'evil\\x1b[31m\\n  loaded   cpu' cannot name devices")

# The command line's habits: `error:` and a did-you-mean for unknown commands and flags, in the order typed;
# global flags after the subcommand; help and version as commands and flags; llama.cpp's short forms; no model
# of its own; every SWITCHYARD_* variable the sources read listed in --help and the README.
file(MAKE_DIRECTORY ${WORK_DIR})

function(run expected_exit)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=SWITCHYARD_MODEL ${SWITCHYARD} ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL expected_exit)
    message(FATAL_ERROR "switchyard ${ARGN}: exit ${rc}, expected ${expected_exit}\nstdout: ${out}\nstderr: ${err}")
  endif()
  set(stdout "${out}" PARENT_SCOPE)
  set(stderr "${err}" PARENT_SCOPE)
endfunction()

function(expect variable pattern)
  if(NOT "${${variable}}" MATCHES "${pattern}")
    message(FATAL_ERROR "expected ${variable} matching '${pattern}', got:\n${${variable}}")
  endif()
endfunction()

run(2 inpsect -m ${MODEL})
expect(stderr "^error: unknown command 'inpsect'; did you mean 'inspect'\\?")
run(2 inspect -m ${MODEL} --tensor)
expect(stderr "^error: unknown flag '--tensor' for 'switchyard inspect'; did you mean '--tensors'\\?")
run(2 plan -m ${MODEL} --zzz-first --ctx-sise=8)
expect(stderr "^error: unknown flag '--zzz-first' for 'switchyard plan'\nerror: unknown flag '--ctx-sise' for "
              "'switchyard plan'; did you mean '--ctx-size'\\?")
run(2 inspect extra-word -m ${MODEL})
expect(stderr "error: unexpected argument 'extra-word' for 'switchyard inspect'")

# Global flags after the subcommand.
run(0 inspect -m ${MODEL} --log-level error)
run(2 inspect -m ${MODEL} --log-level loud)
expect(stderr "unknown log level 'loud'")

# help and version, as commands and as flags.
run(0 help)
expect(stdout "Usage: switchyard .*inspect.*help.*version")
run(0 help plan)
expect(stdout "--n-gpu-layers")
run(2 help pln)
expect(stderr "error: unknown command 'pln'; did you mean 'plan'\\?")
foreach(form version -V --version)
  run(0 ${form})
  expect(stdout "^switchyard [0-9]+\\.[0-9]+\\.[0-9]+ \\(commit ([0-9a-f]+(-dirty)?|unknown), [A-Za-z]+ build\\)")
endforeach()

# No model of its own: without -m and SWITCHYARD_MODEL it says how to pass one.
run(2 inspect)
expect(stderr "error: no model given: pass one with -m MODEL.gguf")

# Numeric flags: typed, with their default, config key and variable; llama.cpp's short forms.
run(0 plan --help)
expect(stdout "-t,--threads UINT +CPU threads \\(0 = one per core\\) \\(default 0; config runtime.threads; env "
              "SWITCHYARD_THREADS\\)")
expect(stdout "-c,--ctx-size TOKENS [^\n]*\\(default 2048; config runtime.context_length\\)")
expect(stdout "-b,--batch-size TOKENS [^\n]*\\(default 512;")
expect(stdout "--override-tensor REGEX=DEVICE")
run(0 plan -m ${MODEL} -t 2 -c 64 -b 8 -ngl 0 -ot "output=cpu" --print-config)
expect(stderr "runtime.threads = 2 +\\(flag --threads\\)")
expect(stderr "runtime.context_length = 64 +\\(flag --ctx-size\\)")
expect(stderr "runtime.batch_size = 8 +\\(flag --batch-size\\)")
expect(stderr "placement.gpu_layers = 0 +\\(flag --n-gpu-layers\\)")
expect(stdout "output.weight[^\n]*override 'output'")
run(0 plan -m ${MODEL} -ngl 3)
expect(stdout "no GPU is usable here; every layer stays on the cpu")
run(2 plan -m ${MODEL} -ot "ffn_.*")
expect(stderr "error: --override-tensor 'ffn_.\\*': expected REGEX=DEVICE")
run(2 plan -m ${MODEL} -ot "ffn_(=cpu")
expect(stderr "is not a regular expression")
run(2 plan -m ${MODEL} -ngl 2 --policy cpu)
expect(stderr "keep one of them")

# Every SWITCHYARD_* variable the runtime and its plugins read is in --help and in the README.
run(0 --help)
file(GLOB_RECURSE sources ${SOURCE_DIR}/core/*.cpp ${SOURCE_DIR}/core/*.h ${SOURCE_DIR}/plugins/*.cpp
     ${SOURCE_DIR}/plugins/*.h ${SOURCE_DIR}/tools/*.cpp ${SOURCE_DIR}/sdk/examples/*.cpp)
set(variables)
foreach(source ${sources})
  file(STRINGS ${source} lines REGEX "\"SWITCHYARD_[A-Z0-9_]+\"")
  foreach(line ${lines})
    string(REGEX MATCHALL "\"SWITCHYARD_[A-Z0-9_]+\"" found "${line}")
    list(APPEND variables ${found})
  endforeach()
endforeach()
list(REMOVE_DUPLICATES variables)
file(READ ${SOURCE_DIR}/README.md readme)
list(LENGTH variables count)
if(count LESS 8)
  message(FATAL_ERROR "found only ${count} SWITCHYARD_* variables in the sources: ${variables}")
endif()
foreach(quoted ${variables})
  string(REPLACE "\"" "" variable ${quoted})
  string(FIND "${stdout}" "${variable}" in_help)
  string(FIND "${readme}" "${variable}" in_readme)
  if(in_help EQUAL -1 OR in_readme EQUAL -1)
    message(FATAL_ERROR "${variable} is read by the sources but missing from --help (${in_help}) or the README "
                        "(${in_readme})")
  endif()
endforeach()

# With --format json, stdout is one JSON document: the load report with its plan inside, or an error object.
run(0 load -m ${MODEL} --report --format json)
string(JSON schema ERROR_VARIABLE json_error GET "${stdout}" schema)
if(json_error OR NOT schema STREQUAL "switchyard.load/1")
  message(FATAL_ERROR "load --report --format json is not one JSON document (${json_error}):\n${stdout}")
endif()
string(JSON plan_schema GET "${stdout}" plan schema)
if(NOT plan_schema STREQUAL "switchyard.plan/1")
  message(FATAL_ERROR "load --report --format json has no plan member:\n${stdout}")
endif()
run(2 validate -m ${MODEL}.missing --format json)
string(JSON code GET "${stdout}" error code)
string(JSON message GET "${stdout}" error message)
if(NOT code STREQUAL "io" OR NOT message MATCHES "missing: cannot open")
  message(FATAL_ERROR "an I/O error with --format json is not an error object on stdout:\n${stdout}")
endif()
expect(stderr "^error: .*missing: cannot open")
run(2 inspect -m ${MODEL} --format json --tensor)
string(JSON code GET "${stdout}" error code)
string(JSON message GET "${stdout}" error message)
if(NOT code STREQUAL "usage" OR NOT message MATCHES "^unknown flag '--tensor'")
  message(FATAL_ERROR "a usage error with --format json is not an error object on stdout:\n${stdout}")
endif()

# NO_COLOR: log messages on a terminal are coloured unless it is set (script(1) gives the command a terminal; TERM
# names a colour terminal, since the logger colours only those and the test's own environment may have none).
find_program(SCRIPT script)
if(SCRIPT)
  foreach(no_color "" 1)
    execute_process(COMMAND ${SCRIPT} -qec "env TERM=xterm-256color NO_COLOR=${no_color} ${SWITCHYARD} devices --log-level info" /dev/null
                    OUTPUT_VARIABLE terminal RESULT_VARIABLE rc)
    string(ASCII 27 escape)
    string(FIND "${terminal}" "${escape}[" coloured)
    if(NOT rc EQUAL 0 OR (no_color AND NOT coloured EQUAL -1) OR (NOT no_color AND coloured EQUAL -1))
      message(FATAL_ERROR "NO_COLOR='${no_color}': exit ${rc}, colour at ${coloured}:\n${terminal}")
    endif()
  endforeach()
endif()

# Progress lines are drawn on a terminal, and --log-level off silences them with the logs.
if(SCRIPT)
  foreach(level warn off)
    execute_process(COMMAND ${SCRIPT} -qec "${SWITCHYARD} load -m ${MODEL} --policy cpu --verify --log-level ${level}"
                    /dev/null OUTPUT_VARIABLE terminal RESULT_VARIABLE rc)
    string(FIND "${terminal}" "verify [" drawn)
    if(NOT rc EQUAL 0 OR (level STREQUAL "off" AND NOT drawn EQUAL -1) OR (level STREQUAL "warn" AND drawn EQUAL -1))
      message(FATAL_ERROR "--log-level ${level}: exit ${rc}, progress at ${drawn}:\n${terminal}")
    endif()
  endforeach()
endif()

# One byte formatter and singular nouns: `devices` prints memory as every other command does.
run(0 devices)
expect(stdout "1 device; probe score")
expect(stdout "memory [0-9]+\\.[0-9] [KMGT]iB total, [0-9]+\\.[0-9] [KMGT]iB free")
run(0 inspect -m ${MODEL})
expect(stdout "tensors +48 tensors, 1\\.1 MiB\n")

# The plan in ASCII under a locale that is not UTF-8, with its arrow under a UTF-8 one.
execute_process(COMMAND ${CMAKE_COMMAND} -E env LC_ALL=C ${SWITCHYARD} plan -m ${MODEL} OUTPUT_VARIABLE ascii)
execute_process(COMMAND ${CMAKE_COMMAND} -E env LC_ALL=C.UTF-8 ${SWITCHYARD} plan -m ${MODEL} OUTPUT_VARIABLE utf8)
if(NOT ascii MATCHES "blk\\.0\\.\\* -> cpu" OR ascii MATCHES "→" OR NOT utf8 MATCHES "blk\\.0\\.\\* → cpu")
  message(FATAL_ERROR "plan's arrows do not follow the locale:\nC: ${ascii}\nC.UTF-8: ${utf8}")
endif()

# Bash completion (installed as share/bash-completion/completions/switchyard) completes commands and flags.
find_program(BASH bash)
if(BASH)
  foreach(case "ins|inspect" "inspect --ten|--tensors" "plan --ctx|--ctx-size" "help pl|plan")
    string(REPLACE "|" ";" parts "${case}")
    list(GET parts 0 typed)
    list(GET parts 1 wanted)
    execute_process(COMMAND ${BASH} -c "source '${SOURCE_DIR}/tools/switchyard/switchyard-completion.bash'
      COMP_WORDS=('${SWITCHYARD}' ${typed}); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); _switchyard
      echo \"\${COMPREPLY[*]}\"" OUTPUT_VARIABLE completed RESULT_VARIABLE rc)
    string(STRIP "${completed}" completed)
    if(NOT rc EQUAL 0 OR NOT completed STREQUAL "${wanted}")
      message(FATAL_ERROR "completing 'switchyard ${typed}' gave '${completed}' (exit ${rc}), expected '${wanted}'")
    endif()
  endforeach()
endif()

# inspect: the model card's facts and every metadata key, long arrays shortened unless --full.
run(0 inspect -m ${SHARED_DIR}/models/synth-tiny-Q4_K_M.gguf)
expect(stdout "file type +MOSTLY_Q4_K_M \\(15\\)\n")
expect(stdout "parameters +[0-9.]+M \\([0-9]+\\), [0-9]\\.[0-9][0-9] bits per weight\n")
expect(stdout "metadata +[0-9]+ keys \\(arrays over 16 elements shortened; --full prints them\\)\n")
expect(stdout "  tokenizer\\.ggml\\.tokens +\\[STRING\\] +\\[\"<unk>\",\"<s>\",\"</s>\",[^\n]*, \\.\\.\\. 504 more\\]\n")
run(0 inspect -m ${MODEL} --full)
if(stdout MATCHES "more\\]\n")
  message(FATAL_ERROR "inspect --full still shortened an array:\n${stdout}")
endif()

# --no-mmap reads the file into memory, --mlock locks it; the CPU still uses the weights in place, and both load
# and verify.
foreach(access "--no-mmap|read" "--mlock|mmap\\+mlock" "--no-mmap;--mlock|read\\+mlock")
  string(REPLACE "|" ";" parts "${access}")
  list(GET parts -1 expected)
  list(REMOVE_AT parts -1)
  run(0 load -m ${MODEL} --policy cpu --verify --format json ${parts})
  string(JSON file_access GET "${stdout}" file_access)
  string(JSON zero_copy GET "${stdout}" zero_copy_bytes)
  string(JSON mismatches LENGTH "${stdout}" verify mismatches)
  if(NOT file_access MATCHES "^${expected}$" OR NOT zero_copy EQUAL 1171200 OR NOT mismatches EQUAL 0)
    message(FATAL_ERROR "load ${parts}: file_access ${file_access}, zero_copy_bytes ${zero_copy}, ${mismatches} "
                        "mismatches:\n${stdout}")
  endif()
endforeach()

# --cpu-weights copy: the CPU gets its own copy of every weight (none adopted), which verifies against the file,
# also with the file read into memory.
foreach(access "" "--no-mmap")
  run(0 load -m ${MODEL} --policy cpu --cpu-weights copy --verify --format json ${access})
  string(JSON zero_copy GET "${stdout}" zero_copy_bytes)
  string(JSON copied GET "${stdout}" copied_bytes)
  string(JSON mismatches LENGTH "${stdout}" verify mismatches)
  if(NOT zero_copy EQUAL 0 OR NOT copied EQUAL 1171200 OR NOT mismatches EQUAL 0)
    message(FATAL_ERROR "load --cpu-weights copy ${access}: zero_copy_bytes ${zero_copy}, copied_bytes ${copied}, "
                        "${mismatches} mismatches:\n${stdout}")
  endif()
endforeach()

# devices takes --config, and sees the plugins plan and load would: the config's paths and requirements.
file(WRITE ${WORK_DIR}/devices-config.json
     "{\"plugins\": {\"paths\": [\"${WORK_DIR}/no-plugins-here\"], \"require\": [\"nosuchbackend\"]}}")
run(2 devices --config ${WORK_DIR}/devices-config.json)
expect(stderr "required device 'nosuchbackend' is not available")
file(WRITE ${WORK_DIR}/devices-config.json "{\"plugins\": {\"paths\": [\"${WORK_DIR}/no-plugins-here\"]}}")
run(0 devices --config ${WORK_DIR}/devices-config.json --format json)
expect(stdout "\"path\": \"[^\"]*/no-plugins-here\"")

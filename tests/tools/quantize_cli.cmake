# switchyard quantize as a user sees it: a size summary on success, errors that name the file asked for (not its
# temporary), and general.alignment kept when the input spells it out.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND ${SWITCHYARD} quantize -m ${MODEL} -o ${WORK_DIR}/out.gguf --type q8_0
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "out\\.gguf: [0-9]+ tensors, [0-9.]+ MiB -> [0-9.]+ MiB \\([0-9]\\.[0-9][0-9] bits per weight\\), mostly Q8_0")
  message(FATAL_ERROR "quantize printed no size summary (exit ${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${SWITCHYARD} inspect --format json -m ${WORK_DIR}/out.gguf OUTPUT_VARIABLE inspected)
if(NOT inspected MATCHES "\"key\": \"general.alignment\"")
  message(FATAL_ERROR "quantize dropped general.alignment:\n${inspected}")
endif()
execute_process(COMMAND ${SWITCHYARD} quantize -m ${MODEL} -o ${WORK_DIR}/no-such-dir/out.gguf --type q8_0
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "^error: [^\n]*no-such-dir/out\\.gguf: cannot create")
  message(FATAL_ERROR "a failed write does not name the output file (exit ${rc}):\n${err}")
endif()

# The reference's mixes on a 4-layer model: Q4_K_S raises every attn_v of the first four to Q5_K; Q5_K_M raises
# attn_v and ffn_down of layers 2 and 3 (the "more bits" layers of four) to Q6_K; both keep the head in Q6_K.
foreach(mix "Q4_K_S|\"q4_K\": {[ \n]*\"tensors\": 25,.*\"q5_K\": {[ \n]*\"tensors\": 4,.*\"q6_K\": {[ \n]*\"tensors\": 1,|14"
            "Q5_K_M|\"q5_K\": {[ \n]*\"tensors\": 25,.*\"q6_K\": {[ \n]*\"tensors\": 5,|17")
  string(REPLACE "|" ";" parts "${mix}")
  list(GET parts 0 name)
  list(GET parts 1 types)
  list(GET parts 2 file_type)
  execute_process(COMMAND ${SWITCHYARD} quantize -m ${MODEL} -o ${WORK_DIR}/${name}.gguf --type ${name}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  execute_process(COMMAND ${SWITCHYARD} inspect --format json -m ${WORK_DIR}/${name}.gguf OUTPUT_VARIABLE inspected)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "mostly ${name}" OR NOT inspected MATCHES "${types}"
     OR NOT inspected MATCHES "\"file_type\": {[ \n]*\"id\": ${file_type},")
    message(FATAL_ERROR "quantize --type ${name} (exit ${rc}) chose other types than the reference's mix:\n"
                        "${out}${err}\n${inspected}")
  endif()
endforeach()

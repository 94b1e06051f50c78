# A backend plugin works on tensor bytes and type ids and needs no GGUF reader. The CPU plugin used to carry over a
# hundred sy::gguf:: symbols of it (File, Parser, Value...), because the file-level dequantize helper sat in
# core/quant beside the row decoder the plugin links.
execute_process(COMMAND ${NM} -C --defined-only ${PLUGIN} RESULT_VARIABLE rc OUTPUT_VARIABLE symbols ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT symbols MATCHES "sy_plugin_negotiate")
  message(FATAL_ERROR "could not list the symbols of ${PLUGIN} (exit ${rc}): ${err}")
endif()
string(REGEX MATCHALL "sy::gguf::(File|Parser|Value|Array|GgufError|Writer)[^\n]*" reader "${symbols}")
if(reader)
  list(LENGTH reader count)
  list(GET reader 0 first)
  message(FATAL_ERROR "${PLUGIN} links the GGUF reader: ${count} of its symbols, such as ${first}")
endif()

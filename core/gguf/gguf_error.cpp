#include "core/gguf/gguf_error.h"

namespace sy::gguf {

std::string_view to_string(GgufErrorCode code) {
  switch (code) {
    case GgufErrorCode::io_error: return "io_error";
    case GgufErrorCode::truncated: return "truncated";
    case GgufErrorCode::bad_magic: return "bad_magic";
    case GgufErrorCode::big_endian: return "big_endian";
    case GgufErrorCode::unsupported_version: return "unsupported_version";
    case GgufErrorCode::count_too_large: return "count_too_large";
    case GgufErrorCode::string_past_end: return "string_past_end";
    case GgufErrorCode::array_past_end: return "array_past_end";
    case GgufErrorCode::unknown_value_type: return "unknown_value_type";
    case GgufErrorCode::nesting_too_deep: return "nesting_too_deep";
    case GgufErrorCode::key_not_utf8: return "key_not_utf8";
    case GgufErrorCode::empty_key: return "empty_key";
    case GgufErrorCode::duplicate_key: return "duplicate_key";
    case GgufErrorCode::duplicate_tensor: return "duplicate_tensor";
    case GgufErrorCode::tensor_name_too_long: return "tensor_name_too_long";
    case GgufErrorCode::bad_dimension_count: return "bad_dimension_count";
    case GgufErrorCode::bad_dimension: return "bad_dimension";
    case GgufErrorCode::size_overflow: return "size_overflow";
    case GgufErrorCode::row_not_block_multiple: return "row_not_block_multiple";
    case GgufErrorCode::unknown_tensor_type: return "unknown_tensor_type";
    case GgufErrorCode::offset_misaligned: return "offset_misaligned";
    case GgufErrorCode::data_past_end: return "data_past_end";
    case GgufErrorCode::tensors_overlap: return "tensors_overlap";
    case GgufErrorCode::bad_alignment: return "bad_alignment";
    case GgufErrorCode::wrong_value_type: return "wrong_value_type";
    case GgufErrorCode::tokenizer_length_mismatch: return "tokenizer_length_mismatch";
    case GgufErrorCode::token_id_out_of_range: return "token_id_out_of_range";
    case GgufErrorCode::layer_count_mismatch: return "layer_count_mismatch";
  }
  return "unknown";
}

namespace {
std::string summary(const std::vector<Finding>& findings) {
  std::string out = findings.front().message;
  if (findings.size() > 1) out += " (and " + std::to_string(findings.size() - 1) + " more problems)";
  return out;
}
}  // namespace

GgufError::GgufError(std::vector<Finding> findings)
    : sy::Error(findings.front().code == GgufErrorCode::io_error ? ErrorCode::io : ErrorCode::invalid_file,
                summary(findings)),
      findings_(std::move(findings)) {}

}  // namespace sy::gguf

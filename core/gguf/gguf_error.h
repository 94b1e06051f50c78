// Errors of the GGUF reader: one code per class of malformed input, so tests and tools can tell them apart.
// Every message names the file, the byte offset, the field or tensor, what was expected and what was found.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/error.h"

namespace sy::gguf {

enum class GgufErrorCode {
  io_error,                 // the file could not be opened, sized or mapped
  truncated,                // the header ends before a field it declares
  bad_magic,                // not a GGUF file
  big_endian,               // a GGUF file written big-endian
  unsupported_version,      // version 1, or newer than 3
  count_too_large,          // tensor or key-value count impossible for the file's size
  string_past_end,          // a string length runs past the end of the file
  array_past_end,           // an array length runs past the end of the file
  unknown_value_type,       // a value type id outside 0..12
  nesting_too_deep,         // arrays nested deeper than the reader allows
  key_not_utf8,             // a key or tensor name that is not valid UTF-8
  empty_key,                // a zero-length key
  duplicate_key,
  duplicate_tensor,
  tensor_name_too_long,     // 64 bytes or more, the reference's limit
  bad_dimension_count,      // zero or more than four dimensions
  bad_dimension,            // a dimension of zero, or one whose signed value is negative
  size_overflow,            // element count or byte size past 64 bits
  row_not_block_multiple,   // ne[0] not a multiple of the type's block size
  unknown_tensor_type,
  offset_misaligned,        // a tensor offset that is not a multiple of the alignment
  data_past_end,            // tensor data beyond the end of the file
  tensors_overlap,
  bad_alignment,            // general.alignment zero, not a power of two, over 1 MiB, or not a UINT32
  wrong_value_type,         // a known key stored with the wrong value type
  tokenizer_length_mismatch,// tokenizer arrays whose lengths disagree with the token count
  token_id_out_of_range,    // a special-token id outside the vocabulary
  layer_count_mismatch,     // block_count beyond the layers the tensors hold
};

std::string_view to_string(GgufErrorCode code);

struct Finding {
  GgufErrorCode code;
  std::string message;
};

// Thrown by File::open. `findings` lists every problem found (at least one; the first is what() says).
class GgufError : public sy::Error {
 public:
  explicit GgufError(std::vector<Finding> findings);
  GgufErrorCode gguf_code() const { return findings_.front().code; }
  const std::vector<Finding>& findings() const { return findings_; }

 private:
  std::vector<Finding> findings_;
};

}  // namespace sy::gguf

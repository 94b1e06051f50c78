// Checks of well-known metadata keys that every reader of a GGUF file relies on: value types of known keys,
// tokenizer arrays that agree in length, special-token ids inside the vocabulary, and a layer count the tensors
// can back. Run by File::open, so an accepted file's tokenizer arrays can be indexed without further checks.
#pragma once

#include <vector>

#include "core/gguf/gguf_error.h"

namespace sy::gguf {

class File;

// Appends one finding per problem to `findings`.
void append_metadata_findings(const File& file, std::vector<Finding>& findings);

}  // namespace sy::gguf

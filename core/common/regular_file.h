// Opening input files (models, configs, plugins) without trusting what the path names. A FIFO, socket or device
// given where a file is expected would block the open or the first read forever (or talk to hardware), so these
// helpers refuse anything but a regular file before reading a byte, and say what the path really is.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace sy {

// What a non-regular file is, for messages: "a FIFO (named pipe)", "a socket", "a character device", "a block
// device", "a directory", "not a regular file"; empty for a regular file.
std::string_view non_regular_kind(mode_t mode);

// Opens `path` read-only (close-on-exec) if it is a regular file. The path is checked with stat() before the open,
// and the open itself is non-blocking and checked again with fstat(), so that neither a FIFO nor a file swapped in
// between can block; the returned descriptor is blocking again. Returns -1 and sets `error` to a sentence naming
// the path when it is missing, unreadable or not a regular file.
int open_regular_file(const std::filesystem::path& path, std::string& error);

// The whole contents of the regular file `path`, refused (sy::Error(io) or, past `max_bytes`,
// sy::Error(invalid_argument) with the size and the limit) when it is not a regular file or too large.
// `what` names the file's role in messages ("the run configuration").
std::string read_regular_file(const std::filesystem::path& path, uint64_t max_bytes, std::string_view what);

}  // namespace sy

// A large memcpy spread over a few threads. Copying into fresh memory is bound by its page faults and the kernel's
// zeroing of each new page, not by the copy itself, so a second core nearly halves it: the loader copies CPU
// weights this way (the 1.1B Q4_0 file's 636 MB: 0.20 s on one thread, 0.11 s on two).
#pragma once

#include <cstddef>
#include <functional>

namespace sy::common {

// Calls `work(k)` for every k in [0, pieces), each piece taken once, in turn, by up to `threads` threads (the
// calling one among them). `work` is borrowed for the call and must be safe to run on different pieces at once.
void for_each_piece_parallel(size_t pieces, unsigned threads, const std::function<void(size_t)>& work);

// Copies `bytes` from `source` to `destination` (not overlapping) in pieces of `piece` bytes, taken in turn by up
// to `threads` threads (the calling one among them); one thread, or a copy of one piece, is a plain memcpy. Both
// ranges are borrowed for the call.
void copy_parallel(void* destination, const void* source, size_t bytes, unsigned threads,
                   size_t piece = size_t{8} << 20);

}  // namespace sy::common

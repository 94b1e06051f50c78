// What must still happen when the process is stopped by a signal: temporary output files removed (SIGINT, SIGTERM,
// and a model that shrinks under its mapping), and a clear sentence instead of a silent death when a mapped model
// file is truncated while being read (SIGBUS). Everything the handlers touch is registered beforehand in fixed
// slots, so the handlers themselves only read them, write(2) and unlink(2): async-signal-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sy {

// A temporary file to remove if the process is stopped by SIGINT, SIGTERM or a truncated mapping. Installs the
// SIGINT/SIGTERM handlers on first use (they remove every registered file, then end the process as the signal
// would). Returns a slot for unregister_temporary, or -1 when all slots are taken (the file is then only removed
// by the normal error paths). `path` is copied.
int register_temporary(const char* path);
void unregister_temporary(int slot);

// Removes every registered temporary file. Async-signal-safe.
void remove_registered_temporaries() noexcept;

// A read-only mapping of `path` (`length` bytes at `begin`, the file's size when mapped). Installs the SIGBUS handler
// on first use: a fault inside a registered mapping means the file shrank, so the handler writes "error: PATH
// changed while being read (now N bytes, was M)", removes the registered temporaries and exits with status 1; a
// fault elsewhere goes to the previous handler. Returns a slot for unregister_mapping, or -1 when all are taken.
int register_mapping(const void* begin, size_t length, const char* path);
void unregister_mapping(int slot);

}  // namespace sy

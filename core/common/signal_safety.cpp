#include "core/common/signal_safety.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <mutex>

namespace sy {
namespace {

constexpr size_t kPathBytes = 4096;

// A slot is free (0), being filled or emptied (1) or ready (2); handlers read only ready slots.
struct TemporarySlot {
  std::atomic<int> state{0};
  char path[kPathBytes];
};
struct MappingSlot {
  std::atomic<int> state{0};
  uintptr_t begin = 0;
  size_t length = 0;
  char path[kPathBytes];
};

TemporarySlot g_temporaries[32];
MappingSlot g_mappings[32];
struct sigaction g_previous_sigbus {};

template <class Slot, size_t N>
int claim(Slot (&slots)[N]) {
  for (size_t i = 0; i < N; ++i) {
    int expected = 0;
    if (slots[i].state.compare_exchange_strong(expected, 1)) return static_cast<int>(i);
  }
  return -1;
}

template <class Slot, size_t N>
void release(Slot (&slots)[N], int slot) {
  if (slot < 0 || static_cast<size_t>(slot) >= N) return;
  slots[slot].state.store(1);
  slots[slot].state.store(0);
}

bool copy_path(char (&destination)[kPathBytes], const char* path) {
  const size_t n = std::strlen(path);
  if (n >= kPathBytes) return false;
  std::memcpy(destination, path, n + 1);
  return true;
}

void write_text(const char* text) {
  for (size_t left = std::strlen(text); left > 0;) {
    const ssize_t n = ::write(STDERR_FILENO, text, left);
    if (n <= 0) return;
    text += n;
    left -= static_cast<size_t>(n);
  }
}

void write_number(uint64_t value) {
  char digits[24];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value);
  char text[24];
  for (size_t i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
  text[n] = '\0';
  write_text(text);
}

void on_termination(int signal) {
  remove_registered_temporaries();
  // End the process as the signal itself would, so the parent sees "killed by SIGINT".
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

void on_sigbus(int signal, siginfo_t* info, void* context) {
  const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (auto& m : g_mappings) {
    if (m.state.load() != 2 || address < m.begin || address - m.begin >= m.length) continue;
    struct stat st {};
    write_text("error: ");
    write_text(m.path);
    if (::stat(m.path, &st) == 0) {
      write_text(" changed while being read (now ");
      write_number(static_cast<uint64_t>(st.st_size));
      write_text(" bytes, was ");
    } else {
      write_text(" changed while being read (now gone, was ");
    }
    write_number(m.length);
    write_text(" bytes); stopped, no partial output is left\n");
    remove_registered_temporaries();
    ::_exit(1);
  }
  // Not one of our mappings: whatever handled SIGBUS before us (a sanitizer, the default action) handles it.
  if (g_previous_sigbus.sa_flags & SA_SIGINFO) {
    if (g_previous_sigbus.sa_sigaction) return g_previous_sigbus.sa_sigaction(signal, info, context);
  } else if (g_previous_sigbus.sa_handler != SIG_DFL && g_previous_sigbus.sa_handler != SIG_IGN) {
    return g_previous_sigbus.sa_handler(signal);
  }
  std::signal(SIGBUS, SIG_DFL);  // the faulting access runs again and ends the process as SIGBUS does
}

// Checked at every registration rather than once: a test framework or library may have put its own handler
// there since.
void install_termination_handlers() {
  for (int signal : {SIGINT, SIGTERM}) {
    struct sigaction previous {};
    if (sigaction(signal, nullptr, &previous) != 0) continue;
    // Ours already, or set to be ignored by the user (nohup), which stays so.
    if (previous.sa_handler == on_termination || previous.sa_handler == SIG_IGN) continue;
    struct sigaction action {};
    action.sa_handler = on_termination;
    sigemptyset(&action.sa_mask);
    sigaction(signal, &action, nullptr);
  }
}

void install_sigbus_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &g_previous_sigbus);
  });
}

}  // namespace

int register_temporary(const char* path) {
  install_termination_handlers();
  const int slot = claim(g_temporaries);
  if (slot < 0) return -1;
  if (!copy_path(g_temporaries[slot].path, path)) {
    g_temporaries[slot].state.store(0);
    return -1;
  }
  g_temporaries[slot].state.store(2);
  return slot;
}

void unregister_temporary(int slot) { release(g_temporaries, slot); }

void remove_registered_temporaries() noexcept {
  for (auto& t : g_temporaries) {
    if (t.state.load() == 2) ::unlink(t.path);
  }
}

int register_mapping(const void* begin, size_t length, const char* path) {
  install_sigbus_handler();
  const int slot = claim(g_mappings);
  if (slot < 0) return -1;
  MappingSlot& m = g_mappings[slot];
  m.begin = reinterpret_cast<uintptr_t>(begin);
  m.length = length;
  if (!copy_path(m.path, path)) {
    m.state.store(0);
    return -1;
  }
  m.state.store(2);
  return slot;
}

void unregister_mapping(int slot) { release(g_mappings, slot); }

}  // namespace sy

/* LD_PRELOAD shim for tests/tools/truncated_model.cmake: right after the file named by TRUNCATE_ON_MAP is
 * memory-mapped, it is truncated to TRUNCATE_TO bytes, as another process shrinking a model under a running
 * command would. The command then faults (SIGBUS) on the first page past the new end, deterministically. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void truncate_if_target(int fd) {
  const char* target = getenv("TRUNCATE_ON_MAP");
  const char* size = getenv("TRUNCATE_TO");
  if (!target || !size || fd < 0) return;
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return;
  path[n] = '\0';
  if (strcmp(path, target) == 0 && truncate(target, (off_t)strtoull(size, NULL, 10)) != 0) perror("truncate");
}

void* mmap(void* address, size_t length, int protection, int flags, int fd, off_t offset) {
  static void* (*real_mmap)(void*, size_t, int, int, int, off_t);
  if (!real_mmap) real_mmap = (void* (*)(void*, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
  void* mapped = real_mmap(address, length, protection, flags, fd, offset);
  if (mapped != MAP_FAILED) truncate_if_target(fd);
  return mapped;
}

void* mmap64(void* address, size_t length, int protection, int flags, int fd, off_t offset) {
  return mmap(address, length, protection, flags, fd, offset);
}

// SHA-256 through OpenSSL's libcrypto, used to fingerprint dequantized tensors (compare reference/dequant.jsonl).
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace sy {

// Incremental hasher: feed bytes in any number of pieces, then read the lowercase hex digest once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::span<const std::byte> bytes);
  std::string hex_digest();  // finishes the hash; update() must not be called afterwards

 private:
  void* context_;  // EVP_MD_CTX*, owned
};

std::string sha256_hex(std::span<const std::byte> bytes);

}  // namespace sy

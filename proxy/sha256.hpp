#pragma once
// Incremental SHA-256 of message content (DESIGN.md §5 `messages[].sha256`), through OpenSSL.
// The OpenSSL context stays in the .cpp so this header is cheap to include.

#include <memory>
#include <string>
#include <string_view>

namespace hopscope {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::string_view bytes);
  // Lower-case hex of the digest; the object is reset and can hash the next message.
  [[nodiscard]] std::string finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hopscope

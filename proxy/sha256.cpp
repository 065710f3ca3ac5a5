#include "proxy/sha256.hpp"

#include <array>
#include <cstdlib>
#include <string_view>

#include <openssl/evp.h>

namespace hopscope {

namespace {

// OpenSSL 3 looks up the provider's implementation on every EVP_DigestInit_ex() given
// EVP_sha256() (an "implicit fetch": a locked name lookup, about as costly as hashing a
// 1 KB message). Fetched once here, every init reuses it (OpenSSL's "Performance" notes in
// crypto(7)). Kept for the life of the process.
const EVP_MD* sha256_algorithm() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  if (md == nullptr) {
    std::abort();  // the default provider always has SHA-256
  }
  return md;
}

}  // namespace

struct Sha256::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Impl() {
    if (ctx == nullptr || EVP_DigestInit_ex2(ctx, sha256_algorithm(), nullptr) != 1) {
      std::abort();  // cannot happen short of memory exhaustion
    }
  }
  ~Impl() { EVP_MD_CTX_free(ctx); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  Impl(Impl&&) = delete;
  Impl& operator=(Impl&&) = delete;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(std::string_view bytes) {
  EVP_DigestUpdate(impl_->ctx, bytes.data(), bytes.size());
}

std::string Sha256::finish() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(impl_->ctx, digest.data(), &length);
  EVP_DigestInit_ex2(impl_->ctx, sha256_algorithm(), nullptr);
  static constexpr std::string_view hex = "0123456789abcdef";
  // Sized once and written in place: += per digit checks the capacity 64 times.
  std::string out(static_cast<std::size_t>(length) * 2, '\0');
  for (std::size_t i = 0; i < length; ++i) {
    out[2 * i] = hex[digest[i] >> 4U];
    out[2 * i + 1] = hex[digest[i] & 0x0FU];
  }
  return out;
}

}  // namespace hopscope

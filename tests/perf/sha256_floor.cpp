#include "sha256_floor.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <string>

#include <openssl/evp.h>

#include "bench_process.hpp"

namespace hopscope::bench {
namespace {

constexpr std::size_t chunk_bytes = std::size_t{16} * 1024;

}  // namespace

double measure_sha256_floor(std::size_t bytes) {
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                    &EVP_MD_CTX_free);
  if (!ctx) {
    return -1;
  }
  const std::string message(bytes, 'x');
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  const auto hash_once = [&]() {
    if (EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
      return false;
    }
    for (std::size_t at = 0; at < message.size(); at += chunk_bytes) {
      const auto n = std::min(chunk_bytes, message.size() - at);
      if (EVP_DigestUpdate(ctx.get(), message.data() + at, n) != 1) {
        return false;
      }
    }
    unsigned int size = 0;
    return EVP_DigestFinal_ex(ctx.get(), digest.data(), &size) == 1;
  };
  if (!hash_once()) {  // also warms the code and the cache
    return -1;
  }
  long hashes = 0;
  const double start = thread_cpu_us();
  double spent = 0;
  while (spent < 200'000) {
    for (int i = 0; i < 100; ++i) {
      if (!hash_once()) {
        return -1;
      }
    }
    hashes += 100;
    spent = thread_cpu_us() - start;
  }
  return spent / static_cast<double>(hashes);
}

}  // namespace hopscope::bench

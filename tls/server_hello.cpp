#include "tls/server_hello.hpp"

#include <array>

#include "tls/record_parser.hpp"

namespace hopscope::tls {
namespace {

constexpr std::uint16_t ext_alpn = 16;                // RFC 7301 §3.1
constexpr std::uint16_t ext_pre_shared_key = 41;      // RFC 8446 §4.2.11
constexpr std::uint16_t ext_supported_versions = 43;  // RFC 8446 §4.2.1
constexpr std::uint16_t ext_key_share = 51;           // RFC 8446 §4.2.8

// RFC 8446 §4.1.3: SHA-256 of "HelloRetryRequest".
constexpr std::array<std::uint8_t, 32> hello_retry_request_random = {
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

bool is_hrr_random(std::string_view random) {
  for (std::size_t i = 0; i < hello_retry_request_random.size(); ++i) {
    if (static_cast<std::uint8_t>(random[i]) != hello_retry_request_random[i]) {
      return false;
    }
  }
  return true;
}

bool parse_extension(std::uint16_t type, std::string_view data, ServerHello& hello) {
  ByteReader r(data);
  switch (type) {
    case ext_supported_versions: {
      const auto version = r.u16();
      if (!version || !r.empty()) {
        return false;
      }
      hello.version = *version;
      return true;
    }
    case ext_alpn: {
      const auto list = r.vector16();
      if (!list || !r.empty()) {
        return false;
      }
      ByteReader names(*list);
      const auto name = names.vector8();
      if (!name || !names.empty()) {
        return false;  // RFC 7301 §3.1: exactly one name
      }
      hello.alpn = std::string(*name);
      return true;
    }
    case ext_pre_shared_key: {
      const auto identity = r.u16();
      if (!identity || !r.empty()) {
        return false;
      }
      hello.pre_shared_key_selected = true;
      return true;
    }
    case ext_key_share: {
      // HRR: selected_group only; ServerHello: group then key_exchange.
      const auto group = r.u16();
      if (!group) {
        return false;
      }
      hello.key_share_group = *group;
      return true;
    }
    default:
      return true;
  }
}

}  // namespace

std::variant<ServerHello, HelloError> parse_server_hello(std::string_view body) {
  ServerHello hello;
  ByteReader r(body);
  const auto version = r.u16();
  const auto random = r.bytes(32);
  const auto session_id = r.vector8();
  const auto suite = r.u16();
  const auto compression = r.u8();
  if (!version || !random || !session_id || !suite || !compression) {
    return HelloError{"truncated ServerHello"};
  }
  hello.hello_retry_request = is_hrr_random(*random);
  hello.legacy_version = *version;
  hello.version = *version;
  hello.session_id = std::string(*session_id);
  hello.cipher_suite = *suite;
  if (r.empty()) {
    return hello;  // RFC 5246 §7.4.1.3: no extensions
  }
  const auto extensions = r.vector16();
  if (!extensions || !r.empty()) {
    return HelloError{"malformed ServerHello extensions"};
  }
  ByteReader ext(*extensions);
  while (!ext.empty()) {
    const auto type = ext.u16();
    const auto data = ext.vector16();
    if (!type || !data) {
      return HelloError{"truncated ServerHello extension"};
    }
    if (!parse_extension(*type, *data, hello)) {
      return HelloError{"malformed ServerHello extension " + std::to_string(*type)};
    }
  }
  return hello;
}

}  // namespace hopscope::tls

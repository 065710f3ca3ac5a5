#include "tls/client_hello.hpp"

#include "tls/record_parser.hpp"

namespace hopscope::tls {
namespace {

// IANA TLS ExtensionType values (RFC 8446 §4.2).
constexpr std::uint16_t ext_server_name = 0;          // RFC 6066 §3
constexpr std::uint16_t ext_supported_groups = 10;    // RFC 8446 §4.2.7
constexpr std::uint16_t ext_alpn = 16;                // RFC 7301 §3.1
constexpr std::uint16_t ext_pre_shared_key = 41;      // RFC 8446 §4.2.11
constexpr std::uint16_t ext_supported_versions = 43;  // RFC 8446 §4.2.1
constexpr std::uint8_t name_type_host_name = 0;       // RFC 6066 §3

bool read_u16_list(std::string_view data, std::vector<std::uint16_t>& out) {
  if (data.size() % 2 != 0) {
    return false;
  }
  ByteReader r(data);
  while (!r.empty()) {
    out.push_back(*r.u16());  // cannot fail: even length checked above
  }
  return true;
}

bool parse_server_name(std::string_view data, ClientHello& hello) {
  ByteReader ext(data);
  const auto list = ext.vector16();
  if (!list || !ext.empty()) {
    return false;
  }
  ByteReader r(*list);
  while (!r.empty()) {
    const auto type = r.u8();
    const auto name = r.vector16();
    if (!type || !name) {
      return false;
    }
    if (*type == name_type_host_name && !hello.sni) {
      hello.sni = std::string(*name);
    }
  }
  return true;
}

bool parse_alpn(std::string_view data, std::vector<std::string>& out) {
  ByteReader ext(data);
  const auto list = ext.vector16();
  if (!list || !ext.empty()) {
    return false;
  }
  ByteReader r(*list);
  while (!r.empty()) {
    const auto name = r.vector8();
    if (!name) {
      return false;
    }
    out.emplace_back(*name);
  }
  return true;
}

bool parse_extension(std::uint16_t type, std::string_view data, ClientHello& hello) {
  switch (type) {
    case ext_server_name:
      return parse_server_name(data, hello);
    case ext_alpn:
      return parse_alpn(data, hello.alpn);
    case ext_supported_groups: {
      ByteReader r(data);
      const auto list = r.vector16();
      return list && r.empty() && read_u16_list(*list, hello.supported_groups);
    }
    case ext_supported_versions: {
      ByteReader r(data);
      const auto list = r.vector8();
      return list && r.empty() && read_u16_list(*list, hello.supported_versions);
    }
    case ext_pre_shared_key:
      hello.offers_pre_shared_key = true;
      return true;
    default:
      return true;
  }
}

}  // namespace

std::variant<ClientHello, HelloError> parse_client_hello(std::string_view body) {
  ClientHello hello;
  ByteReader r(body);
  const auto version = r.u16();
  const auto random = r.bytes(32);
  const auto session_id = r.vector8();
  const auto suites = r.vector16();
  const auto compression = r.vector8();
  if (!version || !random || !session_id || !suites || !compression) {
    return HelloError{"truncated ClientHello"};
  }
  hello.legacy_version = *version;
  hello.session_id = std::string(*session_id);
  if (!read_u16_list(*suites, hello.cipher_suites)) {
    return HelloError{"ClientHello cipher_suites of odd length"};
  }
  // RFC 5246 §7.4.1.2: extensions may be absent altogether (pre-TLS 1.2 clients).
  if (r.empty()) {
    return hello;
  }
  const auto extensions = r.vector16();
  if (!extensions || !r.empty()) {
    return HelloError{"malformed ClientHello extensions"};
  }
  ByteReader ext(*extensions);
  while (!ext.empty()) {
    const auto type = ext.u16();
    const auto data = ext.vector16();
    if (!type || !data) {
      return HelloError{"truncated ClientHello extension"};
    }
    if (!parse_extension(*type, *data, hello)) {
      return HelloError{"malformed ClientHello extension " + std::to_string(*type)};
    }
  }
  return hello;
}

}  // namespace hopscope::tls

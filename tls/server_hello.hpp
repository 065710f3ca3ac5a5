#pragma once
// Parses the body of a ServerHello or HelloRetryRequest (RFC 8446 §4.1.3/§4.1.4, RFC 5246
// §7.4.1.3) into plain values. Sans-I/O, standard library only; never throws and never reads
// out of bounds.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "tls/client_hello.hpp"  // HelloError

namespace hopscope::tls {

struct ServerHello {
  // RFC 8446 §4.1.3: a ServerHello whose random is SHA-256("HelloRetryRequest").
  bool hello_retry_request = false;
  std::uint16_t legacy_version = 0;
  // supported_versions' selected_version (RFC 8446 §4.2.1) if present, else legacy_version.
  std::uint16_t version = 0;
  std::string session_id;  // legacy_session_id_echo
  std::uint16_t cipher_suite = 0;
  std::optional<std::string> alpn;               // RFC 7301 §3.1: exactly one protocol
  bool pre_shared_key_selected = false;          // RFC 8446 §4.2.11: TLS 1.3 resumption
  std::optional<std::uint16_t> key_share_group;  // RFC 8446 §4.2.8 (the HRR's selected_group)
};

// `body` is the handshake message without its 4-byte header.
std::variant<ServerHello, HelloError> parse_server_hello(std::string_view body);

}  // namespace hopscope::tls

#pragma once
// Parses the body of a ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) into plain values.
// Sans-I/O, standard library only; never throws and never reads out of bounds. Values are
// kept as sent (GREASE included): the observer decides what to report.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hopscope::tls {

struct ClientHello {
  std::uint16_t legacy_version = 0;
  std::string session_id;                         // legacy_session_id, 0..32 bytes
  std::vector<std::uint16_t> cipher_suites;       // in the client's order
  std::optional<std::string> sni;                 // first host_name of server_name (RFC 6066 §3)
  std::vector<std::string> alpn;                  // RFC 7301 §3.1
  std::vector<std::uint16_t> supported_versions;  // RFC 8446 §4.2.1; empty if absent
  std::vector<std::uint16_t> supported_groups;    // RFC 8446 §4.2.7 / RFC 8422 §5.1.1
  bool offers_pre_shared_key = false;             // RFC 8446 §4.2.11
};

// Why a message could not be parsed, in a few words (goes into TlsFacts::parse_error).
struct HelloError {
  std::string what;
};

// `body` is the handshake message without its 4-byte header.
std::variant<ClientHello, HelloError> parse_client_hello(std::string_view body);

}  // namespace hopscope::tls

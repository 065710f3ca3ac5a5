#pragma once
// `host:port` endpoints as written in the configuration and on the command line
// (DESIGN.md §4): "0.0.0.0:25", "[::1]:25", "mail.contoso.com:25". IPv6 literals must be in
// brackets (RFC 3986 §3.2.2), so "::1:25" is rejected rather than guessed at.
// Pure functions: no resolution, no sockets, never throws.

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace hopscope::config {

// Either an endpoint or, when the text is not one, a short phrase saying why
// ("port 70000 is out of range 1-65535"), for error messages.
struct EndpointParse {
  std::optional<Endpoint> endpoint;
  std::string problem;
};

// Outcomes: the endpoint; or nullopt / a problem for an empty text, a missing host or port,
// a port outside 1..65535 (0 is accepted only with `allow_port_zero`, for listen addresses
// that let the system pick a port, as tests do), an unbracketed or invalid IPv6 literal, an
// invalid IPv4 literal, or a host name that is not letters, digits, '-', '_' and '.'.
[[nodiscard]] EndpointParse parse_endpoint_explained(std::string_view text,
                                                     bool allow_port_zero = false);
[[nodiscard]] std::optional<Endpoint> parse_endpoint(std::string_view text,
                                                     bool allow_port_zero = false);

// A listen address must be an IP literal: a host name cannot be listened on. Outcomes: the
// endpoint with its address in canonical form ("0:0::0" -> "::"), so that two spellings of
// one address compare equal; nullopt for a host name.
[[nodiscard]] std::optional<Endpoint> listen_endpoint(const Endpoint& endpoint);

}  // namespace hopscope::config

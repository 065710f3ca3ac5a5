#include "config/address.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include <arpa/inet.h>

namespace hopscope::config {

namespace {

constexpr std::size_t max_host_name = 253;  // RFC 1035 §2.3.4 (255 octets on the wire)
constexpr std::size_t max_label = 63;       // RFC 1035 §2.3.4

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_ipv6_literal(const std::string& host) {
  in6_addr address{};
  return inet_pton(AF_INET6, host.c_str(), &address) == 1;
}

bool is_ipv4_literal(const std::string& host) {
  in_addr address{};
  return inet_pton(AF_INET, host.c_str(), &address) == 1;
}

// A host name (RFC 1123 §2.1, plus '_' which real internal names use) or an IPv4 literal.
// All digits and dots is read as an IPv4 literal and must be a valid one.
std::string host_problem(const std::string& host) {
  if (host.size() > max_host_name) {
    return "host name longer than 253 characters";
  }
  const bool numeric =
      std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; });
  if (numeric) {
    return is_ipv4_literal(host) ? "" : "'" + host + "' is not a valid IPv4 address";
  }
  std::size_t label = 0;
  for (const char c : host) {
    if (c == '.') {
      if (label == 0) {
        return "empty label in host name '" + host + "'";
      }
      label = 0;
      continue;
    }
    const bool ok =
        is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
    if (!ok) {
      return "host name holds a character other than letters, digits, '-', '_' and '.'";
    }
    if (++label > max_label) {
      return "host name label longer than 63 characters";
    }
  }
  return "";
}

}  // namespace

EndpointParse parse_endpoint_explained(std::string_view text, bool allow_port_zero) {
  EndpointParse result;
  if (text.empty()) {
    result.problem = "empty address";
    return result;
  }
  // "smtp://mx:25" and "mx:25/" are URLs, not addresses: say so rather than misread the
  // scheme's colon as an unbracketed IPv6 address.
  if (const auto scheme = text.find("://"); scheme != std::string_view::npos) {
    result.problem = "'" + std::string(text.substr(0, scheme + 3)) +
                     "' is a URL scheme: give host:port only, e.g. 10.0.0.5:25";
    return result;
  }
  std::string host;
  std::string_view rest;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      result.problem = "'[' without a closing ']'";
      return result;
    }
    host = std::string(text.substr(1, close - 1));
    if (!is_ipv6_literal(host)) {
      result.problem = "'" + host + "' in brackets is not an IPv6 address";
      return result;
    }
    rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      result.problem = "no ':port' after the IPv6 address";
      return result;
    }
    rest.remove_prefix(1);
  } else {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) {
      result.problem =
          !text.empty() && std::all_of(text.begin(), text.end(), is_digit)
              ? "no host: a port alone is not an address, e.g. 0.0.0.0:" + std::string(text) +
                    " or [::]:" + std::string(text)
              : "no ':port'";
      return result;
    }
    if (text.find(':', colon + 1) != std::string_view::npos) {
      result.problem = "an IPv6 address must be written in brackets, e.g. [::1]:25";
      return result;
    }
    host = std::string(text.substr(0, colon));
    if (host.empty()) {
      result.problem = "no host before ':'";
      return result;
    }
    if (auto problem = host_problem(host); !problem.empty()) {
      result.problem = std::move(problem);
      return result;
    }
    rest = text.substr(colon + 1);
  }
  if (rest.empty()) {
    result.problem = "no port after ':'";
    return result;
  }
  const std::string range = allow_port_zero ? "0-65535" : "1-65535";
  if (rest.size() > 5 || !std::all_of(rest.begin(), rest.end(), is_digit)) {
    result.problem = "port '" + std::string(rest) + "' is not a number " + range;
    return result;
  }
  std::uint32_t port = 0;
  for (const char c : rest) {
    port = port * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (port > 65535) {
    result.problem = "port " + std::to_string(port) + " is out of range " + range;
    return result;
  }
  if (port == 0 && !allow_port_zero) {
    result.problem = "port 0 is not allowed here (1-65535)";
    return result;
  }
  result.endpoint = Endpoint{std::move(host), static_cast<std::uint16_t>(port)};
  return result;
}

std::optional<Endpoint> parse_endpoint(std::string_view text, bool allow_port_zero) {
  return parse_endpoint_explained(text, allow_port_zero).endpoint;
}

std::optional<Endpoint> listen_endpoint(const Endpoint& endpoint) {
  std::array<unsigned char, 16> binary{};
  std::array<char, INET6_ADDRSTRLEN> text{};
  for (const int family : {AF_INET, AF_INET6}) {
    if (::inet_pton(family, endpoint.host.c_str(), binary.data()) == 1 &&
        ::inet_ntop(family, binary.data(), text.data(), text.size()) != nullptr) {
      return Endpoint{text.data(), endpoint.port};
    }
  }
  return std::nullopt;
}

}  // namespace hopscope::config

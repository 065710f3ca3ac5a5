#pragma once
// Typed configuration (DESIGN.md §4): plain structs with the documented defaults.
// Plain data only: no parsing, no I/O. config/load.cpp fills it from TOML.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hopscope::config {

using Duration = std::chrono::milliseconds;

// A `host:port` endpoint as written by the user; IPv6 literals are written in brackets.
struct Endpoint {
  std::string host;  // without brackets
  std::uint16_t port = 0;
  [[nodiscard]] std::string to_string() const {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
           std::to_string(port);
  }
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

enum class Mode { passthrough, inspect };
enum class Transparent { off, redirect, tproxy };
enum class PolicyAction { observe, refuse };
enum class Severity { info, warning, critical };

struct Timeouts {
  // RFC 5321 §4.5.3.2 values where it sets one.
  Duration connect = std::chrono::seconds(30);
  Duration greeting = std::chrono::minutes(5);
  Duration command = std::chrono::minutes(5);
  Duration data_block = std::chrono::minutes(3);
  Duration data_end = std::chrono::minutes(10);
  Duration tls_idle = std::chrono::minutes(10);
  Duration drain = std::chrono::minutes(5);
};

struct RelayConfig {
  std::vector<Endpoint> listen;      // required by `relay`
  std::optional<Endpoint> upstream;  // required by `relay` unless transparent gives it
  Mode mode = Mode::passthrough;
  Transparent transparent = Transparent::off;
  bool proxy_protocol = false;
  std::uint32_t max_sessions = 2000;
  std::uint32_t max_sessions_per_client = 100;
  std::string user;
  Timeouts timeouts;
  std::size_t max_line_bytes = 65536;  // codec cap; RFC 5321 says 512/1000, peers exceed it
};

struct TlsConfig {
  std::string certificate;
  std::string key;
  bool request_client_certificate = true;
  std::string trust = "system";  // "system" or a CA bundle path
  std::string upstream_sni;
  std::string upstream_client_certificate;
  std::string upstream_client_key;
  std::string keylog;
};

struct PolicyConfig {
  std::vector<std::string> expected_server_names;
  std::string expected_certificate;  // Exchange TlsCertificateName "<I>issuer<S>subject"
  std::vector<std::string> expected_thumbprints;  // SHA-1, 40 upper-case hex digits (normalised)
  std::vector<std::string> server_pins;           // "sha256/<base64>"
  std::vector<std::string> expected_client_names;
  bool require_starttls = true;
  std::string min_tls_version = "TLSv1.2";
  std::uint32_t expiry_warning_days = 30;
  PolicyAction action = PolicyAction::observe;
  std::map<std::string, Severity> severity;  // finding id → override
};

struct HopConfig {
  std::string name;
  Endpoint address;
  std::string sni;
};

struct HopsProbeConfig {
  Duration interval = std::chrono::minutes(10);
  std::string ehlo = "hopscope-probe.invalid";
};

struct AuditConfig {
  std::string directory = "hopscope-audit";
  bool record_envelope = true;
  bool transcript = true;
};

struct LogConfig {
  std::string level = "info";
};

struct StatusConfig {
  std::optional<Endpoint> listen;
};

struct Config {
  RelayConfig relay;
  TlsConfig tls;
  PolicyConfig policy;
  std::vector<HopConfig> hops;
  HopsProbeConfig hops_probe;
  AuditConfig audit;
  LogConfig log;
  StatusConfig status;
};

}  // namespace hopscope::config

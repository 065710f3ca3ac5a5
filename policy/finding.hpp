#pragma once
// The finding catalogue (DESIGN.md §6): every published identifier, its default severity and
// the Finding record policy::evaluate returns. One table, in finding.cpp, maps the enum to the
// published name; nothing else spells a name. Pure: no I/O, no clock, no Boost, no OpenSSL.

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace hopscope::policy {

enum class FindingId {
  starttls_not_offered,
  starttls_masked,
  banner_masked,
  ehlo_rejected,
  starttls_rejected,
  starttls_not_used,
  starttls_injection,
  sender_abandoned_after_tls,
  ambiguous_end_of_data,
  tls_handshake_failed,
  tls_protocol_weak,
  tls_cipher_weak,
  cert_key_weak,
  cert_signature_weak,
  cert_self_signed,
  cert_untrusted,
  cert_name_mismatch,
  cert_pin_mismatch,
  cert_expired,
  cert_not_yet_valid,
  cert_expiring_soon,
  cert_differs_from_hop,
  capabilities_differ_from_hop,
  client_cert_missing,
  client_cert_name_mismatch,
  remote_tls_error,
  upstream_unreachable,
};

using config::Severity;

// The published name, exactly as DESIGN.md §6 spells it ("STARTTLS_NOT_OFFERED").
std::string_view to_string(FindingId id);
// The inverse; case-sensitive (config keys are validated against it). nullopt if unknown.
std::optional<FindingId> finding_from_string(std::string_view name);
// DESIGN.md §6 default severity.
Severity default_severity(FindingId id);
// Every id, in catalogue order (for tests, `check-config` and documentation).
std::size_t finding_count();
FindingId finding_at(std::size_t index);

// "info" | "warning" | "critical".
std::string_view to_string(Severity severity);
std::optional<Severity> severity_from_string(std::string_view name);
// Orders severities: info < warning < critical.
int rank(Severity severity);

struct Finding {
  FindingId id = FindingId::upstream_unreachable;
  Severity severity = Severity::critical;
  std::string leg;       // "downstream" | "upstream" | "hop:<name>"
  std::string summary;   // one line a person reads
  std::string evidence;  // the exact lines or certificate fields, escaped with printable()
  std::string remedy;    // what a network team does about it
};

}  // namespace hopscope::policy

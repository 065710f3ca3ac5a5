#include "policy/finding.hpp"

#include <array>

namespace hopscope::policy {
namespace {

struct CatalogueEntry {
  FindingId id;
  std::string_view name;
  Severity severity;
};

// DESIGN.md §6: the one table of published names and default severities.
constexpr std::array<CatalogueEntry, 27> catalogue{{
    {FindingId::starttls_not_offered, "STARTTLS_NOT_OFFERED", Severity::critical},
    {FindingId::starttls_masked, "STARTTLS_MASKED", Severity::critical},
    {FindingId::banner_masked, "BANNER_MASKED", Severity::warning},
    {FindingId::ehlo_rejected, "EHLO_REJECTED", Severity::critical},
    {FindingId::starttls_rejected, "STARTTLS_REJECTED", Severity::critical},
    {FindingId::starttls_not_used, "STARTTLS_NOT_USED", Severity::critical},
    {FindingId::starttls_injection, "STARTTLS_INJECTION", Severity::critical},
    {FindingId::sender_abandoned_after_tls, "SENDER_ABANDONED_AFTER_TLS", Severity::warning},
    {FindingId::ambiguous_end_of_data, "AMBIGUOUS_END_OF_DATA", Severity::warning},
    {FindingId::tls_handshake_failed, "TLS_HANDSHAKE_FAILED", Severity::critical},
    {FindingId::tls_protocol_weak, "TLS_PROTOCOL_WEAK", Severity::warning},
    {FindingId::tls_cipher_weak, "TLS_CIPHER_WEAK", Severity::warning},
    {FindingId::cert_key_weak, "CERT_KEY_WEAK", Severity::warning},
    {FindingId::cert_signature_weak, "CERT_SIGNATURE_WEAK", Severity::warning},
    {FindingId::cert_self_signed, "CERT_SELF_SIGNED", Severity::critical},
    {FindingId::cert_untrusted, "CERT_UNTRUSTED", Severity::critical},
    {FindingId::cert_name_mismatch, "CERT_NAME_MISMATCH", Severity::critical},
    {FindingId::cert_pin_mismatch, "CERT_PIN_MISMATCH", Severity::critical},
    {FindingId::cert_expired, "CERT_EXPIRED", Severity::critical},
    {FindingId::cert_not_yet_valid, "CERT_NOT_YET_VALID", Severity::critical},
    {FindingId::cert_expiring_soon, "CERT_EXPIRING_SOON", Severity::warning},
    {FindingId::cert_differs_from_hop, "CERT_DIFFERS_FROM_HOP", Severity::critical},
    {FindingId::capabilities_differ_from_hop, "CAPABILITIES_DIFFER_FROM_HOP", Severity::warning},
    {FindingId::client_cert_missing, "CLIENT_CERT_MISSING", Severity::warning},
    {FindingId::client_cert_name_mismatch, "CLIENT_CERT_NAME_MISMATCH", Severity::critical},
    {FindingId::remote_tls_error, "REMOTE_TLS_ERROR", Severity::warning},
    {FindingId::upstream_unreachable, "UPSTREAM_UNREACHABLE", Severity::critical},
}};

const CatalogueEntry& entry(FindingId id) {
  for (const auto& e : catalogue) {
    if (e.id == id) {
      return e;
    }
  }
  return catalogue.back();  // unreachable for a valid enum value
}

}  // namespace

std::string_view to_string(FindingId id) {
  return entry(id).name;
}

std::optional<FindingId> finding_from_string(std::string_view name) {
  for (const auto& e : catalogue) {
    if (e.name == name) {
      return e.id;
    }
  }
  return std::nullopt;
}

Severity default_severity(FindingId id) {
  return entry(id).severity;
}

std::size_t finding_count() {
  return catalogue.size();
}

FindingId finding_at(std::size_t index) {
  return catalogue.at(index).id;
}

std::string_view to_string(Severity severity) {
  switch (severity) {
    case Severity::info:
      return "info";
    case Severity::warning:
      return "warning";
    case Severity::critical:
      return "critical";
  }
  return "critical";
}

std::optional<Severity> severity_from_string(std::string_view name) {
  for (const auto s : {Severity::info, Severity::warning, Severity::critical}) {
    if (to_string(s) == name) {
      return s;
    }
  }
  return std::nullopt;
}

int rank(Severity severity) {
  switch (severity) {
    case Severity::info:
      return 0;
    case Severity::warning:
      return 1;
    case Severity::critical:
      return 2;
  }
  return 2;
}

}  // namespace hopscope::policy

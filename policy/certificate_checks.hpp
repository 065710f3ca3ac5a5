#pragma once
// Judges the certificates seen on one TLS leg (or hop): self-signed, trust, names (RFC 6125
// names and Exchange's TlsCertificateName as distinguished names), pins and thumbprints,
// validity window, key and signature strength, and the sender's client certificate. Reads
// the verification facts tls/verify filled; verifies nothing itself. Pure: `now` is passed in.

#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "policy/finding_list.hpp"
#include "proxy/facts.hpp"

namespace hopscope::policy {

// One line naming a certificate for summaries and verdicts: "self-signed CN=barracuda.local"
// or "CN=mail.contoso.com issued by CN=R3, O=Let's Encrypt, C=US". Escaped.
std::string describe_certificate(const tls::CertificateFacts& cert);

// The fields of a certificate as evidence: subject, issuer, SAN, validity, SHA-256. Escaped.
std::string certificate_evidence(const tls::CertificateFacts& cert);

// The server chain of `tls` (leaf first), judged against `policy` at `now_unix`. Adds
// CERT_SELF_SIGNED, CERT_UNTRUSTED, CERT_NAME_MISMATCH, CERT_PIN_MISMATCH, CERT_EXPIRED,
// CERT_NOT_YET_VALID, CERT_EXPIRING_SOON, CERT_KEY_WEAK, CERT_SIGNATURE_WEAK under `leg`.
// Nothing when no chain was seen.
void check_server_certificates(const TlsFacts& tls, const std::string& leg,
                               const config::PolicyConfig& policy, std::int64_t now_unix,
                               FindingList& out);

// The sender's chain of `tls`, when `expected_client_names` is set and the chain was visible
// (TLS ≤ 1.2 on the wire, not resumed, or a terminated handshake in inspect mode): adds
// CLIENT_CERT_MISSING or CLIENT_CERT_NAME_MISMATCH under `leg`.
void check_client_certificate(const TlsFacts& tls, bool chain_visible, const std::string& leg,
                              const config::PolicyConfig& policy, FindingList& out);

}  // namespace hopscope::policy

#pragma once
// Reads the facts of one X.509 certificate from its DER encoding (RFC 5280), through OpenSSL.
// Never throws and never crashes on network bytes: a certificate that cannot be read comes back
// with `parse_error` set and every other field empty. Judges nothing (policy does); keeps no
// state; OpenSSL stays in the .cpp.

#include <string>
#include <string_view>
#include <vector>

#include "tls/certificate_facts.hpp"

namespace hopscope::tls {

// One certificate, DER as sent in a TLS Certificate message (RFC 8446 §4.4.2). Outcomes:
// @li facts with `parse_error` empty: every field filled as certificate_facts.hpp describes;
// @li facts with `parse_error` set (empty input, not DER, trailing bytes): nothing else filled.
CertificateFacts read_certificate(std::string_view der);

// A chain in the order given (leaf first); an unreadable entry yields its own parse_error.
std::vector<CertificateFacts> read_chain(const std::vector<std::string>& der_chain);

}  // namespace hopscope::tls

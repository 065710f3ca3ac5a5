#pragma once
// RFC 6125 §6.4 name matching on CertificateFacts, for the client certificate checks
// (CLIENT_CERT_NAME_MISMATCH). The server side is matched in tls/verify with OpenSSL before
// policy runs; policy links no OpenSSL, so this is the pure twin of tls::match_leaf.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/certificate_facts.hpp"

namespace hopscope::policy {

// ASCII case-insensitive; one trailing dot ignored; a wildcard only as the whole left-most
// label, standing for exactly one label, with at least two labels after it (§6.4.3).
bool dns_name_matches(std::string_view pattern, std::string_view host);

// The first expected name the certificate is valid for: DNS SANs first, the CN(s) only when
// there is no DNS SAN (§6.4.4). nullopt if none.
std::optional<std::string> matching_name(const tls::CertificateFacts& leaf,
                                         const std::vector<std::string>& expected_names);

// The names a certificate presents, for evidence: "SAN a, b" or "CN a".
std::string presented_names(const tls::CertificateFacts& leaf);

}  // namespace hopscope::policy

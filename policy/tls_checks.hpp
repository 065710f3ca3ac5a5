#pragma once
// Judges the negotiated TLS parameters of one leg or hop: version against min_tls_version,
// cipher suite strength, and a failed handshake. Pure; reads TlsFacts only.

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "policy/finding_list.hpp"
#include "proxy/facts.hpp"

namespace hopscope::policy {

// "SSLv3" → 0, "TLSv1" → 1, "TLSv1.1" → 2, "TLSv1.2" → 3, "TLSv1.3" → 4; nullopt if unknown.
std::optional<int> version_rank(std::string_view version);

enum class CipherGrade { strong, cbc_with_forward_secrecy, no_forward_secrecy, broken };

// Grades an IANA ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384") or OpenSSL
// ("ECDHE-RSA-AES256-SHA384") suite name. broken: NULL, EXPORT, anon, RC4, DES, 3DES, MD5;
// no_forward_secrecy: static RSA/DH/ECDH/PSK key exchange; cbc_with_forward_secrecy: (EC)DHE
// with a CBC cipher (Exchange 2016's default order puts these first for some clients).
CipherGrade grade_cipher(std::string_view cipher);

// TLS_HANDSHAKE_FAILED, TLS_PROTOCOL_WEAK, TLS_CIPHER_WEAK for `tls` (with the STARTTLS
// outcome `starttls`) under `leg`.
void check_tls_parameters(const TlsFacts& tls, const StartTlsFacts& starttls,
                          const std::string& leg, const config::PolicyConfig& policy,
                          FindingList& out);

}  // namespace hopscope::policy

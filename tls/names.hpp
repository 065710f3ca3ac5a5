#pragma once
// IANA names for TLS code points (versions, cipher suites, groups, alerts) and the GREASE
// test of RFC 8701. Pure lookups, standard library only: never throws for any input; an
// unknown code point becomes its hex (or decimal) spelling so nothing is silently dropped.

#include <cstdint>
#include <string>

namespace hopscope::tls {

// 0x0303 → "TLSv1.2", 0x0304 → "TLSv1.3", 0x0301 → "TLSv1", 0x0300 → "SSLv3";
// 0x7F1C → "TLSv1.3-draft-28"; anything else → "0x1234".
std::string version_name(std::uint16_t version);

// IANA TLS Cipher Suites registry name, e.g. 0xC030 → "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384";
// unknown → "0xC0FF". Covers every suite OpenSSL 3 knows plus the RC4, DES/3DES, NULL and
// EXPORT suites it dropped (the policy grades weak ciphers by these names).
std::string cipher_name(std::uint16_t suite);

// IANA TLS Supported Groups registry name, e.g. 29 → "x25519"; unknown → "0x1234".
std::string group_name(std::uint16_t group);

// RFC 8446 §6 (and RFC 5246 §7.2) alert description name, e.g. 42 → "bad_certificate";
// unknown → "unknown(N)".
std::string alert_name(std::uint8_t description);

// RFC 5246 §7.2 AlertLevel: 1 → "warning", 2 → "fatal", otherwise "unknown(N)".
std::string alert_level_name(std::uint8_t level);

// RFC 8701 §2: 0x0A0A, 0x1A1A, …, 0xFAFA (both bytes equal, low nibble 0xA).
bool is_grease(std::uint16_t value);

}  // namespace hopscope::tls

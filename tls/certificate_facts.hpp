#pragma once
// What one X.509 certificate says, as plain data (DESIGN.md §5 `server_certificates`).
// Filled by tls/certificate_reader.cpp from DER with OpenSSL; read by policy and the
// audit writer. Plain data only: no OpenSSL here.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hopscope::tls {

// One attribute of a distinguished name, in certificate order, e.g. {"CN", "mail.contoso.com"}.
// `type` is OpenSSL's short name (CN, O, OU, C, ST, L, emailAddress, …) or a dotted OID.
struct DnAttribute {
  std::string type;
  std::string value;
  friend bool operator==(const DnAttribute&, const DnAttribute&) = default;
};

struct CertificateFacts {
  std::string subject;  // one line, RFC 2253 order reversed to read like "CN=a, O=b, C=c"
  std::string issuer;
  std::vector<DnAttribute> subject_dn;  // in DER order (most significant first: C, O, …, CN)
  std::vector<DnAttribute> issuer_dn;
  std::vector<std::string> san_dns;
  std::vector<std::string> san_ip;
  std::string serial;      // upper-case hex, no separators
  std::string not_before;  // UTC ISO 8601, "2026-11-22T17:45:00Z"
  std::string not_after;
  std::int64_t not_before_unix = 0;  // seconds since the epoch, for policy's clock arithmetic
  std::int64_t not_after_unix = 0;
  std::string sha256;  // upper-case hex of the DER
  std::string sha1;    // upper-case hex of the DER: Exchange's "Thumbprint"
  std::string
      spki_sha256;       // base64 of SHA-256(SubjectPublicKeyInfo): the value of a "sha256/…" pin
  std::string key_type;  // "RSA", "EC", "Ed25519", "Ed448", "DSA", or OpenSSL's name
  int key_bits = 0;
  std::string key;           // "RSA 2048", "EC 256 (prime256v1)"
  std::string signature;     // "sha256WithRSAEncryption"
  bool self_signed = false;  // issuer == subject and the signature verifies with its own key
  bool is_ca = false;        // basicConstraints CA:TRUE
  std::string der_base64;    // the certificate itself, so an audit document can be re-verified
  std::string parse_error;   // non-empty when the DER could not be read; other fields then empty
};

// Chain verification and name matching (tls/verify.cpp), recorded as facts.
struct VerificationFacts {
  // false: the chain was not verified: none was seen (`error` empty), or the chain may have
  // been cut by hopscope's certificate cap and lacks an issuer (`error` says so; tls/verify.hpp)
  bool checked = false;
  bool trusted = false;  // the chain verifies to the configured trust store
  std::string error;     // OpenSSL's text, e.g. "self-signed certificate"; empty if trusted
  int error_depth = -1;  // chain position of the error, -1 if none
  std::optional<bool> name_matched;  // nullopt: no expected names configured
  std::optional<std::string> matched_name;
  std::vector<std::string> expected_names;  // what was matched against
};

}  // namespace hopscope::tls

#pragma once
// Certificate verification as facts: chain to the configured trust store (RFC 5280 §6 via
// OpenSSL's X509_verify_cert), OpenSSL's error text, and RFC 6125 name matching. It never
// blocks, refuses or logs anything: it returns VerificationFacts and policy judges them.
// Pins, thumbprints and DN comparison are policy's (pure, on CertificateFacts).
// OpenSSL stays in verify.cpp.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tls/certificate_facts.hpp"

namespace hopscope::tls {

// RFC 6125 §6.4: does presented identifier `pattern` (a DNS SAN or CN) match reference
// identifier `host`? Pure. ASCII case-insensitive (§6.4.1); one trailing dot ignored on each
// side; IDNA A-labels are compared as ASCII (§6.4.2). A wildcard is accepted only as the whole
// left-most label ("*.contoso.com"), stands for exactly one non-empty label, and needs at least
// two labels after it (§6.4.3, as OpenSSL: "*.com" matches nothing); partial-label wildcards
// ("mail*.contoso.com") match nothing.
bool name_matches(std::string_view pattern, std::string_view host);

// The first of `expected_names` the leaf is valid for, or nullopt. RFC 6125 §6.4.4: DNS SANs
// first; the subject CN(s) only when the certificate has no DNS SAN at all. An expected name
// that is an IP literal is compared with the IP SANs (RFC 5280 §4.2.1.6), never with the CN.
std::optional<std::string> match_leaf(const CertificateFacts& leaf,
                                      const std::vector<std::string>& expected_names);

// Holds a loaded trust store. Load once at startup; verify() is const, cheap and safe to call
// from several threads at once (each call builds its own X509_STORE_CTX). Copies share the store.
class Verifier {
 public:
  // `trust` is "system" (OpenSSL's default paths; Debian: /etc/ssl/certs, honouring
  // SSL_CERT_FILE / SSL_CERT_DIR) or the path of a PEM bundle. Outcomes:
  // @li a Verifier;
  // @li nullopt and `*error` (when non-null) naming the file and why it could not be used
  //     (missing, unreadable, no certificate in it).
  static std::optional<Verifier> load(const std::string& trust, std::string* error);

  // `der_chain` is leaf first, the rest untrusted intermediates as presented. Verification is
  // done at `at_unix_time` (seconds since the epoch), with purpose "any" (SMTP certificates
  // often carry odd EKUs: policy may judge them, verification does not) and without
  // X509_V_FLAG_PARTIAL_CHAIN (a chain must reach a self-signed anchor in the store). Outcomes:
  // @li empty chain: `checked` false, nothing else;
  // @li trusted: `trusted` true, `error` empty, `error_depth` -1;
  // @li not trusted: OpenSSL's first error text ("self-signed certificate", "certificate has
  //     expired", "unable to get local issuer certificate", …) and its chain depth; a leaf
  //     that is not DER gives "certificate could not be parsed: …" at depth 0;
  // @li not verified: a chain the passive observer cut (`chain_cut`: it keeps at most
  //     max_chain_certificates, tls/handshake_observer.hpp) whose verification failed for want
  //     of an issuer: that issuer may be one hopscope dropped, so trust is unknown, not
  //     refused. `checked` false, `trusted` false, `error` "not verified: hopscope keeps at most
  //     16 certificates of a chain …" with OpenSSL's text, `error_depth` -1. Other failures of
  //     such a chain (expired, self-signed in chain, bad signature) are reported as usual:
  //     they are properties of the certificates that were kept.
  // Name matching (match_leaf) is independent of trust: `name_matched` is nullopt when
  // `expected_names` is empty.
  [[nodiscard]] VerificationFacts verify(const std::vector<std::string>& der_chain,
                                         const std::vector<std::string>& expected_names,
                                         std::int64_t at_unix_time, bool chain_cut = false) const;

 private:
  struct Store;  // owns the OpenSSL X509_STORE; defined in verify.cpp
  explicit Verifier(std::shared_ptr<const Store> store) : store_(std::move(store)) {}
  std::shared_ptr<const Store> store_;
};

}  // namespace hopscope::tls

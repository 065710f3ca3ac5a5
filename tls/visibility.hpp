#pragma once
// What a passive observer of a TLS handshake (passthrough mode) can see, as one rule shared by
// policy (which must not judge what was not seen) and the audit writer (which must not record
// it as an observed fact). Pure, header-only, standard library and plain facts only.

#include <string_view>

#include "proxy/facts.hpp"

namespace hopscope::tls {

// Whether the negotiated version `version` (tls/names version_name(): "SSLv3", "TLSv1",
// "TLSv1.1", "TLSv1.2", …) sends the handshake after ServerHello in clear. TLS 1.3, its drafts
// ("TLSv1.3-draft-28") and any version this code does not know encrypt it (RFC 8446 §2).
[[nodiscard]] inline bool handshake_in_clear(std::string_view version) {
  return version == "TLSv1.2" || version == "TLSv1.1" || version == "TLSv1" || version == "SSLv3";
}

// Whether a handshake observed passively on the wire shows the client-certificate exchange:
// the server's CertificateRequest and the client's Certificate. Not in TLS 1.3, which encrypts
// both (RFC 8446 §4.3.2, §4.4.2); not in a resumed TLS ≤ 1.2 session, whose abbreviated
// handshake exchanges no certificates (RFC 5246 §7.3); not when the facts come from a side
// probe (`source` "probe"), whose handshake is hopscope's own, not the sender's. When no
// ServerHello was seen (`version` empty) nothing was hidden: the handshake ended before any
// certificate could be exchanged, so what was seen (nothing) is the fact.
// A handshake hopscope terminated itself (inspect mode, hop probes) shows everything: callers
// ask this only of passively observed handshakes.
[[nodiscard]] inline bool client_certificate_exchange_visible(const hopscope::TlsFacts& tls) {
  return tls.source == "handshake" && !tls.resumed &&
         (!tls.version || handshake_in_clear(*tls.version));
}

}  // namespace hopscope::tls

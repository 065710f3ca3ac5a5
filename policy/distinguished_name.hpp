#pragma once
// Distinguished names as sequences of attribute/value pairs, so that what Exchange prints
// (`TlsCertificateName` "<I>CN=R3, O=Let's Encrypt, C=US<S>CN=mail.contoso.com", Windows
// spellings S=, E=, quoted values O="Contoso, Inc.") compares equal to what OpenSSL reads
// from the certificate (ST=, emailAddress=, RFC 4514 escapes). Pure; never throws.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/certificate_facts.hpp"

namespace hopscope::policy {

// One relative distinguished name: usually one attribute, several for "A=1+B=2".
using Rdn = std::vector<tls::DnAttribute>;
using Dn = std::vector<Rdn>;

// The canonical attribute type: Windows and OpenSSL spellings and dotted OIDs map to one
// upper-case name (S, ST, 2.5.4.8 → "ST"; E, EMAIL, emailAddress, 1.2.840.113549.1.9.1 →
// "EMAILADDRESS"; CN, 2.5.4.3 → "CN"); an unknown type is upper-cased as is.
std::string canonical_type(std::string_view type);

// Parses "CN=a, O=\"b, c\", C=US" (Windows / RFC 4514 with ',' or ';' between RDNs and '+'
// inside one), OpenSSL's "C = US, O = b, CN = a" and its old "/C=US/O=b/CN=a" form. Values
// may be quoted or backslash-escaped (`\,`, `\"`, `\2C`). nullopt when the text is not a DN
// (an attribute without '=', an unterminated quote, an empty text).
std::optional<Dn> parse_dn(std::string_view text);

// RDNs from a certificate's flat attribute list (one attribute per RDN).
Dn from_attributes(const std::vector<tls::DnAttribute>& attributes);

// Equal as sequences of RDNs — in the given order or fully reversed, because Windows and
// RFC 4514 print the most specific RDN first and DER order is the reverse — with the
// attributes of one RDN compared regardless of order, types by canonical_type() and values
// case-insensitively with runs of spaces collapsed (X.520 caseIgnoreMatch).
bool dn_equal(const Dn& a, const Dn& b);

// Exchange's TlsCertificateName, "<I>issuer<S>subject" (Set-ReceiveConnector
// -TlsCertificateName, Get-HybridConfiguration). Either part may be empty. nullopt when the
// text lacks the markers or a part does not parse.
struct ExchangeCertificateName {
  std::optional<Dn> issuer;
  std::optional<Dn> subject;
};
std::optional<ExchangeCertificateName> parse_exchange_certificate_name(std::string_view text);

}  // namespace hopscope::policy

#include "tls/certificate_reader.hpp"

#include <array>
#include <chrono>
#include <climits>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string_view>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <sys/socket.h>

namespace hopscope::tls {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};
struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct OpensslFree {
  void operator()(void* p) const { OPENSSL_free(p); }
};

// The reason part of OpenSSL's last queued error, then an empty queue: errors from one
// certificate must not leak into the next call on this thread.
std::string take_openssl_error(const char* fallback) {
  const unsigned long code = ERR_peek_last_error();
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  ERR_clear_error();
  return reason != nullptr ? std::string(reason) : std::string(fallback);
}

std::string hex_upper(const unsigned char* data, std::size_t size) {
  static constexpr std::string_view digits = "0123456789ABCDEF";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(digits[data[i] >> 4U]);
    out.push_back(digits[data[i] & 0x0FU]);
  }
  return out;
}

std::string base64(const unsigned char* data, std::size_t size) {
  if (size == 0 || size > static_cast<std::size_t>(INT_MAX / 4 * 3 - 3)) {
    return {};
  }
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  // EVP_EncodeBlock: one line, no newlines, NUL-terminated; returns the length without NUL.
  const int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(written > 0 ? static_cast<std::size_t>(written) : 0);
  return out;
}

std::string asn1_string_text(const ASN1_STRING* value) {
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, value);
  if (length >= 0 && utf8 != nullptr) {
    std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
    OPENSSL_free(utf8);
    return out;
  }
  // Known limitation: a string that does not convert (e.g. an odd-length BMPString) is kept as
  // its raw bytes, so the audit still shows something rather than nothing.
  ERR_clear_error();
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
          static_cast<std::size_t>(ASN1_STRING_length(value))};
}

std::string object_name(const ASN1_OBJECT* object) {
  const int nid = OBJ_obj2nid(object);
  if (nid != NID_undef) {
    if (const char* name = OBJ_nid2sn(nid); name != nullptr) {
      return name;
    }
  }
  std::array<char, 128> dotted{};
  const int length = OBJ_obj2txt(dotted.data(), static_cast<int>(dotted.size()), object, 1);
  return length > 0 ? std::string(dotted.data()) : std::string("?");
}

struct NameEntries {
  std::vector<DnAttribute> attributes;  // DER order
  std::vector<int> rdn_index;           // which RDN (SET) each attribute belongs to
};

NameEntries read_name(const X509_NAME* name) {
  NameEntries out;
  if (name == nullptr) {
    return out;
  }
  const int count = X509_NAME_entry_count(name);
  for (int i = 0; i < count; ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    out.attributes.push_back({object_name(X509_NAME_ENTRY_get_object(entry)),
                              asn1_string_text(X509_NAME_ENTRY_get_data(entry))});
    out.rdn_index.push_back(X509_NAME_ENTRY_set(entry));
  }
  return out;
}

// Windows (CertNameToStr) quotes a value holding a separator and doubles inner quotes:
// O="Contoso, Inc.". Exchange's TlsCertificateName is written that way, so we write it too.
std::string quote_like_windows(const std::string& value) {
  const bool needs_quotes = value.empty() ||
                            value.find_first_of(",+=\"\n\r<>#;") != std::string::npos ||
                            value.front() == ' ' || value.back() == ' ';
  if (!needs_quotes) {
    return value;
  }
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"') {
      out.push_back('"');
    }
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// "CN=mail.contoso.com, O=Contoso, C=US": RDNs most specific first (RFC 4514 §2.1 order),
// attributes of one multi-valued RDN joined by " + ".
std::string one_line(const NameEntries& name) {
  std::string out;
  const std::size_t count = name.attributes.size();
  for (std::size_t k = count; k-- > 0;) {
    if (k + 1 < count) {
      out += name.rdn_index[k] == name.rdn_index[k + 1] ? " + " : ", ";
    }
    out += name.attributes[k].type;
    out += '=';
    out += quote_like_windows(name.attributes[k].value);
  }
  return out;
}

void read_alt_names(const X509* cert, CertificateFacts& facts) {
  const std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  ERR_clear_error();  // absent or malformed: no SANs is the fact
  if (!names) {
    return;
  }
  const int count = sk_GENERAL_NAME_num(names.get());
  for (int i = 0; i < count; ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      facts.san_dns.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                 static_cast<std::size_t>(ASN1_STRING_length(dns)));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      const int length = ASN1_STRING_length(ip);
      const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : AF_UNSPEC;
      std::array<char, INET6_ADDRSTRLEN> text{};
      if (family != AF_UNSPEC && inet_ntop(family, ASN1_STRING_get0_data(ip), text.data(),
                                           static_cast<socklen_t>(text.size())) != nullptr) {
        facts.san_ip.emplace_back(text.data());
      } else {
        // RFC 5280 §4.2.1.6 allows only 4 or 16 octets here; show what was sent.
        facts.san_ip.push_back(
            "#" + hex_upper(ASN1_STRING_get0_data(ip), static_cast<std::size_t>(length)));
      }
    }
  }
}

std::string read_serial(const X509* cert) {
  const std::unique_ptr<BIGNUM, BnFree> bn(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) {
    ERR_clear_error();
    return {};
  }
  const std::unique_ptr<char, OpensslFree> hex(BN_bn2hex(bn.get()));
  return hex ? std::string(hex.get()) : std::string();
}

// ISO 8601 text and the unix time of one validity bound (RFC 5280 §4.1.2.5: UTCTime or
// GeneralizedTime, always UTC).
void read_time(const ASN1_TIME* time, std::string& iso, std::int64_t& unix_seconds) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    ERR_clear_error();
    return;
  }
  std::array<char, 96> text{};  // room for any int, so -Wformat-truncation stays quiet
  std::snprintf(text.data(), text.size(), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  iso = text.data();
  namespace chrono = std::chrono;
  const chrono::sys_days day{chrono::year{tm.tm_year + 1900} /
                             chrono::month{static_cast<unsigned>(tm.tm_mon + 1)} /
                             chrono::day{static_cast<unsigned>(tm.tm_mday)}};
  const auto moment = chrono::sys_seconds{day} + chrono::hours{tm.tm_hour} +
                      chrono::minutes{tm.tm_min} + chrono::seconds{tm.tm_sec};
  unix_seconds = moment.time_since_epoch().count();
}

// The fingerprint of the bytes as they came on the wire. X509_digest would hash OpenSSL's
// re-encoding, which differs from the input when d2i_X509 accepted BER (a non-minimal length),
// and then the thumbprint would not match the certificate in the document or in a pin.
std::string digest_hex(std::string_view der, const EVP_MD* md) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(der.data(), der.size(), digest.data(), &length, md, nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  return hex_upper(digest.data(), length);
}

// RFC 7469 §2.4: SHA-256 over the whole DER SubjectPublicKeyInfo, algorithm included.
// (X509_pubkey_digest would hash only the key bits, which is not the pin.)
std::string spki_sha256(const X509* cert) {
  unsigned char* der = nullptr;
  const int length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  const std::unique_ptr<unsigned char, OpensslFree> owned(der);
  if (length <= 0) {
    ERR_clear_error();
    return {};
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_length = 0;
  if (EVP_Digest(der, static_cast<std::size_t>(length), digest.data(), &digest_length, EVP_sha256(),
                 nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  return base64(digest.data(), digest_length);
}

void read_key(const X509* cert, CertificateFacts& facts) {
  EVP_PKEY* key = X509_get0_pubkey(cert);  // not owned
  if (key == nullptr) {
    // A key algorithm OpenSSL cannot load: still name it from the SPKI's OID.
    ERR_clear_error();
    ASN1_OBJECT* algorithm = nullptr;
    if (X509_PUBKEY_get0_param(&algorithm, nullptr, nullptr, nullptr, X509_get_X509_PUBKEY(cert)) ==
            1 &&
        algorithm != nullptr) {
      facts.key_type = object_name(algorithm);
      facts.key = facts.key_type;
    }
    return;
  }
  facts.key_bits = EVP_PKEY_get_bits(key);
  const std::string bits = std::to_string(facts.key_bits);
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      facts.key_type = "RSA";
      break;
    case EVP_PKEY_RSA_PSS:
      facts.key_type = "RSA-PSS";
      break;
    case EVP_PKEY_DSA:
      facts.key_type = "DSA";
      break;
    case EVP_PKEY_EC: {
      facts.key_type = "EC";
      std::array<char, 80> group{};
      std::size_t group_length = 0;
      facts.key = "EC " + bits;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(),
                                         group.size(), &group_length) == 1) {
        facts.key += " (" + std::string(group.data(), group_length) + ")";
      }
      ERR_clear_error();
      return;
    }
    case EVP_PKEY_ED25519:
      facts.key_type = "Ed25519";
      facts.key = facts.key_type;  // fixed size: the bit count would only confuse
      return;
    case EVP_PKEY_ED448:
      facts.key_type = "Ed448";
      facts.key = facts.key_type;
      return;
    default: {
      const char* name = EVP_PKEY_get0_type_name(key);
      facts.key_type = name != nullptr ? name : "unknown";
      break;
    }
  }
  facts.key = facts.key_type + " " + bits;
}

std::string signature_name(const X509* cert) {
  const int nid = X509_get_signature_nid(cert);
  if (nid != NID_undef) {
    if (const char* name = OBJ_nid2ln(nid); name != nullptr) {
      return name;  // long names are the familiar ones: "sha256WithRSAEncryption"
    }
  }
  const X509_ALGOR* algorithm = nullptr;
  X509_get0_signature(nullptr, &algorithm, cert);
  const ASN1_OBJECT* object = nullptr;
  X509_ALGOR_get0(&object, nullptr, nullptr, algorithm);
  return object != nullptr ? object_name(object) : std::string();
}

// Issuer equals subject *and* the certificate's own key verifies its signature: an issuer
// name copied from a real CA is not enough (RFC 5280 §6.1 "self-issued" vs self-signed).
bool is_self_signed(X509* cert) {
  if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(cert)) != 0) {
    return false;
  }
  EVP_PKEY* key = X509_get0_pubkey(cert);
  const bool verified = key != nullptr && X509_verify(cert, key) == 1;
  ERR_clear_error();
  return verified;
}

}  // namespace

CertificateFacts read_certificate(std::string_view der) {
  CertificateFacts facts;
  if (der.empty()) {
    facts.parse_error = "empty certificate";
    return facts;
  }
  if (der.size() > static_cast<std::size_t>(LONG_MAX)) {
    facts.parse_error = "certificate too large";
    return facts;
  }
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* cursor = begin;
  const std::unique_ptr<X509, X509Free> cert(
      d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
  if (!cert) {
    facts.parse_error = "certificate could not be parsed: " + take_openssl_error("not DER X.509");
    return facts;
  }
  if (const auto used = static_cast<std::size_t>(cursor - begin); used != der.size()) {
    // DER is exact (X.690 §10); bytes after the certificate mean a malformed message.
    const std::size_t extra = der.size() - used;
    facts.parse_error = "certificate could not be parsed: " + std::to_string(extra) +
                        (extra == 1 ? " byte" : " bytes") + " after the certificate";
    return facts;
  }

  const NameEntries subject = read_name(X509_get_subject_name(cert.get()));
  const NameEntries issuer = read_name(X509_get_issuer_name(cert.get()));
  facts.subject = one_line(subject);
  facts.issuer = one_line(issuer);
  facts.subject_dn = subject.attributes;
  facts.issuer_dn = issuer.attributes;
  read_alt_names(cert.get(), facts);
  facts.serial = read_serial(cert.get());
  read_time(X509_get0_notBefore(cert.get()), facts.not_before, facts.not_before_unix);
  read_time(X509_get0_notAfter(cert.get()), facts.not_after, facts.not_after_unix);
  facts.sha256 = digest_hex(der, EVP_sha256());
  facts.sha1 = digest_hex(der, EVP_sha1());
  facts.spki_sha256 = spki_sha256(cert.get());
  read_key(cert.get(), facts);
  facts.signature = signature_name(cert.get());
  facts.self_signed = is_self_signed(cert.get());
  facts.is_ca = (X509_get_extension_flags(cert.get()) & EXFLAG_CA) != 0;
  facts.der_base64 = base64(begin, der.size());
  ERR_clear_error();
  return facts;
}

std::vector<CertificateFacts> read_chain(const std::vector<std::string>& der_chain) {
  std::vector<CertificateFacts> chain;
  chain.reserve(der_chain.size());
  for (const std::string& der : der_chain) {
    chain.push_back(read_certificate(der));
  }
  return chain;
}

}  // namespace hopscope::tls

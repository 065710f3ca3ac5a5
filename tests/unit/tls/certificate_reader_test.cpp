#include "tls/certificate_reader.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "test_certificates.hpp"

namespace hopscope::tls {
namespace {

namespace t = testing;

std::string upper_hex(const unsigned char* data, unsigned int size) {
  static constexpr std::string_view digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(digits[data[i] >> 4U]);
    out.push_back(digits[data[i] & 0x0FU]);
  }
  return out;
}

std::string base64_decode(const std::string& text) {
  std::string out(text.size(), '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(text.data()),
                                     static_cast<int>(text.size()));
  if (length < 0) {
    return {};
  }
  // EVP_DecodeBlock counts the '=' padding as zero bytes.
  const auto padding = static_cast<std::size_t>(std::count(text.end() - 2, text.end(), '='));
  out.resize(static_cast<std::size_t>(length) - padding);
  return out;
}

TEST(CertificateReader, SubjectReadsMostSpecificFirst) {
  const auto facts = read_certificate(t::contoso_pki().leaf.der);
  ASSERT_EQ(facts.parse_error, "");
  EXPECT_EQ(facts.subject, "CN=mail.contoso.com, O=Contoso, C=US");
  EXPECT_EQ(facts.issuer, "CN=Contoso Issuing CA, O=Contoso, C=US");
}

TEST(CertificateReader, DnAttributesKeepDerOrder) {
  const auto facts = read_certificate(t::contoso_pki().leaf.der);
  const std::vector<DnAttribute> subject{{"C", "US"}, {"O", "Contoso"}, {"CN", "mail.contoso.com"}};
  const std::vector<DnAttribute> issuer{
      {"C", "US"}, {"O", "Contoso"}, {"CN", "Contoso Issuing CA"}};
  EXPECT_EQ(facts.subject_dn, subject);
  EXPECT_EQ(facts.issuer_dn, issuer);
}

TEST(CertificateReader, ValuesWithSeparatorsAreQuotedLikeWindows) {
  const auto cert = t::issue({.subject = {{"C", "US"},
                                          {"O", "Contoso, Inc."},
                                          {"OU", "Say \"hi\""},
                                          {"emailAddress", "postmaster@contoso.com"},
                                          {"CN", "mail.contoso.com"}}});
  const auto facts = read_certificate(cert.der);
  EXPECT_EQ(facts.subject,
            "CN=mail.contoso.com, emailAddress=postmaster@contoso.com, OU=\"Say \"\"hi\"\"\", "
            "O=\"Contoso, Inc.\", C=US");
  ASSERT_EQ(facts.subject_dn.size(), 5U);
  EXPECT_EQ(facts.subject_dn[1].value, "Contoso, Inc.");
}

TEST(CertificateReader, MultiValuedRdnIsJoinedWithPlus) {
  const auto cert = t::issue({.subject = {{"C", "US"}, {"O", "Contoso"}, {"+OU", "Mail"}}});
  const auto facts = read_certificate(cert.der);
  // One RDN {O, OU}: OpenSSL sorts a SET's members by encoding, so only the joiner is fixed.
  EXPECT_TRUE(facts.subject == "O=Contoso + OU=Mail, C=US" ||
              facts.subject == "OU=Mail + O=Contoso, C=US")
      << facts.subject;
}

TEST(CertificateReader, NonAsciiValueIsUtf8) {
  const auto cert = t::issue({.subject = {{"C", "DE"}, {"O", "M\xC3\xBCller GmbH"}}});
  const auto facts = read_certificate(cert.der);
  EXPECT_EQ(facts.subject, "O=M\xC3\xBCller GmbH, C=DE");
}

TEST(CertificateReader, UnknownAttributeTypeIsADottedOid) {
  const auto cert = t::issue({.subject = {{"1.3.6.1.4.1.99999.1", "custom"}, {"CN", "x"}}});
  const auto facts = read_certificate(cert.der);
  ASSERT_EQ(facts.subject_dn.size(), 2U);
  EXPECT_EQ(facts.subject_dn[0].type, "1.3.6.1.4.1.99999.1");
  EXPECT_EQ(facts.subject, "CN=x, 1.3.6.1.4.1.99999.1=custom");
}

TEST(CertificateReader, ReadsDnsAndIpSubjectAltNames) {
  const auto cert = t::issue({.subject = t::contoso("mail.contoso.com"),
                              .san = {"DNS:mail.contoso.com", "IP:192.0.2.25", "DNS:*.contoso.com",
                                      "IP:2001:DB8:0:0:0:0:0:19", "email:postmaster@contoso.com"}});
  const auto facts = read_certificate(cert.der);
  EXPECT_EQ(facts.san_dns, (std::vector<std::string>{"mail.contoso.com", "*.contoso.com"}));
  EXPECT_EQ(facts.san_ip, (std::vector<std::string>{"192.0.2.25", "2001:db8::19"}));
}

TEST(CertificateReader, NoSanExtensionMeansEmptyLists) {
  const auto cert = t::issue({.subject = t::contoso("mail.contoso.com")});
  const auto facts = read_certificate(cert.der);
  EXPECT_TRUE(facts.san_dns.empty());
  EXPECT_TRUE(facts.san_ip.empty());
}

TEST(CertificateReader, SerialIsUpperHexWithoutSeparators) {
  EXPECT_EQ(read_certificate(t::contoso_pki().leaf.der).serial, "1A2B3C4D5E");
  // Whole bytes, so a leading nibble of zero shows ("0A…" as `openssl x509 -serial`).
  const auto low = t::issue({.subject = t::contoso("x"), .serial_hex = "0ABCDEF012345678"});
  EXPECT_EQ(read_certificate(low.der).serial, "0ABCDEF012345678");
  // A high bit makes DER prepend 00 (X.690 §8.3.2); the number, not the padding, is shown.
  const auto high = t::issue({.subject = t::contoso("x"), .serial_hex = "80FF"});
  EXPECT_EQ(read_certificate(high.der).serial, "80FF");
}

TEST(CertificateReader, ValidityIsIso8601UtcAndUnix) {
  const auto facts = read_certificate(t::contoso_pki().leaf.der);
  EXPECT_EQ(facts.not_before, "2026-01-01T00:00:00Z");
  EXPECT_EQ(facts.not_after, "2026-11-22T17:45:00Z");
  EXPECT_EQ(facts.not_before_unix, t::y2026);
  EXPECT_EQ(facts.not_after_unix, t::nov_2026);
}

TEST(CertificateReader, GeneralizedTimeAfter2049IsRead) {
  // RFC 5280 §4.1.2.5: from 2050 the encoding switches to GeneralizedTime.
  const std::int64_t y2051 = 2556144000;  // 2051-01-01T00:00:00Z
  const auto cert = t::issue({.subject = t::contoso("x"), .not_after = y2051});
  const auto facts = read_certificate(cert.der);
  EXPECT_EQ(facts.not_after, "2051-01-01T00:00:00Z");
  EXPECT_EQ(facts.not_after_unix, y2051);
}

TEST(CertificateReader, Sha1ThumbprintMatchesX509DigestUpperHex) {
  const auto& leaf = t::contoso_pki().leaf;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  ASSERT_EQ(X509_digest(leaf.cert.get(), EVP_sha1(), digest.data(), &length), 1);
  const auto facts = read_certificate(leaf.der);
  EXPECT_EQ(facts.sha1.size(), 40U);
  EXPECT_EQ(facts.sha1, upper_hex(digest.data(), length));
  EXPECT_EQ(facts.sha1.find_first_not_of("0123456789ABCDEF"), std::string::npos);
}

TEST(CertificateReader, Sha256FingerprintIsOfTheDer) {
  const auto& leaf = t::contoso_pki().leaf;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  ASSERT_EQ(
      EVP_Digest(leaf.der.data(), leaf.der.size(), digest.data(), &length, EVP_sha256(), nullptr),
      1);
  const auto facts = read_certificate(leaf.der);
  EXPECT_EQ(facts.sha256.size(), 64U);
  EXPECT_EQ(facts.sha256, upper_hex(digest.data(), length));
}

// OpenSSL accepts a non-minimal (BER) outer length and would hash its own re-encoding: the
// fingerprint must be of the bytes that came on the wire.
TEST(CertificateReader, FingerprintsAreOfTheWireBytesEvenWhenNotMinimalDer) {
  const std::string& der = t::contoso_pki().leaf.der;
  ASSERT_EQ(static_cast<unsigned char>(der[1]), 0x82U);  // 30 82 LL LL
  const std::string ber = der.substr(0, 1) + std::string("\x83\x00", 2) + der.substr(2);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  ASSERT_EQ(EVP_Digest(ber.data(), ber.size(), digest.data(), &length, EVP_sha256(), nullptr), 1);
  const auto facts = read_certificate(ber);
  ASSERT_EQ(facts.parse_error, "");  // OpenSSL 3 reads it (d2i_X509 accepts BER)
  EXPECT_EQ(facts.sha256, upper_hex(digest.data(), length));
  EXPECT_NE(facts.sha256, read_certificate(der).sha256);
}

TEST(CertificateReader, SpkiHashIsBase64OfSha256OfTheKeysSpki) {
  // Computed the other way round from the pin recipe: from the key, not the certificate
  // (`openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`).
  const auto& leaf = t::contoso_pki().leaf;
  unsigned char* spki = nullptr;
  const int spki_length = i2d_PUBKEY(leaf.key.get(), &spki);
  ASSERT_GT(spki_length, 0);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  ASSERT_EQ(EVP_Digest(spki, static_cast<std::size_t>(spki_length), digest.data(), &length,
                       EVP_sha256(), nullptr),
            1);
  OPENSSL_free(spki);
  std::array<unsigned char, 64> encoded{};
  const int encoded_length =
      EVP_EncodeBlock(encoded.data(), digest.data(), static_cast<int>(length));

  const auto facts = read_certificate(leaf.der);
  EXPECT_EQ(facts.spki_sha256.size(), 44U);
  EXPECT_EQ(facts.spki_sha256, std::string(reinterpret_cast<const char*>(encoded.data()),
                                           static_cast<std::size_t>(encoded_length)));
  // Same key, other certificate: same pin; other key: another pin.
  EXPECT_EQ(read_certificate(t::issue({.subject = t::contoso("y"), .key = "RSA-2048#leaf"}).der)
                .spki_sha256,
            facts.spki_sha256);
  EXPECT_NE(read_certificate(t::contoso_pki().root.der).spki_sha256, facts.spki_sha256);
}

TEST(CertificateReader, KeyTypeAndSize) {
  struct Case {
    std::string key;
    std::string type;
    int bits;
    std::string text;
  };
  const std::vector<Case> cases{{"RSA-1024", "RSA", 1024, "RSA 1024"},
                                {"RSA-2048", "RSA", 2048, "RSA 2048"},
                                {"EC-P256", "EC", 256, "EC 256 (prime256v1)"}};
  for (const auto& c : cases) {
    const auto facts = read_certificate(t::issue({.subject = t::contoso("k"), .key = c.key}).der);
    EXPECT_EQ(facts.key_type, c.type) << c.key;
    EXPECT_EQ(facts.key_bits, c.bits) << c.key;
    EXPECT_EQ(facts.key, c.text) << c.key;
  }
}

TEST(CertificateReader, Ed25519KeyAndSignature) {
  const auto cert = t::issue({.subject = t::contoso("ed"), .key = "ED25519", .digest = nullptr});
  const auto facts = read_certificate(cert.der);
  EXPECT_EQ(facts.key_type, "Ed25519");
  EXPECT_EQ(facts.key, "Ed25519");
  EXPECT_EQ(facts.signature, "ED25519");
  EXPECT_TRUE(facts.self_signed);
}

TEST(CertificateReader, SignatureAlgorithmNames) {
  const auto sha1 = t::issue({.subject = t::contoso("s"), .digest = EVP_sha1()});
  EXPECT_EQ(read_certificate(sha1.der).signature, "sha1WithRSAEncryption");
  const auto sha384 = t::issue({.subject = t::contoso("s"), .digest = EVP_sha384()});
  EXPECT_EQ(read_certificate(sha384.der).signature, "sha384WithRSAEncryption");
  EXPECT_EQ(read_certificate(t::contoso_pki().leaf.der).signature, "ecdsa-with-SHA256");
  EXPECT_EQ(read_certificate(t::contoso_pki().intermediate.der).signature,
            "sha256WithRSAEncryption");
}

TEST(CertificateReader, SelfSignedNeedsSameNameAndOwnSignature) {
  const auto self = t::issue({.subject = {{"CN", "barracuda.local"}}});
  EXPECT_TRUE(read_certificate(self.der).self_signed);
  EXPECT_TRUE(read_certificate(t::contoso_pki().root.der).self_signed);
  EXPECT_FALSE(read_certificate(t::contoso_pki().leaf.der).self_signed);
  EXPECT_FALSE(read_certificate(t::contoso_pki().intermediate.der).self_signed);
}

TEST(CertificateReader, IssuerEqualToSubjectButSignedByAnotherKeyIsNotSelfSigned) {
  const auto& root = t::contoso_pki().root;
  // Issuer name == subject name, but the CA's key signed it: self-issued, not self-signed.
  const auto forged = t::issue(
      {.subject = {{"CN", "mail.contoso.com"}}, .issuer_name = t::Name{{"CN", "mail.contoso.com"}}},
      &root);
  const auto facts = read_certificate(forged.der);
  EXPECT_EQ(facts.subject, facts.issuer);
  EXPECT_FALSE(facts.self_signed);
}

TEST(CertificateReader, CaFlagFromBasicConstraints) {
  EXPECT_TRUE(read_certificate(t::contoso_pki().root.der).is_ca);
  EXPECT_TRUE(read_certificate(t::contoso_pki().intermediate.der).is_ca);
  EXPECT_FALSE(read_certificate(t::contoso_pki().leaf.der).is_ca);
}

TEST(CertificateReader, DerBase64RoundTrips) {
  const auto& leaf = t::contoso_pki().leaf;
  const auto facts = read_certificate(leaf.der);
  EXPECT_EQ(facts.der_base64.find('\n'), std::string::npos);
  EXPECT_EQ(base64_decode(facts.der_base64), leaf.der);
}

void expect_only_parse_error(const CertificateFacts& facts, const std::string& what) {
  EXPECT_NE(facts.parse_error, "") << what;
  EXPECT_EQ(facts.subject, "") << what;
  EXPECT_EQ(facts.sha256, "") << what;
  EXPECT_EQ(facts.sha1, "") << what;
  EXPECT_EQ(facts.key, "") << what;
  EXPECT_EQ(facts.der_base64, "") << what;
  EXPECT_FALSE(facts.self_signed) << what;
}

TEST(CertificateReader, GarbageGivesParseErrorNotACrash) {
  expect_only_parse_error(read_certificate(""), "empty");
  expect_only_parse_error(read_certificate("hello, world"), "text");
  expect_only_parse_error(read_certificate(std::string(1, '\x30')), "lone SEQUENCE tag");
  expect_only_parse_error(read_certificate(std::string("\x30\x84\xff\xff\xff\xff", 6)),
                          "huge length");
  const auto pem_text = t::pem(t::contoso_pki().leaf);
  expect_only_parse_error(read_certificate(pem_text), "PEM is not DER");
}

TEST(CertificateReader, EveryTruncationGivesParseError) {
  const std::string& der = t::contoso_pki().leaf.der;
  for (std::size_t cut = 0; cut < der.size(); ++cut) {
    const auto facts = read_certificate(std::string_view(der).substr(0, cut));
    ASSERT_NE(facts.parse_error, "") << "cut=" << cut;
    ASSERT_EQ(facts.sha256, "") << "cut=" << cut;
  }
  EXPECT_EQ(read_certificate(der).parse_error, "");
}

TEST(CertificateReader, TrailingBytesAfterTheCertificateAreAParseError) {
  const auto facts = read_certificate(t::contoso_pki().leaf.der + "X");
  EXPECT_NE(facts.parse_error.find("1 byte after the certificate"), std::string::npos)
      << facts.parse_error;
  EXPECT_EQ(facts.subject, "");
}

TEST(CertificateReader, RandomByteFlipsNeverCrash) {
  const unsigned seed = std::random_device{}();
  std::cout << "RandomByteFlipsNeverCrash seed=" << seed << "\n";
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937 random(seed);
  const std::string& der = t::contoso_pki().leaf.der;
  std::uniform_int_distribution<std::size_t> position(0, der.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 500; ++round) {
    std::string mutated = der;
    for (int flips = 0; flips < 3; ++flips) {
      mutated[position(random)] = static_cast<char>(byte(random));
    }
    const auto facts = read_certificate(mutated);
    // Either readable (a flip in a value) or refused: never half-filled.
    EXPECT_TRUE(facts.parse_error.empty() != facts.sha256.empty()) << "round=" << round;
  }
}

TEST(CertificateReader, ReadChainKeepsOrderAndIsolatesBadEntries) {
  const auto& pki = t::contoso_pki();
  const auto chain = read_chain({pki.leaf.der, "garbage", pki.intermediate.der});
  ASSERT_EQ(chain.size(), 3U);
  EXPECT_EQ(chain[0].subject, "CN=mail.contoso.com, O=Contoso, C=US");
  EXPECT_NE(chain[1].parse_error, "");
  EXPECT_EQ(chain[2].subject, "CN=Contoso Issuing CA, O=Contoso, C=US");
  EXPECT_TRUE(read_chain({}).empty());
}

TEST(CertificateReader, ReadsARealCertificateFromTheSystemStore) {
  const std::filesystem::path dir = "/etc/ssl/certs";
  std::error_code error;
  std::string der;
  std::string file;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.path().extension() != ".pem") {
      continue;
    }
    BIO* bio = BIO_new_file(entry.path().c_str(), "r");
    X509* cert = bio != nullptr ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(bio);
    if (cert != nullptr) {
      der = t::to_der(cert);
      X509_free(cert);
      file = entry.path().string();
      break;
    }
  }
  if (der.empty()) {
    GTEST_SKIP() << "no PEM certificate under " << dir;
  }
  const auto facts = read_certificate(der);
  SCOPED_TRACE(file);
  EXPECT_EQ(facts.parse_error, "");
  EXPECT_NE(facts.subject, "");
  EXPECT_EQ(facts.sha1.size(), 40U);
  EXPECT_EQ(facts.sha256.size(), 64U);
  EXPECT_NE(facts.key, "");
  EXPECT_NE(facts.signature, "");
  EXPECT_LT(facts.not_before_unix, facts.not_after_unix);
  EXPECT_EQ(facts.not_before.size(), 20U);
}

}  // namespace
}  // namespace hopscope::tls

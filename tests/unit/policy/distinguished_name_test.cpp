#include "policy/distinguished_name.hpp"

#include <gtest/gtest.h>

namespace hopscope::policy {
namespace {

using tls::DnAttribute;

// What tls/certificate_reader gives for the subject, in DER order.
std::vector<DnAttribute> contoso_der() {
  return {{"C", "US"},
          {"ST", "Washington"},
          {"L", "Redmond"},
          {"O", "Contoso, Inc."},
          {"emailAddress", "postmaster@contoso.com"},
          {"CN", "mail.contoso.com"}};
}

TEST(DistinguishedName, WindowsSpellingEqualsOpenSslAttributes) {
  const auto windows = parse_dn(
      "CN=mail.contoso.com, E=postmaster@contoso.com, O=\"Contoso, Inc.\", L=Redmond, "
      "S=Washington, C=US");
  ASSERT_TRUE(windows.has_value());
  EXPECT_TRUE(dn_equal(*windows, from_attributes(contoso_der())));
}

TEST(DistinguishedName, OpenSslOnelineAndSlashFormsParse) {
  const auto oneline = parse_dn(
      "C = US, ST = Washington, L = Redmond, O = \"Contoso, Inc.\", emailAddress = "
      "postmaster@contoso.com, CN = mail.contoso.com");
  ASSERT_TRUE(oneline.has_value());
  EXPECT_TRUE(dn_equal(*oneline, from_attributes(contoso_der())));
  const auto rfc4514 = parse_dn(
      "CN=mail.contoso.com,emailAddress=postmaster@contoso.com,O=Contoso\\, Inc.,L=Redmond,"
      "ST=Washington,C=US");
  ASSERT_TRUE(rfc4514.has_value());
  EXPECT_TRUE(dn_equal(*rfc4514, from_attributes(contoso_der())));
  const auto slash = parse_dn("/C=US/O=Let's Encrypt/CN=R3");
  ASSERT_TRUE(slash.has_value());
  EXPECT_TRUE(dn_equal(*slash, *parse_dn("CN=R3, O=Let's Encrypt, C=US")));
}

TEST(DistinguishedName, ValuesCompareCaseInsensitivelyTypesByCanonicalName) {
  EXPECT_TRUE(dn_equal(*parse_dn("cn=MAIL.contoso.com, o=Contoso  Inc"),
                       *parse_dn("CN=mail.contoso.com, O=contoso inc")));
  EXPECT_TRUE(dn_equal(*parse_dn("2.5.4.3=a, OID.2.5.4.8=b"), *parse_dn("CN=a, S=b")));
  EXPECT_EQ(canonical_type("E"), "EMAILADDRESS");
  EXPECT_EQ(canonical_type("emailAddress"), "EMAILADDRESS");
  EXPECT_EQ(canonical_type("S"), "ST");
}

TEST(DistinguishedName, DifferentValuesOrRdnsAreNotEqual) {
  EXPECT_FALSE(dn_equal(*parse_dn("CN=mail.contoso.com, O=Contoso"),
                        *parse_dn("CN=mail.contoso.com, O=Fabrikam")));
  EXPECT_FALSE(
      dn_equal(*parse_dn("CN=mail.contoso.com"), *parse_dn("CN=mail.contoso.com, O=Contoso")));
  // Order matters between RDNs (other than full reversal) ...
  EXPECT_FALSE(dn_equal(*parse_dn("CN=a, O=b, C=US"), *parse_dn("O=b, CN=a, C=US")));
  // ... but not inside a multi-valued RDN.
  EXPECT_TRUE(
      dn_equal(*parse_dn("CN=a+SERIALNUMBER=7, O=b"), *parse_dn("SERIALNUMBER=7+CN=a, O=b")));
}

TEST(DistinguishedName, QuotedCommaStaysInTheValue) {
  const auto dn = parse_dn("O=\"Contoso, Inc.\", C=US");
  ASSERT_TRUE(dn.has_value());
  ASSERT_EQ(dn->size(), 2U);
  EXPECT_EQ((*dn)[0][0].value, "Contoso, Inc.");
}

TEST(DistinguishedName, MalformedTextIsRejected) {
  EXPECT_FALSE(parse_dn("").has_value());
  EXPECT_FALSE(parse_dn("no equals sign").has_value());
  EXPECT_FALSE(parse_dn("O=\"unterminated, C=US").has_value());
  EXPECT_FALSE(parse_dn("CN=a,,O=b").has_value());
}

TEST(DistinguishedName, ExchangeTlsCertificateNameSplitsIssuerAndSubject) {
  const auto name = parse_exchange_certificate_name(
      "<I>CN=R3, O=Let's Encrypt, C=US<S>CN=mail.contoso.com, O=\"Contoso, Inc.\", S=WA, C=US");
  ASSERT_TRUE(name.has_value());
  ASSERT_TRUE(name->issuer && name->subject);
  EXPECT_TRUE(dn_equal(*name->issuer,
                       from_attributes({{"C", "US"}, {"O", "Let's Encrypt"}, {"CN", "R3"}})));
  EXPECT_TRUE(dn_equal(
      *name->subject,
      from_attributes(
          {{"C", "US"}, {"ST", "WA"}, {"O", "Contoso, Inc."}, {"CN", "mail.contoso.com"}})));
  EXPECT_FALSE(parse_exchange_certificate_name("CN=mail.contoso.com").has_value());
  EXPECT_FALSE(parse_exchange_certificate_name("<S>CN=a<I>CN=b").has_value());
}

}  // namespace
}  // namespace hopscope::policy

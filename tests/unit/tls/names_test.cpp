#include "tls/names.hpp"

#include <gtest/gtest.h>

namespace hopscope::tls {
namespace {

TEST(Names, VersionNamesFollowOpenSsl) {
  EXPECT_EQ(version_name(0x0300), "SSLv3");
  EXPECT_EQ(version_name(0x0301), "TLSv1");
  EXPECT_EQ(version_name(0x0302), "TLSv1.1");
  EXPECT_EQ(version_name(0x0303), "TLSv1.2");
  EXPECT_EQ(version_name(0x0304), "TLSv1.3");
  EXPECT_EQ(version_name(0x7F1C), "TLSv1.3-draft-28");
  EXPECT_EQ(version_name(0x0A0A), "0x0A0A");
  EXPECT_EQ(version_name(0xFEFD), "0xFEFD");
}

TEST(Names, CipherNamesAreIanaNames) {
  EXPECT_EQ(cipher_name(0xC030), "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
  EXPECT_EQ(cipher_name(0xC02B), "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
  EXPECT_EQ(cipher_name(0x1301), "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(cipher_name(0x1302), "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(cipher_name(0x1303), "TLS_CHACHA20_POLY1305_SHA256");
  EXPECT_EQ(cipher_name(0x1304), "TLS_AES_128_CCM_SHA256");
  EXPECT_EQ(cipher_name(0x1305), "TLS_AES_128_CCM_8_SHA256");
  EXPECT_EQ(cipher_name(0xCCA8), "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
  EXPECT_EQ(cipher_name(0x009F), "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384");
  EXPECT_EQ(cipher_name(0x0035), "TLS_RSA_WITH_AES_256_CBC_SHA");
  EXPECT_EQ(cipher_name(0xC027), "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256");
}

TEST(Names, WeakCipherNamesArePresent) {
  EXPECT_EQ(cipher_name(0x0000), "TLS_NULL_WITH_NULL_NULL");
  EXPECT_EQ(cipher_name(0x0002), "TLS_RSA_WITH_NULL_SHA");
  EXPECT_EQ(cipher_name(0x0003), "TLS_RSA_EXPORT_WITH_RC4_40_MD5");
  EXPECT_EQ(cipher_name(0x0005), "TLS_RSA_WITH_RC4_128_SHA");
  EXPECT_EQ(cipher_name(0x000A), "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
  EXPECT_EQ(cipher_name(0x0014), "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA");
  EXPECT_EQ(cipher_name(0xC012), "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA");
  EXPECT_EQ(cipher_name(0xC011), "TLS_ECDHE_RSA_WITH_RC4_128_SHA");
  EXPECT_EQ(cipher_name(0xC010), "TLS_ECDHE_RSA_WITH_NULL_SHA");
  EXPECT_EQ(cipher_name(0x00FF), "TLS_EMPTY_RENEGOTIATION_INFO_SCSV");
}

TEST(Names, UnknownCodePointsBecomeHex) {
  EXPECT_EQ(cipher_name(0xC0FF), "0xC0FF");
  EXPECT_EQ(cipher_name(0x0A0A), "0x0A0A");
  EXPECT_EQ(group_name(0x1234), "0x1234");
  EXPECT_EQ(alert_name(255), "unknown(255)");
  EXPECT_EQ(alert_level_name(3), "unknown(3)");
}

TEST(Names, GroupNamesAreIanaNames) {
  EXPECT_EQ(group_name(23), "secp256r1");
  EXPECT_EQ(group_name(24), "secp384r1");
  EXPECT_EQ(group_name(29), "x25519");
  EXPECT_EQ(group_name(256), "ffdhe2048");
  EXPECT_EQ(group_name(0x11EC), "X25519MLKEM768");
}

TEST(Names, AlertNamesFollowRfc8446) {
  EXPECT_EQ(alert_name(0), "close_notify");
  EXPECT_EQ(alert_name(40), "handshake_failure");
  EXPECT_EQ(alert_name(42), "bad_certificate");
  EXPECT_EQ(alert_name(48), "unknown_ca");
  EXPECT_EQ(alert_name(70), "protocol_version");
  EXPECT_EQ(alert_name(116), "certificate_required");
  EXPECT_EQ(alert_level_name(1), "warning");
  EXPECT_EQ(alert_level_name(2), "fatal");
}

TEST(Names, GreaseMatchesExactlyTheSixteenRfc8701Values) {
  int count = 0;
  for (unsigned v = 0; v <= 0xFFFF; ++v) {
    if (is_grease(static_cast<std::uint16_t>(v))) {
      ++count;
      EXPECT_EQ(v & 0x0F0FU, 0x0A0AU) << v;
      EXPECT_EQ(v >> 8U, v & 0xFFU) << v;
    }
  }
  EXPECT_EQ(count, 16);
  EXPECT_TRUE(is_grease(0x0A0A));
  EXPECT_TRUE(is_grease(0xFAFA));
  EXPECT_FALSE(is_grease(0x0A1A));
  EXPECT_FALSE(is_grease(0x1301));
}

}  // namespace
}  // namespace hopscope::tls

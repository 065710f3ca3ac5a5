#include "policy/signatures.hpp"

#include <gtest/gtest.h>

namespace hopscope::policy {
namespace {

TEST(Signatures, AsaMaskedBannerIsRecognised) {
  EXPECT_TRUE(is_masked_banner("220 ****************************************"));
  EXPECT_TRUE(is_masked_banner("220*************"));  // Cisco ESA FAQ 118584
  EXPECT_TRUE(is_masked_banner("220-********"));
}

TEST(Signatures, PixBannerKeepingTwoAndZeroIsRecognised) {
  EXPECT_TRUE(is_masked_banner(
      "220 *********0***************************************************************** "
      "************2*************"));
}

TEST(Signatures, RealBannersAreNotMasked) {
  EXPECT_FALSE(is_masked_banner(
      "220 mail.contoso.com Microsoft ESMTP MAIL Service ready at Mon, 1 Jun 2026 10:15:02 +0000"));
  EXPECT_FALSE(is_masked_banner("220 ***"));
  EXPECT_FALSE(is_masked_banner("220 mx.example.com ESMTP *****"));
  EXPECT_FALSE(is_masked_banner("250 ********"));
  EXPECT_FALSE(is_masked_banner(""));
}

TEST(Signatures, XMaskOfStarttlsLengthStandsForStarttls) {
  const std::vector<std::string> present{"SIZE", "8BITMIME", "XXXXXXXA"};
  const auto candidates = masked_keyword_candidates("XXXXXXXA", present);
  EXPECT_NE(std::find(candidates.begin(), candidates.end(), "STARTTLS"), candidates.end());
  EXPECT_EQ(std::find(candidates.begin(), candidates.end(), "8BITMIME"), candidates.end())
      << "a keyword still present is not what was masked";
  EXPECT_TRUE(is_x_mask("XXXXXXXX"));
  EXPECT_FALSE(masked_keyword_candidates("XXXXXXXX", {}).empty());
}

TEST(Signatures, LegitimateXKeywordsAreNotMasks) {
  for (const auto* keyword : {"XRDST", "XEXCH50", "XOORG", "XSHADOW", "XSHADOWREQUEST",
                              "X-ANONYMOUSTLS", "X-EXPS", "XCLIENT", "XFORWARD"}) {
    EXPECT_FALSE(is_x_mask(keyword)) << keyword;
    EXPECT_TRUE(masked_keyword_candidates(keyword, {}).empty()) << keyword;
  }
  EXPECT_FALSE(is_x_mask("XXAB"));  // two trailing letters
  EXPECT_FALSE(is_x_mask("XX"));    // too short to be told from a name
  EXPECT_FALSE(is_x_mask(""));
}

TEST(Signatures, MaskedStarttlsLineIsFoundOnlyWhenStarttlsIsAbsent) {
  ReplyFacts masked{250, "", {"250-mx Hello", "250-8BITMIME", "250-SIZE 14680064", "250 XXXXXXXA"}};
  EXPECT_EQ(masked_starttls_line(masked), "250 XXXXXXXA");
  ReplyFacts genuine{250, "", {"250-mx Hello", "250-STARTTLS", "250 XXXXXXXA"}};
  EXPECT_EQ(masked_starttls_line(genuine), "");
  ReplyFacts exchange{250, "", {"250-mx Hello", "250-XEXCH50", "250 XRDST"}};
  EXPECT_EQ(masked_starttls_line(exchange), "");
  ReplyFacts other_length{250, "", {"250-mx Hello", "250 XXXXXXXXXX"}};
  EXPECT_EQ(masked_starttls_line(other_length), "") << "10 X's are PIPELINING or BINARYMIME";
}

TEST(Signatures, MaskedCommandIsOnlyXs) {
  EXPECT_TRUE(is_masked_command("XXXXXXXX"));
  EXPECT_TRUE(is_masked_command("XXXX "));
  EXPECT_FALSE(is_masked_command("XXX"));
  EXPECT_FALSE(is_masked_command("STARTTLS"));
  EXPECT_FALSE(is_masked_command("XEXCH50"));
}

TEST(Signatures, UnrecognisedCommandRepliesAre500And502) {
  EXPECT_TRUE(is_unrecognised_command_reply(500));
  EXPECT_TRUE(is_unrecognised_command_reply(502));
  EXPECT_FALSE(is_unrecognised_command_reply(454));
  EXPECT_FALSE(is_unrecognised_command_reply(501));
}

TEST(Signatures, EhloRefusedByMailGuard) {
  EXPECT_TRUE(is_ehlo_refused(ReplyFacts{500, "", {"500 Unrecognized command"}}));
  EXPECT_FALSE(is_ehlo_refused(ReplyFacts{250, "", {"250 mx Hello"}}));
  EXPECT_FALSE(is_ehlo_refused(ReplyFacts{554, "5.7.1", {"554 5.7.1 blocked"}}));
}

TEST(Signatures, InspectionStrippedKeywordsNeedAnInspectionShapedRemainder) {
  const std::vector<std::string> full{"SIZE 37748736", "PIPELINING", "STARTTLS", "X-ANONYMOUSTLS",
                                      "8BITMIME",      "BINARYMIME", "CHUNKING", "XEXCH50"};
  const auto stripped =
      inspection_stripped_keywords({"SIZE 37748736", "8BITMIME", "XXXXXXXA"}, full);
  for (const auto* k : {"STARTTLS", "X-ANONYMOUSTLS", "CHUNKING", "XEXCH50"}) {
    EXPECT_NE(std::find(stripped.begin(), stripped.end(), k), stripped.end()) << k;
  }
  // A remainder with an extension inspection does not pass is not inspection's doing.
  EXPECT_TRUE(inspection_stripped_keywords({"SIZE", "CHUNKING"}, full).empty());
}

TEST(Signatures, TlsRefusalNeedsEnhancedCodeAndText) {
  EXPECT_TRUE(is_tls_required_refusal("451 5.7.3 Must issue a STARTTLS command first"));
  EXPECT_TRUE(is_tls_required_refusal("530 5.7.0 Must issue a STARTTLS command first"));
  EXPECT_TRUE(is_tls_required_refusal("530 Must issue a STARTTLS command first"));
  EXPECT_TRUE(is_tls_required_refusal("454 4.7.0 TLS not available due to temporary reason"));
  EXPECT_TRUE(is_tls_required_refusal("550 5.7.30 REQUIRETLS support required"));
  EXPECT_FALSE(is_tls_required_refusal("530 5.7.0 Authentication required"));
  EXPECT_FALSE(is_tls_required_refusal("451 5.7.3"));
  EXPECT_FALSE(is_tls_required_refusal("451 4.7.1 Greylisted, try again"));
  EXPECT_FALSE(is_tls_required_refusal("250 2.0.0 STARTTLS is fine"));
  EXPECT_FALSE(is_tls_required_refusal(""));
  EXPECT_FALSE(is_tls_required_refusal("abc"));
}

TEST(Signatures, TlsRefusalTextMatchesInAnyCase) {
  EXPECT_TRUE(is_tls_required_refusal("451 5.7.3 must issue a starttls command first"));
  EXPECT_TRUE(is_tls_required_refusal("530 MUST ISSUE A STARTTLS COMMAND FIRST"));
  EXPECT_TRUE(is_tls_required_refusal("451 5.7.3 StartTLS is required to send mail"));
  EXPECT_TRUE(is_tls_required_refusal("454 4.7.0 Tls Not Available due to temporary reason"));
  EXPECT_TRUE(is_tls_required_refusal("550 5.7.30 RequireTLS support required"));
  // Near misses: a letter short, or the words apart.
  EXPECT_FALSE(is_tls_required_refusal("451 5.7.3 must issue a STARTTL command first"));
  EXPECT_FALSE(is_tls_required_refusal("454 4.7.0 TLS is not available"));
  EXPECT_FALSE(is_tls_required_refusal("550 5.7.30 REQUIRE TLS support required"));
}

TEST(Signatures, CapabilityKeywordDropsCodeAndParameters) {
  EXPECT_EQ(capability_keyword("250-SIZE 37748736"), "SIZE");
  EXPECT_EQ(capability_keyword("250 starttls"), "STARTTLS");
  EXPECT_EQ(capability_keyword("AUTH=LOGIN"), "AUTH");
  EXPECT_EQ(capability_keyword(""), "");
}

}  // namespace
}  // namespace hopscope::policy

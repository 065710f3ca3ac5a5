#include "policy/explain.hpp"

#include <gtest/gtest.h>

namespace hopscope::policy {
namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Explain, CertificateValidationFailedPointsAtCertificateFindings) {
  const auto text = explain("450 4.7.320 Certificate validation failed");
  EXPECT_TRUE(has(text, "CERT_SELF_SIGNED"));
  EXPECT_TRUE(has(text, "CERT_DIFFERS_FROM_HOP"));
  EXPECT_TRUE(has(text, "Where to place hopscope: inbound"));
}

TEST(Explain, MustIssueStarttlsPointsAtMaskingOutbound) {
  const auto text = explain(
      "451 4.4.0 Primary target IP address responded with: \"451 5.7.3 Must issue a STARTTLS "
      "command first.\" Attempted failover to alternate host, but that did not succeed.");
  EXPECT_TRUE(has(text, "STARTTLS_MASKED"));
  EXPECT_TRUE(has(text, "outbound"));
  EXPECT_TRUE(has(text, "Exchange's queue wrapper")) << "the 4.4.0 wrapper is explained too";
  EXPECT_FALSE(has(text, "REQUIRETLS support required")) << "5.7.3 is not 5.7.30";
}

TEST(Explain, QueueCodesEachHaveTheirFindings) {
  EXPECT_TRUE(has(explain("450 4.4.317 Cannot connect to remote server"), "STARTTLS_NOT_OFFERED"));
  EXPECT_TRUE(has(explain("450 4.4.318 Connection was closed abruptly"), "EHLO_REJECTED"));
  EXPECT_TRUE(has(explain("454 4.7.5 The certificate specified in TlsCertificateName of the "
                          "SendConnector could not be found."),
                  "Set-SendConnector"));
  EXPECT_TRUE(
      has(explain("TLS negotiation failed with error UnknownCredentials"), "TLS_HANDSHAKE_FAILED"));
  EXPECT_TRUE(
      has(explain("TLS negotiation failed with error NoCredentials"), "TLS_HANDSHAKE_FAILED"));
  EXPECT_TRUE(
      has(explain("421 4.4.2 Connection dropped due to TimedOut"), "SENDER_ABANDONED_AFTER_TLS"));
}

TEST(Explain, AuthenticationRequiredIsNotATlsProblem) {
  const auto text = explain("530 5.7.0 Authentication required");
  EXPECT_TRUE(has(text, "not a TLS problem"));
  EXPECT_FALSE(has(text, "STARTTLS_MASKED"));
}

TEST(Explain, UnknownTextListsWhatIsKnown) {
  const auto text = explain("something else entirely");
  EXPECT_TRUE(has(text, "does not know"));
  EXPECT_TRUE(has(text, "4.7.320"));
  EXPECT_TRUE(has(explain(std::string("\x01\xff", 2)), "\\x01")) << "pasted bytes are escaped";
}

}  // namespace
}  // namespace hopscope::policy

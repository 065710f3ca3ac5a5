#include "policy/finding.hpp"

#include <gtest/gtest.h>

#include "policy/evaluate.hpp"
#include "policy/tls_checks.hpp"
#include "policy/verdict.hpp"

namespace hopscope::policy {
namespace {

// A session that ended before any greeting (a banner timeout behind a firewall) is not
// "clean": the verdict says how it ended.
TEST(Verdict, SessionWithNothingExchangedSaysHowItEnded) {
  SessionFacts facts;
  facts.end.reason = EndReason::timeout;
  facts.end.detail = "timed out waiting for the greeting from upstream";
  EXPECT_EQ(verdict(facts, {}),
            "nothing was exchanged: the session ended (timeout: timed out waiting for the "
            "greeting from upstream)");
}

// Exchange Online hanging up after the handshake is how it rejects a certificate: with a
// missing client certificate beside it (both warnings), the verdict leads with the hang-up.
TEST(Verdict, SenderAbandonedAfterTlsLeadsAMissingClientCertificate) {
  SessionFacts facts;
  const std::vector<Finding> findings{
      {FindingId::client_cert_missing, Severity::warning, "downstream",
       "the sender presented no client certificate", "", ""},
      {FindingId::sender_abandoned_after_tls, Severity::warning, "downstream",
       "the sender closed right after the TLS handshake", "", ""},
  };
  const auto line = verdict(facts, findings);
  EXPECT_NE(line.find("closed right after the TLS handshake"), std::string::npos) << line;
  EXPECT_EQ(line.find("no client certificate"), std::string::npos) << line;
}

TEST(Finding, EveryIdRoundTripsThroughItsPublishedName) {
  EXPECT_EQ(finding_count(), 27U);
  for (std::size_t i = 0; i < finding_count(); ++i) {
    const auto id = finding_at(i);
    const auto name = to_string(id);
    EXPECT_EQ(finding_from_string(name), id) << name;
    for (const char c : name) {
      EXPECT_TRUE((c >= 'A' && c <= 'Z') || c == '_') << name;
    }
  }
  EXPECT_EQ(to_string(FindingId::starttls_masked), "STARTTLS_MASKED");
  EXPECT_FALSE(finding_from_string("starttls_masked").has_value());
}

TEST(Finding, DefaultSeveritiesFollowTheDesignTable) {
  EXPECT_EQ(default_severity(FindingId::banner_masked), Severity::warning);
  EXPECT_EQ(default_severity(FindingId::cert_self_signed), Severity::critical);
  EXPECT_EQ(default_severity(FindingId::remote_tls_error), Severity::warning);
  EXPECT_EQ(to_string(Severity::info), "info");
  EXPECT_EQ(severity_from_string("critical"), Severity::critical);
  EXPECT_FALSE(severity_from_string("fatal").has_value());
}

SessionFacts unreachable_session() {
  SessionFacts facts;
  facts.upstream.address = "10.0.0.5:25";
  facts.upstream.connect_error = "Connection refused";
  facts.end.reason = EndReason::upstream_unreachable;
  return facts;
}

TEST(SeverityOverride, ReplacesTheDefault) {
  config::PolicyConfig policy;
  policy.severity["UPSTREAM_UNREACHABLE"] = Severity::info;
  const auto findings = evaluate(unreachable_session(), {}, policy, 0);
  ASSERT_EQ(findings.size(), 1U);
  EXPECT_EQ(findings[0].severity, Severity::info);
  policy.severity.clear();
  EXPECT_EQ(evaluate(unreachable_session(), {}, policy, 0)[0].severity, Severity::critical);
}

TEST(SeverityOverride, KeepsAFindingGradedBelowItsDefault) {
  SessionFacts facts;
  facts.upstream.starttls = StartTlsFacts{true, true, std::nullopt, "ok", {}, {}};
  TlsFacts tls;
  tls.seen = true;
  tls.version = "TLSv1.2";
  tls.cipher = "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384";
  facts.upstream.tls = tls;
  config::PolicyConfig policy;
  policy.severity["TLS_CIPHER_WEAK"] = Severity::critical;
  const auto findings = evaluate(facts, {}, policy, 0);
  ASSERT_EQ(findings.size(), 1U);
  EXPECT_EQ(findings[0].severity, Severity::info);
  facts.upstream.tls->cipher = "TLS_RSA_WITH_RC4_128_SHA";
  EXPECT_EQ(evaluate(facts, {}, policy, 0)[0].severity, Severity::critical);
}

TEST(CipherGrade, SortsSuitesByStrength) {
  EXPECT_EQ(grade_cipher("TLS_AES_128_GCM_SHA256"), CipherGrade::strong);
  EXPECT_EQ(grade_cipher("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"), CipherGrade::strong);
  EXPECT_EQ(grade_cipher("ECDHE-RSA-AES256-GCM-SHA384"), CipherGrade::strong);
  EXPECT_EQ(grade_cipher("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
            CipherGrade::cbc_with_forward_secrecy);
  EXPECT_EQ(grade_cipher("TLS_RSA_WITH_AES_256_GCM_SHA384"), CipherGrade::no_forward_secrecy);
  EXPECT_EQ(grade_cipher("AES256-SHA"), CipherGrade::no_forward_secrecy);
  EXPECT_EQ(grade_cipher("TLS_RSA_WITH_3DES_EDE_CBC_SHA"), CipherGrade::broken);
  EXPECT_EQ(grade_cipher("TLS_ECDHE_RSA_WITH_RC4_128_SHA"), CipherGrade::broken);
  EXPECT_EQ(grade_cipher("TLS_RSA_EXPORT_WITH_RC4_40_MD5"), CipherGrade::broken);
  EXPECT_EQ(grade_cipher("TLS_DH_anon_WITH_AES_128_CBC_SHA"), CipherGrade::broken);
  EXPECT_EQ(grade_cipher("TLS_RSA_WITH_NULL_SHA256"), CipherGrade::broken);
}

TEST(Evaluate, OwnProbeSessionsRaiseNothing) {
  auto facts = unreachable_session();
  facts.own_probe = true;
  EXPECT_TRUE(evaluate(facts, {}, config::PolicyConfig{}, 0).empty());
}

}  // namespace
}  // namespace hopscope::policy

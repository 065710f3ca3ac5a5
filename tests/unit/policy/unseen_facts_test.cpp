// Policy judges only what was seen: a chain that hopscope itself cut at its certificate cap is
// not "untrusted", and the client-certificate exchange that TLS 1.3 encrypts (or a resumed
// session skips) raises no client-certificate finding. The leaf checks still apply.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "policy/evaluate.hpp"
#include "policy/verdict.hpp"

namespace hopscope::policy {
namespace {

constexpr std::int64_t now = 1780315200;  // 2026-06-01T12:00:00Z
constexpr std::int64_t day = 86400;

tls::CertificateFacts certificate(const std::string& cn, const std::string& issuer_cn) {
  tls::CertificateFacts c;
  c.subject = "CN=" + cn + ", O=Contoso, C=US";
  c.issuer = "CN=" + issuer_cn + ", O=Contoso, C=US";
  c.subject_dn = {{"C", "US"}, {"O", "Contoso"}, {"CN", cn}};
  c.issuer_dn = {{"C", "US"}, {"O", "Contoso"}, {"CN", issuer_cn}};
  c.not_before = "2026-01-01T00:00:00Z";
  c.not_after = "2026-11-22T17:45:00Z";
  c.not_before_unix = 1767225600;
  c.not_after_unix = 1795369500;
  c.sha256 = "AB" + cn;
  c.key_type = "EC";
  c.key_bits = 256;
  c.key = "EC 256 (prime256v1)";
  c.signature = "ecdsa-with-SHA256";
  c.is_ca = cn != "mail.contoso.com";
  return c;
}

SessionFacts tls_session(const std::string& version) {
  SessionFacts facts;
  facts.upstream.address = "10.0.0.5:25";
  facts.downstream.starttls.offered = true;
  facts.downstream.starttls.attempted = true;
  facts.downstream.starttls.handshake = "ok";
  facts.downstream.tls_end_to_end = true;
  facts.upstream.starttls = facts.downstream.starttls;
  facts.upstream.starttls.reply = ReplyFacts{220, "2.0.0", {"220 2.0.0 SMTP server ready"}};
  TlsFacts tls;
  tls.seen = true;
  tls.version = version;
  tls.cipher = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384";
  tls.cipher_id = 0xC02C;
  facts.upstream.tls = tls;
  facts.end.reason = EndReason::quit;
  return facts;
}

// What the audit pipeline records for an 18-certificate chain of which the observer kept 16:
// tls/verify's "not verified" (the missing issuer may be one hopscope dropped).
SessionFacts cut_chain_session() {
  auto facts = tls_session("TLSv1.2");
  auto& tls = *facts.upstream.tls;
  tls.server_certificates.push_back(certificate("mail.contoso.com", "Contoso CA 16"));
  tls.server_certificates.back().san_dns = {"mail.contoso.com"};
  for (int i = 16; i >= 2; --i) {
    tls.server_certificates.push_back(
        certificate("Contoso CA " + std::to_string(i), "Contoso CA " + std::to_string(i - 1)));
  }
  tls.parse_error = "s>c: certificate_list holds 18 certificates; the first 16 are kept";
  tls.verification.checked = false;
  tls.verification.error =
      "not verified: hopscope keeps at most 16 certificates of a chain and the issuer of chain "
      "certificate 15 was not among them: it may have been one of those cut off (OpenSSL: "
      "unable to get local issuer certificate)";
  tls.verification.name_matched = true;
  tls.verification.matched_name = "mail.contoso.com";
  tls.verification.expected_names = {"mail.contoso.com"};
  return facts;
}

config::PolicyConfig contoso_policy() {
  config::PolicyConfig policy;
  policy.expected_server_names = {"mail.contoso.com"};
  return policy;
}

std::vector<std::string> ids(const std::vector<Finding>& findings) {
  std::vector<std::string> out;
  out.reserve(findings.size());
  for (const auto& f : findings) {
    out.emplace_back(to_string(f.id));
  }
  return out;
}

bool has(const std::vector<Finding>& findings, FindingId id) {
  return std::any_of(findings.begin(), findings.end(),
                     [id](const Finding& f) { return f.id == id; });
}

TEST(CutChain, IsNotUntrustedAndTheVerdictSaysItWasNotVerified) {
  const auto facts = cut_chain_session();
  const auto findings = evaluate(facts, {}, contoso_policy(), now);
  EXPECT_TRUE(findings.empty()) << testing::PrintToString(ids(findings));
  EXPECT_EQ(verdict(facts, findings),
            "clean: STARTTLS used, TLSv1.2 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, certificate "
            "CN=mail.contoso.com, O=Contoso, C=US, chain not verified");
}

TEST(CutChain, LeafChecksStillApply) {
  auto facts = cut_chain_session();
  auto& leaf = facts.upstream.tls->server_certificates.front();
  leaf.san_dns = {"barracuda.local"};
  leaf.not_after_unix = now - day;
  facts.upstream.tls->verification.name_matched = false;
  facts.upstream.tls->verification.matched_name.reset();
  const auto findings = evaluate(facts, {}, contoso_policy(), now);
  EXPECT_TRUE(has(findings, FindingId::cert_name_mismatch))
      << testing::PrintToString(ids(findings));
  EXPECT_TRUE(has(findings, FindingId::cert_expired)) << testing::PrintToString(ids(findings));
  EXPECT_FALSE(has(findings, FindingId::cert_untrusted)) << testing::PrintToString(ids(findings));
}

TEST(CutChain, AVerifiedUntrustedChainIsStillUntrusted) {
  auto facts = cut_chain_session();
  auto& v = facts.upstream.tls->verification;
  v.checked = true;
  v.error = "self-signed certificate in certificate chain";
  v.error_depth = 15;
  const auto findings = evaluate(facts, {}, contoso_policy(), now);
  EXPECT_TRUE(has(findings, FindingId::cert_untrusted)) << testing::PrintToString(ids(findings));
}

config::PolicyConfig hybrid_policy() {
  config::PolicyConfig policy;
  policy.expected_client_names = {"mail.protection.outlook.com"};
  return policy;
}

TEST(ClientCertificate, MissingIsJudgedOnlyWhereTheExchangeIsInClear) {
  struct Case {
    std::string version;
    bool resumed;
    bool judged;
  };
  for (const auto& c :
       {Case{"TLSv1.2", false, true}, Case{"TLSv1.2", true, false}, Case{"TLSv1.3", false, false},
        Case{"TLSv1.3", true, false}, Case{"TLSv1.3-draft-28", false, false}}) {
    auto facts = tls_session(c.version);
    facts.upstream.tls->resumed = c.resumed;
    // What the observer records when it sees no CertificateRequest and no client Certificate.
    facts.upstream.tls->client_certificate_requested = false;
    const auto findings = evaluate(facts, {}, hybrid_policy(), now);
    EXPECT_EQ(has(findings, FindingId::client_cert_missing), c.judged)
        << c.version << (c.resumed ? " resumed" : "");
    EXPECT_FALSE(has(findings, FindingId::client_cert_name_mismatch)) << c.version;
  }
}

TEST(ClientCertificate, InspectModeSeesItInEveryVersion) {
  auto facts = tls_session("TLSv1.3");
  facts.mode = "inspect";
  facts.downstream.tls_end_to_end = false;
  facts.downstream.tls = facts.upstream.tls;
  const auto findings = evaluate(facts, {}, hybrid_policy(), now);
  EXPECT_TRUE(has(findings, FindingId::client_cert_missing))
      << testing::PrintToString(ids(findings));
}

}  // namespace
}  // namespace hopscope::policy

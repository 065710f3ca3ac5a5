// Findings and verdicts around a passthrough TLS session that the acceptance run got wrong:
// SENDER_ABANDONED_AFTER_TLS decided by the first encrypted alert (who ended TLS), and with
// no allowance for a TLS 1.3 client flight (the observer now leaves it out);
// CLIENT_CERT_MISSING aimed at the side that did not ask; a self-signed certificate named as
// Exchange's own or an appliance's unless another hop proves a swap; TLS_PROTOCOL_WEAK's
// remedy naming the configured minimum; a certificate finding leading the verdict when the
// sender aborted the handshake with a certificate alert.

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

tls::CertificateFacts certificate(const std::string& cn, bool self_signed) {
  tls::CertificateFacts c;
  c.subject = "CN=" + cn;
  c.issuer = self_signed ? c.subject : "CN=Contoso Issuing CA, O=Contoso, C=US";
  c.subject_dn = {{"CN", cn}};
  c.issuer_dn = c.subject_dn;
  if (!self_signed) {
    c.issuer_dn = {{"C", "US"}, {"O", "Contoso"}, {"CN", "Contoso Issuing CA"}};
  }
  c.san_dns = {cn};
  c.not_before = "2026-01-01T00:00:00Z";
  c.not_after = "2027-11-22T17:45:00Z";
  c.not_before_unix = 1767225600;
  c.not_after_unix = 1826905500;
  c.sha256 = "AB" + cn;
  c.key_type = "RSA";
  c.key_bits = 2048;
  c.key = "RSA 2048";
  c.signature = "sha256WithRSAEncryption";
  c.self_signed = self_signed;
  return c;
}

config::PolicyConfig policy_config() {
  config::PolicyConfig p;
  p.expected_server_names = {"mail.contoso.com"};
  return p;
}

// Sender → hopscope → server, STARTTLS and a completed handshake in passthrough, the server's
// certificate the expected, trusted one; no command inside TLS.
SessionFacts passthrough(const std::string& version) {
  SessionFacts facts;
  facts.upstream.address = "10.0.0.5:25";
  facts.upstream.banner = ReplyFacts{220, "", {"220 mail.contoso.com ESMTP"}};
  facts.upstream.ehlo_reply =
      ReplyFacts{250, "", {"250-mail.contoso.com", "250-STARTTLS", "250 SIZE 37748736"}};
  facts.upstream.capabilities = {"STARTTLS", "SIZE 37748736"};
  facts.downstream.helo = "EHLO NAM12-BN8-obe.outbound.protection.outlook.com";
  facts.downstream.helo_commands = {facts.downstream.helo};
  facts.downstream.starttls.offered = true;
  facts.downstream.starttls.attempted = true;
  facts.downstream.starttls.handshake = "ok";
  facts.downstream.tls_end_to_end = true;
  facts.upstream.starttls = facts.downstream.starttls;
  facts.upstream.starttls.reply = ReplyFacts{220, "2.0.0", {"220 2.0.0 Ready to start TLS"}};
  TlsFacts tls;
  tls.seen = true;
  tls.version = version;
  if (version == "TLSv1.3") {
    tls.cipher = "TLS_AES_256_GCM_SHA384";
    tls.cipher_id = 0x1302;
  } else {
    tls.cipher = "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384";
    tls.cipher_id = 0xC030;
    tls.server_certificates = {certificate("mail.contoso.com", false)};
    tls.verification.checked = true;
    tls.verification.trusted = true;
    tls.verification.name_matched = true;
    tls.verification.matched_name = "mail.contoso.com";
    tls.verification.expected_names = {"mail.contoso.com"};
  }
  tls.server_app_records = 2;
  tls.server_app_bytes = 500;
  facts.upstream.tls = tls;
  facts.end.reason = EndReason::client_closed;
  return facts;
}

const Finding* find(const std::vector<Finding>& findings, FindingId id) {
  const auto it =
      std::find_if(findings.begin(), findings.end(), [id](const Finding& f) { return f.id == id; });
  return it == findings.end() ? nullptr : &*it;
}

std::string ids(const std::vector<Finding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    out += std::string(to_string(f.id)) + "/" + f.leg + " ";
  }
  return out;
}

// ---- SENDER_ABANDONED_AFTER_TLS --------------------------------------------------------

// The relay took the sender's close_notify, sent before any close, as the end (closed_first),
// although Postfix answered it and its FIN came first; the evidence says how the sender ended.
TEST(SenderAbandoned, SendersCloseNotifyIsSaidInTheEvidence) {
  auto facts = passthrough("TLSv1.2");
  facts.downstream.closed_first = true;
  facts.end.reason = EndReason::client_closed;
  facts.upstream.tls->first_encrypted_alert = "c>s";
  const auto findings = evaluate(facts, {}, policy_config(), now);
  const Finding* f = find(findings, FindingId::sender_abandoned_after_tls);
  ASSERT_NE(f, nullptr) << ids(findings);
  EXPECT_EQ(f->leg, "downstream");
  EXPECT_NE(f->evidence.find("the sender ended TLS first"), std::string::npos) << f->evidence;
}

// The server ended TLS before any close: the relay's closed_first is false.
TEST(SenderAbandoned, ServerEndingFirstIsNotTheSenderAbandoning) {
  auto facts = passthrough("TLSv1.2");
  facts.downstream.closed_first = false;
  facts.upstream.tls->first_encrypted_alert = "s>c";
  const auto findings = evaluate(facts, {}, policy_config(), now);
  EXPECT_EQ(find(findings, FindingId::sender_abandoned_after_tls), nullptr) << ids(findings);
}

TEST(SenderAbandoned, WithoutAnEncryptedAlertTheTcpCloseOrderDecides) {
  for (const bool sender_first : {true, false}) {
    auto facts = passthrough("TLSv1.3");
    facts.downstream.closed_first = sender_first;
    const auto findings = evaluate(facts, {}, policy_config(), now);
    EXPECT_EQ(find(findings, FindingId::sender_abandoned_after_tls) != nullptr, sender_first)
        << ids(findings);
  }
}

TEST(SenderAbandoned, OneApplicationRecordIsACommandInTls13Too) {
  // The observer no longer counts the client's certificate flight as application data, so a
  // record that is left is the sender talking.
  for (const std::string version : {"TLSv1.2", "TLSv1.3"}) {
    auto facts = passthrough(version);
    facts.downstream.closed_first = true;
    facts.upstream.tls->client_app_records = 1;
    facts.upstream.tls->client_app_bytes = 51;
    const auto findings = evaluate(facts, {}, policy_config(), now);
    EXPECT_EQ(find(findings, FindingId::sender_abandoned_after_tls), nullptr)
        << version << ": " << ids(findings);
    facts.upstream.tls->client_app_records = 0;
    facts.upstream.tls->client_app_bytes = 0;
    EXPECT_NE(
        find(evaluate(facts, {}, policy_config(), now), FindingId::sender_abandoned_after_tls),
        nullptr)
        << version;
  }
}

// ---- CLIENT_CERT_MISSING ---------------------------------------------------------------

std::vector<Finding> client_cert_case(bool requested) {
  auto facts = passthrough("TLSv1.2");
  facts.end.reason = EndReason::quit;
  facts.upstream.tls->client_app_records = 6;
  facts.upstream.tls->client_certificate_requested = requested;
  auto policy = policy_config();
  policy.expected_client_names = {"mail.protection.outlook.com"};
  return evaluate(facts, {}, policy, now);
}

TEST(ClientCertMissing, NotRequestedBlamesTheUpstreamSideThatDidNotAsk) {
  const auto findings = client_cert_case(false);
  const Finding* f = find(findings, FindingId::client_cert_missing);
  ASSERT_NE(f, nullptr) << ids(findings);
  EXPECT_EQ(f->leg, "upstream");
  EXPECT_EQ(f->summary.find("the sender presented"), std::string::npos) << f->summary;
  EXPECT_NE(f->summary.find("never asked"), std::string::npos) << f->summary;
  EXPECT_NE(f->evidence.find("did not ask for one (no CertificateRequest)"), std::string::npos);
  EXPECT_NE(f->remedy.find("in front of Exchange"), std::string::npos) << f->remedy;
  EXPECT_EQ(f->remedy.find("drops it"), std::string::npos) << f->remedy;
  EXPECT_NE(verdict(SessionFacts{}, findings).find("hop \"upstream\" never asked"),
            std::string::npos)
      << verdict(SessionFacts{}, findings);
}

TEST(ClientCertMissing, RequestedAndNotSentBlamesTheSenderSide) {
  const auto findings = client_cert_case(true);
  const Finding* f = find(findings, FindingId::client_cert_missing);
  ASSERT_NE(f, nullptr) << ids(findings);
  EXPECT_EQ(f->leg, "downstream");
  EXPECT_NE(f->summary.find("the sender presented no client certificate"), std::string::npos);
  EXPECT_NE(f->evidence.find("asked for one (CertificateRequest)"), std::string::npos);
  EXPECT_NE(f->remedy.find("re-originates the connection"), std::string::npos) << f->remedy;
}

// ---- CERT_SELF_SIGNED ------------------------------------------------------------------

SessionFacts exchange_default_certificate() {
  auto facts = passthrough("TLSv1.2");
  auto& tls = *facts.upstream.tls;
  tls.server_certificates = {certificate("EX01", true)};
  tls.verification.trusted = false;
  tls.verification.error = "self-signed certificate";
  tls.verification.error_depth = 0;
  tls.verification.name_matched = false;
  tls.verification.matched_name.reset();
  facts.upstream.tls->client_app_records = 6;
  facts.end.reason = EndReason::quit;
  return facts;
}

TEST(CertSelfSigned, WithoutHopEvidenceTheVerdictNamesBothCausesAndNoSwap) {
  const auto facts = exchange_default_certificate();
  const auto findings = evaluate(facts, {}, policy_config(), now);
  const std::string line = verdict(facts, findings);
  EXPECT_EQ(line.find("swaps"), std::string::npos) << line;
  EXPECT_NE(line.find("self-signed certificate CN=EX01 instead of mail.contoso.com"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("Exchange's own default certificate"), std::string::npos) << line;
  EXPECT_NE(line.find("appliance"), std::string::npos) << line;
  const Finding* f = find(findings, FindingId::cert_self_signed);
  ASSERT_NE(f, nullptr) << ids(findings);
  EXPECT_NE(f->remedy.find("Enable-ExchangeCertificate -Thumbprint"), std::string::npos);
  EXPECT_NE(f->remedy.find("TlsCertificateName"), std::string::npos);
  EXPECT_NE(f->remedy.find("appliance in front of Exchange"), std::string::npos);
}

TEST(CertSelfSigned, AnotherHopsDifferentCertificateIsWhatMakesItASwap) {
  const auto facts = exchange_default_certificate();
  auto findings = evaluate(facts, {}, policy_config(), now);
  // A self-signed finding leading the verdict with CERT_DIFFERS_FROM_HOP beside it (its
  // severity lowered by configuration, say) is a proven swap.
  findings.push_back({FindingId::cert_differs_from_hop, Severity::info, "upstream",
                      "upstream presents another certificate than hop \"exchange\"", "", ""});
  const std::string line = verdict(facts, findings);
  EXPECT_NE(line.find("hop \"upstream\" swaps the certificate: self-signed CN=EX01 instead of "
                      "mail.contoso.com"),
            std::string::npos)
      << line;
}

// ---- TLS_PROTOCOL_WEAK -----------------------------------------------------------------

TEST(TlsProtocolWeak, RemedyNamesTheConfiguredMinimum) {
  auto facts = passthrough("TLSv1.2");
  facts.upstream.tls->client_app_records = 6;
  facts.end.reason = EndReason::quit;
  auto policy = policy_config();
  policy.min_tls_version = "TLSv1.3";
  auto findings = evaluate(facts, {}, policy, now);
  const Finding* f = find(findings, FindingId::tls_protocol_weak);
  ASSERT_NE(f, nullptr) << ids(findings);
  EXPECT_EQ(f->remedy.rfind("Enable TLS 1.3", 0), 0U) << f->remedy;
  EXPECT_EQ(f->remedy.find("TLS 1.2 (or 1.3)"), std::string::npos) << f->remedy;
  EXPECT_NE(f->remedy.find("min_tls_version (\"TLSv1.3\")"), std::string::npos) << f->remedy;

  facts.upstream.tls->version = "TLSv1";
  policy.min_tls_version = "TLSv1.2";
  findings = evaluate(facts, {}, policy, now);
  f = find(findings, FindingId::tls_protocol_weak);
  ASSERT_NE(f, nullptr) << ids(findings);
  EXPECT_EQ(f->remedy.rfind("Enable TLS 1.2 (or 1.3)", 0), 0U) << f->remedy;
}

// ---- TLS_HANDSHAKE_FAILED and the certificate behind it --------------------------------

SessionFacts rejected_handshake(int code, const std::string& description) {
  auto facts = passthrough("TLSv1.2");
  facts.downstream.starttls.handshake = "failed";
  facts.upstream.starttls.handshake = "failed";
  auto& tls = *facts.upstream.tls;
  tls.server_certificates = {certificate("www.fabrikam.com", false)};
  tls.verification.name_matched = false;
  tls.verification.matched_name.reset();
  tls.alert = AlertFacts{"c>s", "fatal", description, code};
  return facts;
}

TEST(HandshakeFailedVerdict, CertificateAlertFromTheSenderLeadsWithTheCertificateFinding) {
  for (const auto& [code, name] : std::vector<std::pair<int, std::string>>{
           {42, "bad_certificate"}, {48, "unknown_ca"}, {46, "certificate_unknown"}}) {
    const auto facts = rejected_handshake(code, name);
    const auto findings = evaluate(facts, {}, policy_config(), now);
    ASSERT_NE(find(findings, FindingId::tls_handshake_failed), nullptr) << ids(findings);
    ASSERT_NE(find(findings, FindingId::cert_name_mismatch), nullptr) << ids(findings);
    const std::string line = verdict(facts, findings);
    EXPECT_EQ(line.rfind("hop \"upstream\" presented a certificate for SAN www.fabrikam.com", 0),
              0U)
        << line;
    EXPECT_NE(line.find("the sender aborted the TLS handshake (" + name + ")"), std::string::npos)
        << line;
    EXPECT_NE(line.find("(also: TLS_HANDSHAKE_FAILED)"), std::string::npos) << line;
  }
}

TEST(HandshakeFailedVerdict, OtherAlertsOrServerAlertsStillLeadWithTheHandshake) {
  auto facts = rejected_handshake(40, "handshake_failure");
  auto line = verdict(facts, evaluate(facts, {}, policy_config(), now));
  EXPECT_EQ(line.rfind("the TLS handshake on upstream failed", 0), 0U) << line;
  facts = rejected_handshake(42, "bad_certificate");
  facts.upstream.tls->alert->direction = "s>c";
  line = verdict(facts, evaluate(facts, {}, policy_config(), now));
  EXPECT_EQ(line.rfind("the TLS handshake on upstream failed", 0), 0U) << line;
}

}  // namespace
}  // namespace hopscope::policy

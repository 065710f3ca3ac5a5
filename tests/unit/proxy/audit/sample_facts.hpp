#pragma once
// A realistic SessionFacts for the audit tests: Office 365 → an appliance that swaps in a
// self-signed certificate → Exchange, one clear-text message, a transcript with AUTH.

#include <cstdint>

#include "proxy/audit_json.hpp"
#include "proxy/facts.hpp"

namespace hopscope::test {

inline constexpr std::int64_t sample_started_ms = 1795369500123;  // 2026-11-22T17:45:00.123Z

inline tls::CertificateFacts sample_certificate() {
  tls::CertificateFacts c;
  c.subject = "CN=barracuda.local";
  c.issuer = "CN=barracuda.local";
  c.subject_dn = {{"CN", "barracuda.local"}};
  c.issuer_dn = {{"CN", "barracuda.local"}};
  c.san_dns = {"barracuda.local"};
  c.san_ip = {"10.0.0.5"};
  c.serial = "0A1B2C";
  c.not_before = "2026-01-01T00:00:00Z";
  c.not_after = "2027-01-01T00:00:00Z";
  c.sha256 = "AB12";
  c.sha1 = "CD34";
  c.spki_sha256 = "c3BraQ==";
  c.key_type = "RSA";
  c.key_bits = 2048;
  c.key = "RSA 2048";
  c.signature = "sha256WithRSAEncryption";
  c.self_signed = true;
  c.is_ca = false;
  c.der_base64 = "MIIBkTCB+wIJAKHHIG==";
  return c;
}

inline SessionFacts sample_facts() {
  SessionFacts f;
  f.id = "20261122T174500Z-4f2a91-000123";
  f.started_unix_ms = sample_started_ms;
  f.ended_unix_ms = sample_started_ms + 812;
  f.mode = "passthrough";
  f.downstream.peer = "40.92.1.2:51000";
  f.downstream.local = "10.0.0.9:25";
  f.downstream.original_destination = "10.0.0.5:25";
  f.downstream.helo = "EHLO NAM12-BN8-obe.outbound.protection.outlook.com";
  f.downstream.helo_commands = {f.downstream.helo};
  f.downstream.starttls.offered = true;
  f.downstream.starttls.attempted = true;
  f.downstream.starttls.reply = ReplyFacts{220, "2.0.0", {"220 2.0.0 SMTP server ready"}};
  f.downstream.starttls.client_plaintext_after_starttls = PlaintextEvidence{6, "RSET\r\n"};
  f.downstream.tls_end_to_end = true;

  auto& up = f.upstream;
  up.address = "10.0.0.5:25";
  up.local = "10.0.0.9:40000";
  up.banner = ReplyFacts{220, "", {"220 mail.contoso.com Microsoft ESMTP MAIL Service ready"}};
  up.ehlo_reply = ReplyFacts{
      250, "", {"250-mail.contoso.com Hello [10.0.0.9]", "250-SIZE 37748736", "250 STARTTLS"}};
  up.capabilities = {"SIZE 37748736", "STARTTLS"};
  up.starttls.offered = true;
  up.starttls.attempted = true;
  up.starttls.reply = ReplyFacts{220, "2.0.0", {"220 2.0.0 SMTP server ready"}};
  up.starttls.handshake = "ok";
  TlsFacts tls;
  tls.seen = true;
  tls.version = "TLSv1.2";
  tls.cipher = "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384";
  tls.cipher_id = 0xC030;
  tls.sni = "mail.contoso.com";
  tls.offered_versions = {"TLSv1.3", "TLSv1.2"};
  tls.offered_ciphers = {"TLS_AES_256_GCM_SHA384"};
  tls.offered_groups = {"x25519"};
  tls.alert = AlertFacts{"s>c", "fatal", "bad_certificate", 42};
  tls.server_certificates = {sample_certificate()};
  tls.client_certificates = {sample_certificate()};
  tls.client_certificates[0].subject = "CN=mail.protection.outlook.com";
  tls.verification.checked = true;
  tls.verification.trusted = false;
  tls.verification.error = "self-signed certificate";
  tls.verification.error_depth = 0;
  tls.verification.name_matched = false;
  tls.verification.expected_names = {"mail.contoso.com"};
  tls.client_app_records = 3;
  tls.server_app_records = 4;
  tls.client_app_bytes = 300;
  tls.server_app_bytes = 400;
  up.tls = tls;

  MessageFacts m;
  m.mail_from = "a@contoso.com";
  m.rcpt_to = {"b@contoso.com", "c@contoso.com"};
  m.size = 20482;
  m.sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  m.reply = ReplyFacts{250, "2.6.0", {"250 2.6.0 <id@contoso.com> Queued mail for delivery"}};
  f.messages = {m};

  f.transcript = {
      {0, "s>c", "220 mail.contoso.com Microsoft ESMTP MAIL Service ready", std::nullopt},
      {3, "c>s", "EHLO NAM12-BN8-obe.outbound.protection.outlook.com", std::nullopt},
      {5, "c>s", "AUTH LOGIN <redacted>", std::nullopt},
      {9, "c>s", "", 20482},
  };
  f.transcript_dropped = 2;
  f.anomalies = {{"c>s", "bare_lf", "line 3"}};
  f.end.reason = EndReason::quit;
  return f;
}

inline std::vector<FindingView> sample_findings() {
  return {FindingView{"CERT_SELF_SIGNED", "critical", "upstream",
                      "upstream presented a self-signed certificate CN=barracuda.local",
                      "subject: CN=barracuda.local\nissuer: CN=barracuda.local",
                      "Have the appliance pass TLS through."}};
}

}  // namespace hopscope::test

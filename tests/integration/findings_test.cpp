// The middle boxes of issue 5's "How it will be tried", end to end through the built
// `hopscope relay` in passthrough mode: a front end that swaps in its own self-signed
// certificate, an upstream with an expired certificate, a stripper that deletes STARTTLS, a
// Cisco ASA doing ESMTP inspection, a PIX MailGuard, Exchange Online refusing mail without TLS,
// a STARTTLS command injection, and a healthy path. Each must put its finding (DESIGN.md §6)
// with the right leg, severity, evidence and a remedy into the session's audit document
// (DESIGN.md §5); the healthy path none above `info`.
// Wire strings are the ones field-facts.md §1 quotes (Cisco ESA 118550, AppRiver KB a238).

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "postfix_instance.hpp"
#include "relay_fixture.hpp"
#include "scripted_upstream.hpp"
#include "smtp_client.hpp"
#include "test_pki.hpp"

namespace hopscope::test {
namespace {

using namespace std::chrono_literals;

struct TlsWorld {
  TempDir dir{"hopscope-findings-pki"};
  TestPki pki{dir.path()};

  // The relay verifies against the test CA and expects Exchange's name; every other policy
  // key keeps its default (the good server certificate is valid for a year).
  [[nodiscard]] std::string relay_toml() const {
    return "[tls]\ntrust = \"" + pki.ca_file().string() +
           "\"\n[policy]\nexpected_server_names = [\"mail.contoso.test\"]\n";
  }
};

// Postfix requiring nothing, offering STARTTLS over TLS 1.2 only (the certificate is then on
// the wire, visible to a passive observer), presenting `cert`.
PostfixOptions postfix_tls12(const PkiFile& cert) {
  PostfixOptions po;
  po.tls = PostfixTls::may;
  po.cert_file = cert.cert;
  po.key_file = cert.key;
  po.tls_protocols = std::string(tls_only_1_2);
  return po;
}

std::vector<std::string> swaks_args(const RelayProcess& relay, const TlsWorld& world) {
  const auto file = world.dir.path() / "m.eml";
  write_file(file, "From: a@example.test\r\nTo: u@contoso.test\r\nSubject: findings\r\n\r\nbody");
  return {"--server", relay.address(),  "--to",   "u@contoso.test",
          "--from",   "a@example.test", "--data", "@" + file.string()};
}

// The one session document, after the relay logged its summary line.
boost::json::object only_document(RelayProcess& relay) {
  EXPECT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  if (docs.size() != 1) {
    ADD_FAILURE() << "expected one session document, found " << docs.size() << "\n"
                  << relay.stderr_text();
    return {};
  }
  return docs.front();
}

std::string findings_text(const boost::json::object& doc) {
  const auto* f = json_at(doc, "findings");
  return f == nullptr ? "(no findings field)" : boost::json::serialize(*f);
}

std::string field(const boost::json::object& finding, const char* key) {
  const auto* const it = finding.find(key);
  return it != finding.end() && it->value().is_string() ? std::string(it->value().as_string())
                                                        : std::string();
}

// The finding `id` on `leg`, or nullptr (with a failure naming every finding).
const boost::json::object* find_finding(const boost::json::object& doc, const std::string& id,
                                        const std::string& leg) {
  const auto* all = json_at(doc, "findings");
  if (all != nullptr && all->is_array()) {
    for (const auto& v : all->as_array()) {
      const auto& f = v.as_object();
      if (field(f, "id") == id && field(f, "leg") == leg) {
        return &f;
      }
    }
  }
  ADD_FAILURE() << "no finding " << id << " on leg " << leg << "; findings: " << findings_text(doc)
                << "\nverdict: " << json_string(doc, "verdict");
  return nullptr;
}

// Asserts the finding's id, leg, severity, an evidence substring and a non-empty remedy.
// Returns the finding (nullptr if absent) for further checks.
const boost::json::object* expect_finding(const boost::json::object& doc, const std::string& id,
                                          const std::string& leg, const std::string& severity,
                                          const std::string& evidence_part) {
  const auto* f = find_finding(doc, id, leg);
  if (f == nullptr) {
    return nullptr;
  }
  EXPECT_EQ(field(*f, "severity"), severity) << id << ": " << boost::json::serialize(*f);
  EXPECT_NE(field(*f, "evidence").find(evidence_part), std::string::npos)
      << id << " evidence lacks \"" << evidence_part << "\": " << field(*f, "evidence");
  EXPECT_FALSE(field(*f, "remedy").empty()) << id << ": " << boost::json::serialize(*f);
  EXPECT_FALSE(field(*f, "summary").empty()) << id << ": " << boost::json::serialize(*f);
  return f;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The finding's `key` (summary, evidence, remedy) contains `needle`; prints the field if not.
void expect_field_contains(const boost::json::object& finding, const char* key,
                           const std::string& needle) {
  const auto text = field(finding, key);
  EXPECT_TRUE(contains(text, needle)) << key << ": " << text;
}

// Inbound field report: an appliance in front of Exchange terminates TLS with its own
// self-signed certificate (Barracuda). TLS 1.2, so the certificate is on the wire.
TEST(RelayFindings, SelfSignedSwapIsNamedOnTheUpstreamLeg) {
  TlsWorld world;
  PostfixInstance postfix(postfix_tls12(world.pki.self_signed()));
  RelayProcess relay({.upstream = postfix.address(), .extra_toml = world.relay_toml()});
  auto args = swaks_args(relay, world);
  args.insert(args.end(), {"--tls", "--tls-sni", "mail.contoso.test"});  // no --tls-verify
  const auto r = run_swaks(args);
  ASSERT_EQ(r.exit_code, 0) << r.transcript << r.errors;

  const auto doc = only_document(relay);
  ASSERT_EQ(json_string(doc, "upstream.tls.version"), "TLSv1.2") << findings_text(doc);
  const auto* f =
      expect_finding(doc, "CERT_SELF_SIGNED", "upstream", "critical", "barracuda.local");
  if (f != nullptr) {
    expect_field_contains(*f, "summary", "barracuda.local");
    expect_field_contains(*f, "evidence", world.pki.self_signed().sha256);
  }
  const auto verdict = json_string(doc, "verdict");
  EXPECT_TRUE(contains(verdict, "barracuda.local")) << verdict;
  EXPECT_TRUE(contains(verdict, "upstream")) << verdict;
}

TEST(RelayFindings, ExpiredUpstreamCertificateIsNamed) {
  TlsWorld world;
  PostfixInstance postfix(postfix_tls12(world.pki.expired()));
  RelayProcess relay({.upstream = postfix.address(), .extra_toml = world.relay_toml()});
  auto args = swaks_args(relay, world);
  args.insert(args.end(), {"--tls", "--tls-sni", "mail.contoso.test"});  // no --tls-verify
  const auto r = run_swaks(args);
  ASSERT_EQ(r.exit_code, 0) << r.transcript << r.errors;

  const auto doc = only_document(relay);
  ASSERT_EQ(json_string(doc, "upstream.tls.version"), "TLSv1.2") << findings_text(doc);
  const auto* f = expect_finding(doc, "CERT_EXPIRED", "upstream", "critical", "not_after");
  if (f != nullptr) {
    expect_field_contains(*f, "evidence", "mail.contoso.test");
  }
  EXPECT_FALSE(json_string(doc, "verdict").empty());
}

// A device that deletes STARTTLS from the EHLO reply (Postfix's smtpd_discard_ehlo_keywords
// plays it): the sender, seeing no STARTTLS, sends in clear.
TEST(RelayFindings, StrippedStarttlsIsNotOfferedOnTheUpstreamLeg) {
  TlsWorld world;
  auto po = postfix_tls12(world.pki.server());
  po.discard_ehlo_keywords = {"starttls"};
  PostfixInstance postfix(po);
  RelayProcess relay({.upstream = postfix.address(), .extra_toml = world.relay_toml()});
  const auto r = run_swaks(swaks_args(relay, world));
  ASSERT_EQ(r.exit_code, 0) << r.transcript << r.errors;
  ASSERT_EQ(postfix.wait_for_messages(1, 20s), 1U);

  const auto doc = only_document(relay);
  const auto* f = expect_finding(doc, "STARTTLS_NOT_OFFERED", "upstream", "critical", "EHLO reply");
  if (f != nullptr) {
    expect_field_contains(*f, "evidence", "PIPELINING");
    EXPECT_FALSE(contains(field(*f, "evidence"), "250-STARTTLS")) << field(*f, "evidence");
  }
}

// Cisco ASA `inspect esmtp` with the default map: banner masked, STARTTLS in the EHLO reply
// masked as "XXXXXXXA", the sender's STARTTLS answered "500 #5.5.1 command not recognized"
// (Cisco ESA tech note 118550).
TEST(RelayFindings, AsaEsmtpInspectionMasksBannerAndStarttls) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    c.say("220 *******************************************\r\n");
    c.read_line();  // EHLO
    c.say(
        "250-mail.contoso.test Hello [127.0.0.1]\r\n250-8BITMIME\r\n250-SIZE 14680064\r\n"
        "250 XXXXXXXA\r\n");
    c.read_line();  // STARTTLS, rewritten to XXXXXXXX by the firewall
    c.say("500 #5.5.1 command not recognized\r\n");
    c.read_line();  // QUIT
    c.say("221 2.0.0 bye\r\n");
  });
  RelayProcess relay({.upstream = upstream.address()});
  {
    SmtpClient client(relay.host(), relay.port());
    const auto ehlo = client.greet_and_ehlo();
    EXPECT_TRUE(ehlo.has_keyword("XXXXXXXA")) << ehlo.raw;
    EXPECT_EQ(client.command("STARTTLS").code, 500);
    client.quit();
  }
  const auto doc = only_document(relay);
  const auto* masked = expect_finding(doc, "STARTTLS_MASKED", "upstream", "critical", "XXXXXXXA");
  if (masked != nullptr) {
    EXPECT_TRUE(contains(field(*masked, "remedy"), "allow-tls")) << field(*masked, "remedy");
  }
  const auto* banner = expect_finding(doc, "BANNER_MASKED", "upstream", "warning", "220 ****");
  if (banner != nullptr) {
    EXPECT_TRUE(contains(field(*banner, "remedy"), "mask-banner")) << field(*banner, "remedy");
  }
  EXPECT_TRUE(contains(json_string(doc, "verdict"), "upstream")) << json_string(doc, "verdict");
}

// Cisco PIX MailGuard (`fixup protocol smtp`): the banner keeps only '2' and '0', EHLO is
// answered "500 Unrecognized command", the sender falls back to HELO (AppRiver KB a238).
TEST(RelayFindings, PixMailGuardRefusingEhloIsNamed) {
  static const std::string pix_banner =
      "220 *********0***************************************************************** "
      "************2*************";
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    c.say(pix_banner + "\r\n");
    c.read_line();  // EHLO
    c.say("500 Unrecognized command\r\n");
    c.read_line();  // HELO
    c.say("250 mail.contoso.test\r\n");
    c.read_line();  // MAIL
    c.say("250 ok\r\n");
    c.read_line();  // RCPT
    c.say("250 ok\r\n");
    c.read_line();  // DATA
    c.say("354 go ahead\r\n");
    c.read_until_final_dot();
    c.say("250 queued\r\n");
    c.read_line();  // QUIT
    c.say("221 bye\r\n");
  });
  RelayProcess relay({.upstream = upstream.address()});
  {
    SmtpClient client(relay.host(), relay.port());
    EXPECT_EQ(client.greet_and_ehlo().code, 500);
    EXPECT_EQ(client.command("HELO client.example.test").code, 250);
    EXPECT_EQ(client.command("MAIL FROM:<a@example.test>").code, 250);
    EXPECT_EQ(client.command("RCPT TO:<u@contoso.test>").code, 250);
    EXPECT_EQ(client.command("DATA").code, 354);
    EXPECT_EQ(client.command("Subject: mailguard\r\n\r\nbody\r\n.").code, 250);
    client.quit();
  }
  const auto doc = only_document(relay);
  const auto* f =
      expect_finding(doc, "EHLO_REJECTED", "upstream", "critical", "500 Unrecognized command");
  if (f != nullptr) {
    expect_field_contains(*f, "evidence", "HELO client.example.test");
    expect_field_contains(*f, "remedy", "no fixup protocol smtp");
  }
  expect_finding(doc, "BANNER_MASKED", "upstream", "warning", "*********0****");
}

// Outbound field report: Exchange sends in clear because the firewall hid STARTTLS, and
// Exchange Online answers MAIL with "451 5.7.3 Must issue a STARTTLS command first".
TEST(RelayFindings, RemoteTlsRefusalIsTiedToTheMissingStarttls) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    c.say("220 BN8NAM12FT001.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready\r\n");
    c.read_line();  // EHLO
    c.say(
        "250-BN8NAM12FT001.mail.protection.outlook.com Hello [127.0.0.1]\r\n"
        "250-SIZE 49283072\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n");
    c.read_line();  // MAIL
    c.say("451 5.7.3 Must issue a STARTTLS command first\r\n");
    c.read_line();  // QUIT
    c.say("221 2.0.0 Service closing transmission channel\r\n");
  });
  RelayProcess relay({.upstream = upstream.address()});
  {
    SmtpClient client(relay.host(), relay.port());
    EXPECT_FALSE(client.greet_and_ehlo().has_keyword("STARTTLS"));
    EXPECT_EQ(client.command("MAIL FROM:<a@contoso.com>").code, 451);
    client.quit();
  }
  const auto doc = only_document(relay);
  const auto* f = expect_finding(doc, "REMOTE_TLS_ERROR", "upstream", "warning",
                                 "451 5.7.3 Must issue a STARTTLS command first");
  if (f != nullptr) {
    expect_field_contains(*f, "evidence", "MAIL FROM:<a@contoso.com>");
    // The remedy names the finding that explains the refusal.
    expect_field_contains(*f, "remedy", "STARTTLS_NOT_OFFERED");
  }
  expect_finding(doc, "STARTTLS_NOT_OFFERED", "upstream", "critical", "SMTPUTF8");
}

// RFC 3207 §4.2 / CVE-2011-0411: a command pipelined after STARTTLS in the same write is
// plaintext the server could process as if it came inside TLS.
TEST(RelayFindings, CommandInjectedAfterStarttlsIsNamedOnTheSenderLeg) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    c.say("220 mail.contoso.test ESMTP\r\n");
    c.read_line();  // EHLO
    c.say("250-mail.contoso.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
    c.read_line();  // STARTTLS
    c.say("220 2.0.0 ready\r\n");
    c.read_line();  // RSET if the relay passes it on, else end of connection
  });
  RelayProcess relay({.upstream = upstream.address()});
  {
    SmtpClient client(relay.host(), relay.port());
    EXPECT_TRUE(client.greet_and_ehlo().has_keyword("STARTTLS"));
    client.send("STARTTLS\r\nRSET\r\n");
    EXPECT_EQ(client.read_reply().code, 220);
  }  // the sender closes instead of starting TLS
  const auto doc = only_document(relay);
  expect_finding(doc, "STARTTLS_INJECTION", "downstream", "critical", "RSET");
}

// Exchange's certificate, verified chain, the expected name, TLS 1.2: nothing to report.
TEST(RelayFindings, HealthyPathHasNoFindingAboveInfo) {
  TlsWorld world;
  PostfixInstance postfix(postfix_tls12(world.pki.server()));
  RelayProcess relay({.upstream = postfix.address(), .extra_toml = world.relay_toml()});
  auto args = swaks_args(relay, world);
  args.insert(args.end(), {"--tls", "--tls-verify", "--tls-ca-path", world.pki.ca_file().string(),
                           "--tls-sni", "mail.contoso.test"});
  const auto r = run_swaks(args);
  ASSERT_EQ(r.exit_code, 0) << r.transcript << r.errors;
  ASSERT_EQ(postfix.wait_for_messages(1, 20s), 1U);

  const auto doc = only_document(relay);
  EXPECT_EQ(json_string(doc, "upstream.tls.version"), "TLSv1.2");
  EXPECT_EQ(json_string(doc, "upstream.starttls.handshake"), "ok");
  const auto* trusted = json_at(doc, "upstream.tls.verification.trusted");
  ASSERT_NE(trusted, nullptr) << findings_text(doc);
  EXPECT_TRUE(trusted->is_bool() && trusted->as_bool()) << boost::json::serialize(*trusted);
  const auto* all = json_at(doc, "findings");
  ASSERT_NE(all, nullptr);
  ASSERT_TRUE(all->is_array());
  for (const auto& v : all->as_array()) {
    EXPECT_EQ(field(v.as_object(), "severity"), "info") << findings_text(doc);
  }
  EXPECT_FALSE(json_string(doc, "verdict").empty());
}

}  // namespace
}  // namespace hopscope::test

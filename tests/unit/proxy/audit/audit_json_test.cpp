#include "proxy/audit_json.hpp"

#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "proxy/printable.hpp"
#include "sample_facts.hpp"

namespace hopscope {
namespace {

namespace json = boost::json;

json::value document(const SessionFacts& facts, const AuditOptions& options = {},
                     const std::string& verdict = "") {
  return json::parse(to_json(facts, test::sample_findings(), verdict, options));
}

std::string str(const json::value& doc, std::string_view pointer) {
  return std::string(doc.at_pointer(pointer).as_string());
}

// True when every byte sequence in `s` is ASCII or a valid UTF-8 sequence.
bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const auto n = utf8_sequence_length(s, i);
    if (n == 0) {
      return false;
    }
    i += n;
  }
  return true;
}

TEST(AuditJson, EveryDesignFieldIsAtItsPath) {
  const auto doc = document(test::sample_facts());
  EXPECT_EQ(str(doc, "/schema"), "hopscope.session/1");
  EXPECT_EQ(str(doc, "/id"), "20261122T174500Z-4f2a91-000123");
  EXPECT_EQ(str(doc, "/started"), "2026-11-22T17:45:00.123Z");
  EXPECT_EQ(str(doc, "/ended"), "2026-11-22T17:45:00.935Z");
  EXPECT_EQ(doc.at_pointer("/duration_ms").to_number<int>(), 812);
  EXPECT_EQ(str(doc, "/mode"), "passthrough");
  EXPECT_FALSE(doc.at_pointer("/own_probe").as_bool());
  EXPECT_EQ(doc.at_pointer("/limits/line_bytes").to_number<std::size_t>(), default_line_cap);

  EXPECT_EQ(str(doc, "/downstream/peer"), "40.92.1.2:51000");
  EXPECT_EQ(str(doc, "/downstream/local"), "10.0.0.9:25");
  EXPECT_EQ(str(doc, "/downstream/original_destination"), "10.0.0.5:25");
  EXPECT_EQ(str(doc, "/downstream/helo"), "EHLO NAM12-BN8-obe.outbound.protection.outlook.com");
  EXPECT_TRUE(doc.at_pointer("/downstream/starttls/offered").as_bool());
  EXPECT_TRUE(doc.at_pointer("/downstream/starttls/attempted").as_bool());
  EXPECT_EQ(str(doc, "/downstream/starttls/reply"), "220 2.0.0 SMTP server ready");
  EXPECT_EQ(
      doc.at_pointer("/downstream/starttls/client_plaintext_after_starttls/bytes").to_number<int>(),
      6);
  EXPECT_EQ(str(doc, "/downstream/starttls/client_plaintext_after_starttls/first_bytes"),
            "RSET\\x0D\\x0A");
  EXPECT_TRUE(doc.at_pointer("/downstream/tls/end_to_end").as_bool());

  EXPECT_EQ(str(doc, "/upstream/address"), "10.0.0.5:25");
  EXPECT_EQ(str(doc, "/upstream/banner"),
            "220 mail.contoso.com Microsoft ESMTP MAIL Service ready");
  EXPECT_EQ(doc.at_pointer("/upstream/ehlo_reply").as_array().size(), 3U);
  EXPECT_EQ(str(doc, "/upstream/ehlo_reply/1"), "250-SIZE 37748736");
  EXPECT_EQ(str(doc, "/upstream/capabilities/1"), "STARTTLS");
  EXPECT_TRUE(doc.at_pointer("/upstream/starttls/offered").as_bool());
  EXPECT_TRUE(doc.at_pointer("/upstream/starttls/attempted").as_bool());
  EXPECT_EQ(str(doc, "/upstream/starttls/reply"), "220 2.0.0 SMTP server ready");
  EXPECT_EQ(str(doc, "/upstream/starttls/handshake"), "ok");

  EXPECT_EQ(str(doc, "/upstream/tls/version"), "TLSv1.2");
  EXPECT_EQ(str(doc, "/upstream/tls/cipher"), "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
  EXPECT_EQ(str(doc, "/upstream/tls/sni"), "mail.contoso.com");
  EXPECT_TRUE(doc.at_pointer("/upstream/tls/alpn").is_null());
  EXPECT_EQ(str(doc, "/upstream/tls/offered_versions/0"), "TLSv1.3");
  EXPECT_EQ(str(doc, "/upstream/tls/offered_ciphers/0"), "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(str(doc, "/upstream/tls/offered_groups/0"), "x25519");
  EXPECT_EQ(str(doc, "/upstream/tls/alert/description"), "bad_certificate");
  EXPECT_EQ(doc.at_pointer("/upstream/tls/alert/code").to_number<int>(), 42);
  EXPECT_FALSE(doc.at_pointer("/upstream/tls/resumed").as_bool());
  EXPECT_FALSE(doc.at_pointer("/upstream/tls/hello_retry_request").as_bool());
  EXPECT_EQ(str(doc, "/upstream/tls/source"), "handshake");
  EXPECT_EQ(doc.at_pointer("/upstream/tls/server_app_bytes").to_number<int>(), 400);
  EXPECT_EQ(doc.at_pointer("/upstream/tls/client_app_records").to_number<int>(), 3);

  EXPECT_EQ(str(doc, "/upstream/tls/client_certificates/0/subject"),
            "CN=mail.protection.outlook.com");
  const auto& cert = doc.at_pointer("/upstream/tls/server_certificates/0").as_object();
  EXPECT_EQ(cert.at("subject").as_string(), "CN=barracuda.local");
  EXPECT_EQ(cert.at("issuer").as_string(), "CN=barracuda.local");
  EXPECT_EQ(cert.at("san").as_array().at(0).as_string(), "barracuda.local");
  EXPECT_EQ(cert.at("san_ip").as_array().at(0).as_string(), "10.0.0.5");
  EXPECT_EQ(cert.at("serial").as_string(), "0A1B2C");
  EXPECT_EQ(cert.at("not_before").as_string(), "2026-01-01T00:00:00Z");
  EXPECT_EQ(cert.at("not_after").as_string(), "2027-01-01T00:00:00Z");
  EXPECT_EQ(cert.at("sha256").as_string(), "AB12");
  EXPECT_EQ(cert.at("sha1").as_string(), "CD34");
  EXPECT_EQ(cert.at("spki_sha256").as_string(), "c3BraQ==");
  EXPECT_EQ(cert.at("key").as_string(), "RSA 2048");
  EXPECT_EQ(cert.at("signature").as_string(), "sha256WithRSAEncryption");
  EXPECT_TRUE(cert.at("self_signed").as_bool());
  EXPECT_FALSE(cert.at("is_ca").as_bool());
  EXPECT_EQ(cert.at("der").as_string(), "MIIBkTCB+wIJAKHHIG==");

  EXPECT_FALSE(doc.at_pointer("/upstream/tls/verification/trusted").as_bool());
  EXPECT_EQ(str(doc, "/upstream/tls/verification/error"), "self-signed certificate");
  EXPECT_FALSE(doc.at_pointer("/upstream/tls/verification/name_matched").as_bool());
  EXPECT_TRUE(doc.at_pointer("/upstream/tls/verification/matched_name").is_null());

  EXPECT_EQ(str(doc, "/messages/0/mail_from"), "a@contoso.com");
  EXPECT_EQ(str(doc, "/messages/0/rcpt_to/1"), "c@contoso.com");
  EXPECT_EQ(str(doc, "/messages/0/transfer"), "DATA");
  EXPECT_EQ(doc.at_pointer("/messages/0/size").to_number<int>(), 20482);
  EXPECT_EQ(str(doc, "/messages/0/sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(str(doc, "/messages/0/reply"), "250 2.6.0 <id@contoso.com> Queued mail for delivery");
  EXPECT_FALSE(doc.at_pointer("/messages/0/ambiguous_end_of_data").as_bool());

  EXPECT_EQ(doc.at_pointer("/transcript").as_array().size(), 4U);
  EXPECT_EQ(doc.at_pointer("/transcript/1/t_ms").to_number<int>(), 3);
  EXPECT_EQ(str(doc, "/transcript/1/dir"), "c>s");
  EXPECT_EQ(str(doc, "/transcript/2/line"), "AUTH LOGIN <redacted>");
  EXPECT_EQ(doc.at_pointer("/transcript/3/data_bytes").to_number<int>(), 20482);
  EXPECT_FALSE(doc.at_pointer("/transcript/3").as_object().contains("line"));
  EXPECT_EQ(doc.at_pointer("/transcript_dropped").to_number<int>(), 2);
  EXPECT_EQ(str(doc, "/anomalies/0/kind"), "bare_lf");

  EXPECT_EQ(str(doc, "/findings/0/id"), "CERT_SELF_SIGNED");
  EXPECT_EQ(str(doc, "/findings/0/severity"), "critical");
  EXPECT_EQ(str(doc, "/findings/0/leg"), "upstream");
  EXPECT_EQ(str(doc, "/findings/0/summary"),
            "upstream presented a self-signed certificate CN=barracuda.local");
  EXPECT_EQ(str(doc, "/findings/0/evidence"),
            "subject: CN=barracuda.local\nissuer: CN=barracuda.local");
  EXPECT_EQ(str(doc, "/findings/0/remedy"), "Have the appliance pass TLS through.");
  EXPECT_TRUE(doc.at_pointer("/verdict").is_null());

  EXPECT_EQ(str(doc, "/end/reason"), "quit");
  EXPECT_TRUE(doc.at_pointer("/end/detail").is_null());
}

TEST(AuditJson, FindingsAreAnEmptyListUntilPolicyFillsThem) {
  const auto doc = json::parse(to_json(test::sample_facts(), {}, "", {}));
  EXPECT_TRUE(doc.at_pointer("/findings").as_array().empty());
}

TEST(AuditJson, VerdictIsWrittenWhenGiven) {
  const auto doc = document(test::sample_facts(), {}, "upstream certificate replaced");
  EXPECT_EQ(str(doc, "/verdict"), "upstream certificate replaced");
}

TEST(AuditJson, EndReasonAndDetailAreWritten) {
  auto facts = test::sample_facts();
  facts.end.reason = EndReason::upstream_unreachable;
  facts.end.detail = "connect: Connection refused";
  const auto doc = document(facts);
  EXPECT_EQ(str(doc, "/end/reason"), "upstream_unreachable");
  EXPECT_EQ(str(doc, "/end/detail"), "connect: Connection refused");
}

TEST(AuditJson, InspectModeWritesEachLegsHandshake) {
  auto facts = test::sample_facts();
  facts.mode = "inspect";
  facts.downstream.tls_end_to_end = false;
  facts.downstream.tls = facts.upstream.tls;
  facts.downstream.tls->version = "TLSv1.3";
  const auto doc = document(facts);
  EXPECT_EQ(str(doc, "/downstream/tls/version"), "TLSv1.3");
  EXPECT_FALSE(doc.at_pointer("/downstream/tls").as_object().contains("end_to_end"));
}

TEST(AuditJson, AbsentFactsAreNull) {
  SessionFacts facts;
  facts.end.reason = EndReason::client_closed;
  const auto doc = json::parse(to_json(facts, {}, "", {}));
  EXPECT_TRUE(doc.at_pointer("/downstream/tls").is_null());
  EXPECT_TRUE(doc.at_pointer("/downstream/original_destination").is_null());
  EXPECT_TRUE(doc.at_pointer("/downstream/starttls/reply").is_null());
  EXPECT_TRUE(doc.at_pointer("/upstream/banner").is_null());
  EXPECT_TRUE(doc.at_pointer("/upstream/ehlo_reply").is_null());
  EXPECT_TRUE(doc.at_pointer("/upstream/tls").is_null());
  EXPECT_TRUE(doc.at_pointer("/upstream/starttls/handshake").is_null());
  EXPECT_TRUE(doc.at_pointer("/messages").as_array().empty());
  EXPECT_EQ(str(doc, "/end/reason"), "client_closed");
}

TEST(AuditJson, MultiLineReplyIsJoinedWithNewlines) {
  auto facts = test::sample_facts();
  facts.upstream.banner = ReplyFacts{220, "", {"220-first", "220 second"}};
  const auto doc = document(facts);
  EXPECT_EQ(str(doc, "/upstream/banner"), "220-first\n220 second");
}

TEST(AuditJson, NonUtf8AndControlBytesAreEscapedAndOutputIsValidUtf8) {
  auto facts = test::sample_facts();
  facts.upstream.banner =
      ReplyFacts{220, "", {std::string("220 \xFF\xFE mail\x01\x1B[0m \xC3\xA9t\xC3\xA9")}};
  facts.downstream.helo = std::string("EHLO \x80\xC0\xAF\xED\xA0\x80 host\\x");
  facts.transcript[0].line = std::string(
      "220 \x00\x7F"
      " end",
      10);
  facts.upstream.tls->server_certificates[0].subject = "CN=\xF0\x28\x8C\x28";
  facts.end.detail = std::string("\xE2\x82", 2);  // truncated sequence
  const auto text = to_json(facts, test::sample_findings(), "verdict \xFF", {});
  EXPECT_TRUE(valid_utf8(text));
  const auto doc = json::parse(text);  // Boost.JSON rejects invalid UTF-8 by default
  EXPECT_EQ(str(doc, "/upstream/banner"), "220 \\xFF\\xFE mail\\x01\\x1B[0m \xC3\xA9t\xC3\xA9");
  EXPECT_EQ(str(doc, "/downstream/helo"), "EHLO \\x80\\xC0\\xAF\\xED\\xA0\\x80 host\\\\x");
  EXPECT_EQ(str(doc, "/transcript/0/line"), "220 \\x00\\x7F end");
  EXPECT_EQ(str(doc, "/upstream/tls/server_certificates/0/subject"), "CN=\\xF0(\\x8C(");
  EXPECT_EQ(str(doc, "/end/detail"), "\\xE2\\x82");
  EXPECT_EQ(str(doc, "/verdict"), "verdict \\xFF");
}

TEST(AuditJson, LineCapAppliesOnlyAboveTheCap) {
  auto facts = test::sample_facts();
  const AuditOptions options{true, true, 100};
  for (const std::size_t length : {99U, 100U, 101U}) {
    facts.transcript[1].line = std::string(length, 'a');
    const auto doc = json::parse(to_json(facts, {}, "", options));
    const auto line = str(doc, "/transcript/1/line");
    if (length <= 100) {
      EXPECT_EQ(line, std::string(length, 'a')) << "length=" << length;
    } else {
      EXPECT_EQ(line, std::string(100, 'a') + "…[+1 bytes]") << "length=" << length;
    }
    EXPECT_EQ(doc.at_pointer("/limits/line_bytes").to_number<int>(), 100);
  }
}

TEST(AuditJson, LineCapAppliesToEveryLineOfAReply) {
  auto facts = test::sample_facts();
  const AuditOptions options{true, true, 10};
  facts.upstream.ehlo_reply->lines = {std::string(50, 'x'), "250 OK"};
  const auto doc = json::parse(to_json(facts, {}, "", options));
  EXPECT_EQ(str(doc, "/upstream/ehlo_reply/0"), std::string(10, 'x') + "…[+40 bytes]");
  EXPECT_EQ(str(doc, "/upstream/ehlo_reply/1"), "250 OK");
  // Certificates are never cut: a document must stay re-verifiable.
  EXPECT_EQ(str(doc, "/upstream/tls/server_certificates/0/der"), "MIIBkTCB+wIJAKHHIG==");
}

TEST(AuditJson, RecordEnvelopeFalseOmitsAddresses) {
  const AuditOptions options{false, true, default_line_cap};
  const auto text = to_json(test::sample_facts(), {}, "", options);
  const auto doc = json::parse(text);
  const auto& message = doc.at_pointer("/messages/0").as_object();
  EXPECT_FALSE(message.contains("mail_from"));
  EXPECT_FALSE(message.contains("rcpt_to"));
  EXPECT_EQ(message.at("size").to_number<int>(), 20482);
  EXPECT_NE(text.find("<id@contoso.com> Queued"), std::string::npos);  // the reply stays
  EXPECT_EQ(text.find("a@contoso.com"), std::string::npos);
  EXPECT_EQ(text.find("b@contoso.com"), std::string::npos);
  const auto line = json::parse(summary_json_line(test::sample_facts(), {}, "", options));
  EXPECT_EQ(json::serialize(line).find("@contoso.com"), std::string::npos);
}

TEST(AuditJson, TranscriptFalseWritesNull) {
  const AuditOptions options{true, false, default_line_cap};
  const auto text = to_json(test::sample_facts(), {}, "", options);
  const auto doc = json::parse(text);
  ASSERT_TRUE(doc.as_object().contains("transcript"));
  EXPECT_TRUE(doc.at_pointer("/transcript").is_null());
  EXPECT_EQ(text.find("AUTH LOGIN"), std::string::npos);
}

TEST(AuditJson, SummaryLineIsOneParsableLine) {
  auto facts = test::sample_facts();
  facts.downstream.peer = std::string("1.2.3.4:5\n\xFF");
  const auto line = summary_json_line(facts, test::sample_findings(), "bad", {});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_TRUE(valid_utf8(line));
  const auto doc = json::parse(line);
  EXPECT_EQ(str(doc, "/id"), facts.id);
  EXPECT_EQ(str(doc, "/started"), "2026-11-22T17:45:00.123Z");
  EXPECT_EQ(str(doc, "/peer"), "1.2.3.4:5\\x0A\\xFF");
  EXPECT_EQ(str(doc, "/upstream"), "10.0.0.5:25");
  EXPECT_TRUE(doc.at_pointer("/starttls_offered").as_bool());
  EXPECT_TRUE(doc.at_pointer("/starttls_used").as_bool());
  EXPECT_EQ(str(doc, "/tls_version"), "TLSv1.2");
  EXPECT_EQ(str(doc, "/leaf_subject"), "CN=barracuda.local");
  EXPECT_EQ(str(doc, "/leaf_sha256"), "AB12");
  EXPECT_EQ(str(doc, "/findings/0"), "CERT_SELF_SIGNED");
  EXPECT_EQ(str(doc, "/end"), "quit");
  EXPECT_EQ(str(doc, "/verdict"), "bad");
}

TEST(AuditJson, TimestampsAreIso8601WithMillisecondsInUtc) {
  EXPECT_EQ(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(iso8601_utc(test::sample_started_ms), "2026-11-22T17:45:00.123Z");
  EXPECT_EQ(iso8601_utc(951782399999), "2000-02-28T23:59:59.999Z");
  EXPECT_EQ(iso8601_utc(951868800000), "2000-03-01T00:00:00.000Z");  // leap day in between
  EXPECT_EQ(utc_date(test::sample_started_ms), "2026-11-22");
}

}  // namespace
}  // namespace hopscope

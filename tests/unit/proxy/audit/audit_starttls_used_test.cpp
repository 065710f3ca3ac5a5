// sessions.jsonl's "starttls_used" says whether the mail went inside TLS: STARTTLS sent AND
// accepted (RFC 3207 §4: "220 Ready to start TLS"), the handshake then under way. A STARTTLS
// refused with 454 (TLS not available) or 500 (an ASA masking it) leaves the mail in clear,
// so it is not "used", although it was attempted.

#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "audit_json_reference.hpp"
#include "proxy/audit_json.hpp"
#include "sample_facts.hpp"

namespace hopscope {
namespace {

namespace json = boost::json;

// The summary line of `facts` parsed, after checking that the reference encoder agrees.
json::value summary(const SessionFacts& facts) {
  const auto line = summary_json_line(facts, test::sample_findings(), "v", {});
  EXPECT_EQ(line, test::reference_summary_json_line(facts, test::sample_findings(), "v", {}));
  return json::parse(line);
}

bool used(const SessionFacts& facts) {
  return summary(facts).at("starttls_used").as_bool();
}

// The sample session with STARTTLS attempted and answered `reply`, no TLS after it.
SessionFacts refused_with(ReplyFacts reply) {
  auto facts = test::sample_facts();
  auto& st = facts.upstream.starttls;
  st.offered = true;
  st.attempted = true;
  st.reply = std::move(reply);
  st.handshake.clear();
  facts.upstream.tls.reset();
  facts.downstream.starttls = st;
  facts.downstream.tls_end_to_end = false;
  return facts;
}

TEST(AuditStarttlsUsed, RefusedWith454IsNotUsed) {
  const auto facts = refused_with(ReplyFacts{454, "4.7.0", {"454 4.7.0 TLS not available"}});
  EXPECT_FALSE(used(facts));
  // Offered and attempted still say what happened on the wire.
  EXPECT_TRUE(summary(facts).at("starttls_offered").as_bool());
}

TEST(AuditStarttlsUsed, RefusedWith500ByAnEsmtpInspectingFirewallIsNotUsed) {
  EXPECT_FALSE(used(refused_with(ReplyFacts{500, "5.5.1", {"500 #5.5.1 command not recognized"}})));
}

TEST(AuditStarttlsUsed, AttemptedWithoutAnyReplyIsNotUsed) {
  auto facts = refused_with(ReplyFacts{});
  facts.upstream.starttls.reply.reset();
  EXPECT_FALSE(used(facts));
}

TEST(AuditStarttlsUsed, AcceptedWith220AndAHandshakeIsUsed) {
  auto facts = test::sample_facts();
  ASSERT_EQ(facts.upstream.starttls.reply->code, 220);
  ASSERT_EQ(facts.upstream.starttls.handshake, "ok");
  EXPECT_TRUE(used(facts));
}

TEST(AuditStarttlsUsed, AcceptedWith220AndAFailedHandshakeIsStillUsed) {
  // The mail did not go in clear: the session went to TLS and the handshake failed there.
  auto facts = test::sample_facts();
  facts.upstream.starttls.handshake = "failed";
  EXPECT_TRUE(used(facts));
}

TEST(AuditStarttlsUsed, NotAttemptedIsNotUsed) {
  auto facts = test::sample_facts();
  facts.upstream.starttls.attempted = false;
  facts.upstream.starttls.reply.reset();
  facts.upstream.starttls.handshake.clear();
  EXPECT_FALSE(used(facts));
}

}  // namespace
}  // namespace hopscope

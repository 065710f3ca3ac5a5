// messages[].rcpt_refused and a null mail_from in the audit document, parsed back with
// Boost.JSON.

#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "proxy/audit_json.hpp"
#include "sample_facts.hpp"

namespace hopscope {
namespace {

namespace json = boost::json;

json::value document(const SessionFacts& facts, const AuditOptions& options = {}) {
  return json::parse(to_json(facts, {}, "", options));
}

SessionFacts with_refused() {
  auto facts = test::sample_facts();
  auto& m = facts.messages.at(0);
  m.rcpt_to = {"b@contoso.com", "c@contoso.com", "d@contoso.com", "e@contoso.com"};
  m.rcpt_refused = {
      {"c@contoso.com", ReplyFacts{550, "5.7.1", {"550 5.7.1 Unable to relay"}}},
      {"d@contoso.com",
       ReplyFacts{452, "4.5.3", {"452-4.5.3 Too many recipients", "452 4.5.3 try later"}}},
      {"e@contoso.com", std::nullopt}};
  return facts;
}

TEST(AuditRcptRefused, RefusedRecipientsAreListedWithTheirReplies) {
  const auto doc = document(with_refused());
  const auto& refused = doc.at_pointer("/messages/0/rcpt_refused").as_array();
  ASSERT_EQ(refused.size(), 3U);
  EXPECT_EQ(refused[0].at("rcpt").as_string(), "c@contoso.com");
  EXPECT_EQ(refused[0].at("reply").as_string(), "550 5.7.1 Unable to relay");
  // A multi-line reply is joined with "\n", as messages[].reply is.
  EXPECT_EQ(refused[1].at("reply").as_string(),
            "452-4.5.3 Too many recipients\n452 4.5.3 try later");
  EXPECT_EQ(refused[1].as_object().size(), 2U);
  EXPECT_TRUE(refused[2].at("reply").is_null());
  // rcpt_to stays what the sender asked for.
  EXPECT_EQ(doc.at_pointer("/messages/0/rcpt_to").as_array().size(), 4U);
}

TEST(AuditRcptRefused, NoRefusalIsAnEmptyList) {
  const auto doc = document(test::sample_facts());
  const auto& refused = doc.at_pointer("/messages/0/rcpt_refused");
  ASSERT_TRUE(refused.is_array());
  EXPECT_TRUE(refused.as_array().empty());
}

// Bytes from the wire in either member are escaped like every other string: the document
// stays valid UTF-8 and says what the bytes were.
TEST(AuditRcptRefused, WireBytesAreEscaped) {
  auto facts = test::sample_facts();
  facts.messages.at(0).rcpt_refused = {
      {std::string("x\xff@contoso.com"),
       ReplyFacts{550, "", {std::string("550 \"no\" \x01\xc3\xa9")}}}};
  const auto doc = document(facts);
  const auto& r = doc.at_pointer("/messages/0/rcpt_refused/0").as_object();
  EXPECT_EQ(r.at("rcpt").as_string(), "x\\xFF@contoso.com");
  EXPECT_EQ(r.at("reply").as_string(), "550 \"no\" \\x01\xc3\xa9");
}

// record_envelope = false: addresses are not written, refused ones neither.
TEST(AuditRcptRefused, RecordEnvelopeFalseOmitsRefusedRecipients) {
  const AuditOptions options{false, true, default_line_cap};
  const auto text = to_json(with_refused(), {}, "", options);
  const auto doc = json::parse(text);
  const auto& message = doc.at_pointer("/messages/0").as_object();
  EXPECT_FALSE(message.contains("rcpt_refused"));
  EXPECT_EQ(text.find("c@contoso.com"), std::string::npos);
  EXPECT_EQ(text.find("Unable to relay"), std::string::npos);
}

// No MAIL opened the transaction: mail_from is null, not "" (the null reverse-path of a
// bounce, which stays "").
TEST(AuditRcptRefused, MailFromIsNullWithoutMailAndEmptyForABounce) {
  auto facts = test::sample_facts();
  facts.messages.at(0).mail_from.clear();
  EXPECT_EQ(document(facts).at_pointer("/messages/0/mail_from").as_string(), "");
  facts.messages.at(0).mail_sent = false;
  EXPECT_TRUE(document(facts).at_pointer("/messages/0/mail_from").is_null());
}

}  // namespace
}  // namespace hopscope

// FactsRecorder: which recipients upstream refused (messages[].rcpt_refused), fed through the
// real codec, and which DATA / BDAT without a MAIL before it make a message.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/facts_recorder.hpp"
#include "proxy/sha256.hpp"
#include "proxy/smtp/conversation.hpp"

namespace hopscope {
namespace {

using Clock = FactsRecorder::Clock;

// Feeds a session through the codec into the recorder (time plays no part here).
struct Harness {
  SessionFacts facts;
  Clock::time_point start = Clock::now();
  FactsRecorder recorder{facts, config::Timeouts{}, start, 5000};
  smtp::Conversation conversation;

  void client(std::string_view bytes) {
    conversation.feed_client(bytes);
    drain();
  }
  void server(std::string_view bytes) {
    conversation.feed_server(bytes);
    drain();
  }
  void drain() {
    while (auto e = conversation.next()) {
      recorder.record(*e, start);
    }
  }
  // Greeting and EHLO, as every session here starts.
  void open() {
    server("220 mx.contoso.com Microsoft ESMTP MAIL Service ready\r\n");
    client("EHLO mail.fabrikam.com\r\n");
    server("250-mx.contoso.com Hello\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
  }
};

// A refused recipient as the tests expect it: the path, and the reply's lines (nullopt: none).
struct Refused {
  std::string rcpt;
  std::optional<std::vector<std::string>> lines;
};

void expect_refused(const MessageFacts& m, const std::vector<Refused>& expected) {
  ASSERT_EQ(m.rcpt_refused.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& got = m.rcpt_refused[i];
    EXPECT_EQ(got.rcpt, expected[i].rcpt) << i;
    ASSERT_EQ(got.reply.has_value(), expected[i].lines.has_value()) << i;
    if (got.reply) {
      EXPECT_EQ(got.reply->lines, *expected[i].lines) << i;
    }
  }
}

std::string sha256_of(std::string_view bytes) {
  Sha256 hash;
  hash.update(bytes);
  return hash.finish();
}

// The admin's question: which of the three did Exchange refuse? rcpt_to keeps all three
// (what the sender asked for); rcpt_refused names the one and how it was refused.
TEST(FactsRecipients, OneRefusedOfThreeIsListedWithItsReply) {
  Harness h;
  h.open();
  h.client("MAIL FROM:<a@fabrikam.com>\r\n");
  h.server("250 2.1.0 Sender OK\r\n");
  h.client("RCPT TO:<b@contoso.com>\r\n");
  h.server("250 2.1.5 Recipient OK\r\n");
  h.client("RCPT TO:<c@contoso.com>\r\n");
  h.server("550 5.7.1 Unable to relay\r\n");
  h.client("RCPT TO:<d@contoso.com>\r\n");
  h.server("251 2.1.5 User not local; will forward\r\n");
  h.client("DATA\r\n");
  h.server("354 Start mail input\r\n");
  h.client("Subject: x\r\n\r\nbody\r\n.\r\n");
  h.server("250 2.6.0 Queued mail for delivery\r\n");
  h.client("QUIT\r\n");
  h.server("221 2.0.0 Bye\r\n");
  h.recorder.session_ended();
  ASSERT_EQ(h.facts.messages.size(), 1U);
  const auto& m = h.facts.messages[0];
  EXPECT_EQ(m.rcpt_to,
            (std::vector<std::string>{"b@contoso.com", "c@contoso.com", "d@contoso.com"}));
  expect_refused(m, {{"c@contoso.com", std::vector<std::string>{"550 5.7.1 Unable to relay"}}});
  EXPECT_EQ(m.rcpt_refused[0].reply->code, 550);
  EXPECT_EQ(m.rcpt_refused[0].reply->enhanced, "5.7.1");
  EXPECT_TRUE(h.facts.anomalies.empty());
}

// RFC 2920 §3.1: the replies to pipelined RCPTs come in command order; each is paired with
// its own RCPT however upstream's bytes are split.
TEST(FactsRecipients, PipelinedRecipientsGetTheirRepliesInOrderAtEverySplit) {
  const std::string commands =
      "MAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<b@contoso.com>\r\nRCPT TO:<c@contoso.com>\r\n"
      "RCPT TO:<d@contoso.com>\r\nRCPT TO:<e@contoso.com>\r\nDATA\r\n";
  const std::string replies =
      "250 2.1.0 Sender OK\r\n"
      "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup\r\n"
      "250 2.1.5 Recipient OK\r\n"
      "550-5.7.1 Unable to relay\r\n550 5.7.1 see the receive connector\r\n"
      "250 2.1.5 Recipient OK\r\n"
      "354 Start mail input\r\n";
  const std::vector<Refused> expected{
      {"b@contoso.com",
       std::vector<std::string>{"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not "
                                "found by SMTP address lookup"}},
      {"d@contoso.com", std::vector<std::string>{"550-5.7.1 Unable to relay",
                                                 "550 5.7.1 see the receive connector"}}};
  const auto run = [&](const std::vector<std::string_view>& pieces) {
    Harness h;
    h.open();
    h.client(commands);
    for (const auto piece : pieces) {
      h.server(piece);
    }
    h.client("body\r\n.\r\n");
    h.server("250 2.6.0 Queued mail for delivery\r\n");
    h.recorder.session_ended();
    EXPECT_EQ(h.facts.messages.size(), 1U);
    return h.facts.messages.empty() ? MessageFacts{} : h.facts.messages[0];
  };
  const std::string_view all = replies;
  for (std::size_t split = 0; split <= all.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    expect_refused(run({all.substr(0, split), all.substr(split)}), expected);
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < all.size(); ++i) {
    bytes.push_back(all.substr(i, 1));
  }
  expect_refused(run(bytes), expected);
  const auto seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::string_view> pieces;
    for (std::size_t at = 0; at < all.size();) {
      const auto n = std::uniform_int_distribution<std::size_t>(1, all.size() - at)(rng);
      pieces.push_back(all.substr(at, n));
      at += n;
    }
    expect_refused(run(pieces), expected);
  }
}

// RFC 5321 §4.2.1: a 4yz is a refusal too (the sender may try again later).
TEST(FactsRecipients, TemporaryRefusalIsListed) {
  Harness h;
  h.open();
  h.client(
      "MAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<b@contoso.com>\r\nRCPT TO:<c@contoso.com>\r\n"
      "DATA\r\n");
  h.server(
      "250 2.1.0 Sender OK\r\n452 4.5.3 Too many recipients\r\n250 2.1.5 Recipient OK\r\n"
      "354 Start mail input\r\n");
  h.client("x\r\n.\r\n");
  h.server("250 2.6.0 Queued\r\n");
  ASSERT_EQ(h.facts.messages.size(), 1U);
  expect_refused(h.facts.messages[0],
                 {{"b@contoso.com", std::vector<std::string>{"452 4.5.3 Too many recipients"}}});
  EXPECT_EQ(h.facts.messages[0].rcpt_refused[0].reply->code, 452);
}

// Upstream vanishes with replies due: a RCPT never answered was never accepted, so it is
// listed without a reply. The DATA was sent, so the message is there (cut off).
TEST(FactsRecipients, RecipientWithoutAReplyWhenTheSessionEndsIsListedWithoutOne) {
  Harness h;
  h.open();
  h.client(
      "MAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<b@contoso.com>\r\nRCPT TO:<c@contoso.com>\r\n"
      "RCPT TO:<d@contoso.com>\r\nDATA\r\n");
  h.server("250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n");  // then upstream is gone
  h.recorder.session_ended();
  ASSERT_EQ(h.facts.messages.size(), 1U);
  const auto& m = h.facts.messages[0];
  EXPECT_EQ(m.rcpt_to.size(), 3U);
  expect_refused(m, {{"c@contoso.com", std::nullopt}, {"d@contoso.com", std::nullopt}});
}

// Without DATA the transaction is no message at all (README: messages lists transactions
// that reached DATA or BDAT), so there is no rcpt_refused to put it in: the transcript has it.
TEST(FactsRecipients, UnansweredRecipientWithoutDataLeavesNoMessage) {
  Harness h;
  h.open();
  h.client("MAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<b@contoso.com>\r\n");
  h.server("250 2.1.0 Sender OK\r\n");
  h.recorder.session_ended();
  EXPECT_TRUE(h.facts.messages.empty());
}

// A RSET pipelined after an unanswered RCPT drops the transaction; the late RCPT reply is not
// charged to the next message, which reuses its place.
TEST(FactsRecipients, LateReplyOfADroppedTransactionDoesNotReachTheNextMessage) {
  Harness h;
  h.open();
  h.client(
      "MAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<b@contoso.com>\r\nRSET\r\n"
      "MAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<c@contoso.com>\r\nDATA\r\n");
  h.server(
      "250 2.1.0 Sender OK\r\n550 5.7.1 Unable to relay\r\n250 2.0.0 Resetting\r\n"
      "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 Start mail input\r\n");
  h.client("x\r\n.\r\n");
  h.server("250 2.6.0 Queued\r\n");
  h.recorder.session_ended();
  ASSERT_EQ(h.facts.messages.size(), 1U);
  EXPECT_EQ(h.facts.messages[0].rcpt_to, std::vector<std::string>{"c@contoso.com"});
  EXPECT_TRUE(h.facts.messages[0].rcpt_refused.empty());
}

// max_recipients_per_message (1000): a recipient past it is in neither rcpt_to nor
// rcpt_refused (the recipients_capped anomaly says there were more). At -1, at, +1.
TEST(FactsRecipients, RefusedRecipientsRespectTheRecipientCap) {
  for (const std::size_t sent : {999U, 1000U, 1001U}) {
    SCOPED_TRACE(std::to_string(sent) + " recipients");
    Harness h;
    h.open();
    h.client("MAIL FROM:<a@fabrikam.com>\r\n");
    h.server("250 2.1.0 Sender OK\r\n");
    for (std::size_t i = 0; i < sent; ++i) {
      h.client("RCPT TO:<r" + std::to_string(i) + "@contoso.com>\r\n");
      h.server("550 5.7.1 Unable to relay\r\n");
    }
    h.client("DATA\r\n");
    h.server("554 5.5.1 No valid recipients\r\n");
    h.recorder.session_ended();
    ASSERT_EQ(h.facts.messages.size(), 1U);
    const auto& m = h.facts.messages[0];
    const auto kept = std::min<std::size_t>(sent, 1000);
    EXPECT_EQ(m.rcpt_to.size(), kept);
    ASSERT_EQ(m.rcpt_refused.size(), kept);
    EXPECT_EQ(m.rcpt_refused.back().rcpt, "r" + std::to_string(kept - 1) + "@contoso.com");
    const bool capped =
        !h.facts.anomalies.empty() && h.facts.anomalies.back().kind == "recipients_capped";
    EXPECT_EQ(capped, sent > 1000);
  }
}

// RFC 5321 §4.1.4: DATA without MAIL gets 503 5.5.1 and no content follows: no transaction
// was started, so it is no message (it used to appear with mail_from "").
TEST(FactsRecipients, DataWithoutMailRefusedIsNotAMessage) {
  Harness h;
  h.open();
  h.client("DATA\r\n");
  h.server("503 5.5.1 Need mail command\r\n");
  h.client("MAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<b@contoso.com>\r\nDATA\r\n");
  h.server("250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 Start mail input\r\n");
  h.client("x\r\n.\r\n");
  h.server("250 2.6.0 Queued\r\n");
  h.recorder.session_ended();
  ASSERT_EQ(h.facts.messages.size(), 1U);
  EXPECT_EQ(h.facts.messages[0].mail_from, "a@fabrikam.com");
  EXPECT_TRUE(h.facts.messages[0].mail_sent);
  EXPECT_TRUE(h.facts.anomalies.empty());
}

// The same, pipelined ahead of a real transaction: the refused DATA is removed from before
// the message that follows it, and that message keeps its own final reply.
TEST(FactsRecipients, PipelinedDataWithoutMailDoesNotDisplaceTheNextMessage) {
  Harness h;
  h.open();
  h.client(
      "RCPT TO:<z@contoso.com>\r\nDATA\r\nMAIL FROM:<a@fabrikam.com>\r\n"
      "RCPT TO:<b@contoso.com>\r\nDATA\r\n");
  h.server(
      "503 5.5.1 Need mail command\r\n503 5.5.1 Need mail command\r\n"
      "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 Start mail input\r\n");
  h.client("x\r\n.\r\n");
  h.server("250 2.6.0 Queued\r\n");
  h.recorder.session_ended();
  ASSERT_EQ(h.facts.messages.size(), 1U);
  const auto& m = h.facts.messages[0];
  EXPECT_EQ(m.mail_from, "a@fabrikam.com");
  EXPECT_EQ(m.rcpt_to, std::vector<std::string>{"b@contoso.com"});
  EXPECT_TRUE(m.rcpt_refused.empty());
  ASSERT_TRUE(m.reply);
  EXPECT_EQ(m.reply->code, 250);
}

// RFC 3030 §2: a BDAT chunk follows its command whatever the reply, so its bytes reach
// upstream even without a MAIL. That is recorded, with no MAIL (mail_sent false), so the
// admin sees what crossed; upstream's refusal is its reply.
TEST(FactsRecipients, BdatWithoutMailCarriesContentAndIsRecordedWithoutMail) {
  Harness h;
  h.open();
  h.client("BDAT 5 LAST\r\nhello");
  h.server("503 5.5.1 Need mail command\r\n");
  h.recorder.session_ended();
  ASSERT_EQ(h.facts.messages.size(), 1U);
  const auto& m = h.facts.messages[0];
  EXPECT_FALSE(m.mail_sent);
  EXPECT_EQ(m.transfer, "BDAT");
  EXPECT_EQ(m.size, 5U);
  EXPECT_EQ(m.sha256, sha256_of("hello"));
  ASSERT_TRUE(m.reply);
  EXPECT_EQ(m.reply->code, 503);
}

// An upstream that answers DATA without MAIL with 354 takes content: that is recorded, even an
// empty one (the 354 alone decides), without a MAIL.
TEST(FactsRecipients, DataWithoutMailThatUpstreamTookIsRecordedWithoutMail) {
  Harness h;
  h.open();
  h.client("DATA\r\n");
  h.server("354 Start mail input\r\n");
  h.client(".\r\n");
  h.server("250 2.6.0 Queued\r\n");
  h.recorder.session_ended();
  ASSERT_EQ(h.facts.messages.size(), 1U);
  EXPECT_FALSE(h.facts.messages[0].mail_sent);
  EXPECT_EQ(h.facts.messages[0].size, 0U);
  ASSERT_TRUE(h.facts.messages[0].reply);
  EXPECT_EQ(h.facts.messages[0].reply->code, 250);
}

// An empty BDAT LAST without MAIL carries nothing: refused, it is no message.
TEST(FactsRecipients, EmptyBdatWithoutMailRefusedIsNotAMessage) {
  Harness h;
  h.open();
  h.client("BDAT 0 LAST\r\n");
  h.server("503 5.5.1 Need mail command\r\n");
  h.recorder.session_ended();
  EXPECT_TRUE(h.facts.messages.empty());
  EXPECT_TRUE(h.facts.anomalies.empty());
}

// A DATA without MAIL whose reply never came sent no content either: no message, and no
// message_incomplete about it.
TEST(FactsRecipients, UnansweredDataWithoutMailIsNotAMessage) {
  Harness h;
  h.open();
  h.client("DATA\r\n");
  h.recorder.session_ended();
  EXPECT_TRUE(h.facts.messages.empty());
  EXPECT_TRUE(h.facts.anomalies.empty());
}

// A MAIL refused is still a transaction the sender started: with its pipelined DATA it stays
// a message (as before), the recipients refused with it.
TEST(FactsRecipients, RefusedMailWithPipelinedDataStaysAMessage) {
  Harness h;
  h.open();
  h.client("MAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<b@contoso.com>\r\nDATA\r\n");
  h.server(
      "550 5.7.1 Client does not have permissions to send as this sender\r\n"
      "503 5.5.2 Need mail command\r\n503 5.5.2 Need mail command\r\n");
  h.recorder.session_ended();
  ASSERT_EQ(h.facts.messages.size(), 1U);
  const auto& m = h.facts.messages[0];
  EXPECT_TRUE(m.mail_sent);
  EXPECT_EQ(m.mail_from, "a@fabrikam.com");
  expect_refused(m, {{"b@contoso.com", std::vector<std::string>{"503 5.5.2 Need mail command"}}});
  ASSERT_TRUE(m.reply);
  EXPECT_EQ(m.reply->code, 503);
}

}  // namespace
}  // namespace hopscope

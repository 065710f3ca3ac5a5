// FactsRecorder without sockets: codec events in, SessionFacts and deadlines out.

#include "proxy/facts_recorder.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/sha256.hpp"
#include "proxy/smtp/conversation.hpp"
#include "proxy/smtp/ehlo.hpp"
#include "proxy/smtp/reply_parser.hpp"

namespace hopscope {
namespace {

using namespace std::chrono_literals;
using Clock = FactsRecorder::Clock;

config::Timeouts short_timeouts() {
  config::Timeouts t;
  t.greeting = 50s;
  t.command = 10s;
  t.data_block = 3s;
  t.data_end = 100s;
  t.tls_idle = 200s;
  return t;
}

// Feeds a session through the real codec into the recorder, at a chosen time per feed.
struct Harness {
  explicit Harness(smtp::Limits limits = {}) : conversation(limits) {}

  SessionFacts facts;
  Clock::time_point start = Clock::now();
  FactsRecorder recorder{facts, short_timeouts(), start, 5000};
  smtp::Conversation conversation;

  void client(std::string_view bytes, Clock::time_point at) {
    recorder.client_activity(at);
    conversation.feed_client(bytes);
    drain(at);
  }
  void server(std::string_view bytes, Clock::time_point at) {
    recorder.server_activity(at);
    conversation.feed_server(bytes);
    drain(at);
  }
  void drain(Clock::time_point at) {
    while (auto e = conversation.next()) {
      recorder.record(*e, at);
    }
  }
};

// end.detail and the timeout 421 name what is awaited; an empty line has no verb to name.
TEST(FactsRecorder, ReplyToACommandWithoutAVerbIsNamed) {
  EXPECT_EQ(FactsRecorder::reply_to(smtp::parse_command("MAIL FROM:<a@b>")), "the reply to MAIL");
  EXPECT_EQ(FactsRecorder::reply_to(smtp::parse_command("")), "the reply to an empty command line");
  EXPECT_EQ(FactsRecorder::reply_to(smtp::sasl_response("c2VjcmV0")),
            "the reply to the AUTH response");
  // A SASL response taken for a command (redacted by the codec): its verb is the secret.
  auto redacted = smtp::parse_command("cGFzc3dvcmQ=");
  redacted.redact();
  EXPECT_EQ(FactsRecorder::reply_to(redacted), "the reply to the AUTH response");
  EXPECT_EQ(FactsRecorder::reply_to(smtp::parse_command("AUTH PLAIN c2VjcmV0")),
            "the reply to AUTH");
}

TEST(FactsRecorder, DeadlineFollowsTheSessionState) {
  Harness h;
  const auto t0 = h.start;
  EXPECT_EQ(h.recorder.deadline(), t0 + 50s);  // awaiting the greeting
  h.server("220 mx ESMTP\r\n", t0 + 1s);
  EXPECT_EQ(h.recorder.deadline(), t0 + 1s + 10s);  // the sender owes a command
  h.client("EHLO a\r\n", t0 + 2s);
  EXPECT_EQ(h.recorder.deadline(), t0 + 2s + 10s);  // upstream owes the EHLO reply
  h.server("250 mx\r\n", t0 + 3s);
  h.client("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", t0 + 4s);
  h.server("250 ok\r\n250 ok\r\n354 go\r\n", t0 + 5s);
  h.client("Subject: x\r\n\r\nbody\r\n", t0 + 6s);
  EXPECT_EQ(h.recorder.deadline(), t0 + 6s + 3s);  // data block
  h.client(".\r\n", t0 + 7s);
  EXPECT_EQ(h.recorder.deadline(), t0 + 7s + 100s);  // the reply after the final dot
  EXPECT_TRUE(h.recorder.reply_due());
  h.server("250 queued\r\n", t0 + 60s);
  EXPECT_FALSE(h.recorder.reply_due());
  EXPECT_EQ(h.recorder.deadline(), t0 + 60s + 10s);
}

// RFC 3030 §2: the reply to BDAT is due once its chunk is in. While the chunk streams in,
// each read gives data_block more, as within DATA (never less than the reply's own limit
// from the command); a large chunk over a slow link is not cut at the command limit.
TEST(FactsRecorder, BdatChunkStreamingIsPacedByReadsAndItsReplyByTheLastByte) {
  Harness h;
  const auto t0 = h.start;
  h.server("220 mx ESMTP\r\n", t0);
  h.client("EHLO a\r\n", t0);
  h.server("250 mx\r\n", t0);
  h.client("MAIL FROM:<a@b>\r\n", t0);
  h.server("250 ok\r\n", t0);
  h.client("RCPT TO:<c@d>\r\n", t0);
  h.server("250 ok\r\n", t0);
  h.client("BDAT 1000\r\n", t0);
  for (int i = 1; i <= 10; ++i) {
    EXPECT_EQ(h.recorder.waiting_for(), "the rest of the BDAT chunk from the sender");
    const auto at = t0 + std::chrono::seconds(2 * i);  // 20 s in all: twice the command limit
    h.client(std::string(100, 'x'), at);
    if (i < 10) {
      EXPECT_EQ(h.recorder.deadline(), std::max(at + 3s, t0 + 10s)) << i;
    }
  }
  EXPECT_EQ(h.recorder.deadline(), t0 + 20s + 10s);  // command limit from the last byte
  EXPECT_EQ(h.recorder.waiting_for(), "the reply to BDAT from upstream");
  h.server("250 2.0.0 chunk ok\r\n", t0 + 21s);
  h.client("BDAT 0 LAST\r\n", t0 + 22s);
  EXPECT_EQ(h.recorder.deadline(), t0 + 22s + 100s);  // nothing to wait for: data_end
  h.server("250 2.0.0 queued\r\n", t0 + 23s);
  ASSERT_EQ(h.facts.messages.size(), 1U);
  EXPECT_EQ(h.facts.messages[0].size, 1000U);
  EXPECT_FALSE(h.recorder.reply_due());
}

TEST(FactsRecorder, TricklingBytesDoNotMoveTheCommandDeadline) {
  Harness h;
  const auto t0 = h.start;
  h.server("220 mx ESMTP\r\n", t0);
  const std::string ehlo = "EHLO slow.example\r";
  for (std::size_t i = 0; i < ehlo.size(); ++i) {
    h.client(ehlo.substr(i, 1), t0 + std::chrono::seconds(i));
  }
  EXPECT_EQ(h.recorder.deadline(), t0 + 10s);  // from the greeting, not from the last byte
}

TEST(FactsRecorder, MessageFactsCoverTheContentAsDelivered) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx ESMTP\r\n", t);
  h.client("EHLO a\r\n", t);
  h.server("250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n", t);
  h.client("MAIL FROM:<a@example.test>\r\nRCPT TO:<u@contoso.test>\r\nDATA\r\n", t);
  h.server("250 ok\r\n250 ok\r\n354 go\r\n", t);
  h.client("Subject: x\r\n\r\n..stuffed\r\n.\r\n", t);
  h.server("250 2.6.0 queued\r\n", t);
  h.client("QUIT\r\n", t);
  h.server("221 bye\r\n", t);
  ASSERT_EQ(h.facts.messages.size(), 1U);
  const auto& m = h.facts.messages[0];
  EXPECT_EQ(m.mail_from, "a@example.test");
  EXPECT_EQ(m.rcpt_to, std::vector<std::string>{"u@contoso.test"});
  EXPECT_EQ(m.size, std::string("Subject: x\r\n\r\n.stuffed\r\n").size());
  // printf 'Subject: x\r\n\r\n.stuffed\r\n' | sha256sum  (the unstuffed content)
  EXPECT_EQ(m.sha256, "1b08cd8cf72450dd5431e92c371360de683cc88a5436449170cad5f2f4d4c388");
  ASSERT_TRUE(m.reply.has_value());
  EXPECT_EQ(m.reply->code, 250);
  EXPECT_TRUE(h.facts.upstream.starttls.offered);
  EXPECT_TRUE(h.facts.downstream.starttls.offered);
  EXPECT_EQ(h.facts.upstream.capabilities, (std::vector<std::string>{"PIPELINING", "STARTTLS"}));
  EXPECT_TRUE(h.recorder.quit_acknowledged());
  EXPECT_EQ(h.facts.upstream.banner->lines.at(0), "220 mx ESMTP");
}

// The recorder reads the first EHLO reply without building smtp::Capabilities: what it
// records must be what that set says (lines(), has("STARTTLS")), odd lines included.
TEST(FactsRecorder, CapabilitiesAreWhatTheEhloSetSays) {
  const std::vector<std::string> replies{
      std::string("250-mx.example.test Hello\r\n250-PIPELINING\r\n250-SIZE 37748736\r\n") +
          "250-AUTH=LOGIN PLAIN\r\n250-starttls\r\n250-\tX-TAB\r\n250 \r\n",
      "250-mx\r\n250-XXXXXXXA\r\n250-=\r\n250 8BITMIME\r\n",
      "250-mx\r\n250-STARTTLS\t\r\n250 CHUNKING\r\n",
      "250 mx only a greeting\r\n",
      "500 5.5.1 EHLO not understood\r\n",
      "250-mx\r\n250-SIZE\r\n250 DSN\r\n",
  };
  for (const auto& reply_bytes : replies) {
    SCOPED_TRACE(reply_bytes);
    Harness h;
    const auto t = h.start;
    h.server("220 mx ESMTP\r\n", t);
    h.client("EHLO a\r\n", t);
    h.server(reply_bytes, t);
    smtp::ReplyParser parser(1000, 1000, 1 << 20);
    parser.feed(reply_bytes);
    const auto event = parser.next();
    ASSERT_TRUE(event.has_value());
    const auto* reply = std::get_if<smtp::Reply>(&*event);
    ASSERT_NE(reply, nullptr);
    const auto caps = smtp::Capabilities::from_reply(*reply);
    EXPECT_EQ(h.facts.upstream.capabilities, caps ? caps->lines() : std::vector<std::string>{});
    EXPECT_EQ(h.facts.upstream.starttls.offered, caps && caps->has("STARTTLS"));
    EXPECT_EQ(h.facts.downstream.starttls.offered, h.facts.upstream.starttls.offered);
    ASSERT_TRUE(h.facts.upstream.ehlo_reply.has_value());
    EXPECT_EQ(h.facts.upstream.ehlo_reply->lines, reply->lines);
  }
}

// What is awaited is named the same way by reply_to, waiting_for and the transcript keeps
// every line verbatim, whichever way the recorder stores them.
TEST(FactsRecorder, WaitingForNamesTheCommandAndTheTranscriptIsVerbatim) {
  Harness h;
  const auto t = h.start;
  EXPECT_EQ(h.recorder.waiting_for(), "the greeting from upstream");
  h.server("220 mx ESMTP\r\n", t);
  h.client("MAIL FROM:<a-rather-long-address@example.test> SIZE=1024\r\n", t);
  EXPECT_EQ(h.recorder.waiting_for(), "the reply to MAIL from upstream");
  h.server("250 2.1.0 Ok\r\n", t);
  h.client("\r\n", t);
  EXPECT_EQ(h.recorder.waiting_for(), "the reply to an empty command line from upstream");
  h.server("500 5.5.2 Error: bad syntax\r\n", t);
  h.client("XVERYLONGUNKNOWNVERB argument\r\n", t);
  EXPECT_EQ(h.recorder.waiting_for(), "the reply to XVERYLONGUNKNOWNVERB from upstream");
  h.server("502 5.5.2 Error: command not recognized\r\n", t);
  const std::vector<std::pair<std::string, std::string>> expected{
      {"s>c", "220 mx ESMTP"},
      {"c>s", "MAIL FROM:<a-rather-long-address@example.test> SIZE=1024"},
      {"s>c", "250 2.1.0 Ok"},
      {"c>s", ""},
      {"s>c", "500 5.5.2 Error: bad syntax"},
      {"c>s", "XVERYLONGUNKNOWNVERB argument"},
      {"s>c", "502 5.5.2 Error: command not recognized"},
  };
  ASSERT_EQ(h.facts.transcript.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(h.facts.transcript[i].dir, expected[i].first);
    EXPECT_EQ(h.facts.transcript[i].line, expected[i].second);
    EXPECT_FALSE(h.facts.transcript[i].data_bytes.has_value());
  }
}

TEST(FactsRecorder, TranscriptIsBoundedAndCountsWhatItDropped) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx ESMTP\r\n", t);
  for (int i = 0; i < 6000; ++i) {
    h.client("NOOP\r\n", t);
    h.server("250 ok\r\n", t);
  }
  EXPECT_EQ(h.facts.transcript.size(), 5000U);
  EXPECT_EQ(h.facts.transcript_dropped, 1U + 2U * 6000U - 5000U);
}

TEST(FactsRecorder, RecipientsPerMessageAreCapped) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx ESMTP\r\n", t);
  h.client("MAIL FROM:<a@b>\r\n", t);
  h.server("250 ok\r\n", t);
  for (int i = 0; i < 1001; ++i) {
    h.client("RCPT TO:<r" + std::to_string(i) + "@d>\r\n", t);
    h.server("250 ok\r\n", t);
  }
  ASSERT_EQ(h.facts.messages.size(), 1U);
  EXPECT_EQ(h.facts.messages[0].rcpt_to.size(), 1000U);
  ASSERT_FALSE(h.facts.anomalies.empty());
  EXPECT_EQ(h.facts.anomalies.back().kind, "recipients_capped");
}

// 6000 pipelined EHLO lines of 60000 bytes once held 360 MB in one session's facts.
TEST(FactsRecorder, HeloLinesAddressesAndRepliesShareOneBoundedBudget) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx ESMTP\r\n", t);
  const std::string name(60000, 'a');
  for (int i = 0; i < 40; ++i) {
    h.client("EHLO " + name + "\r\n", t);
    h.server("250 mx\r\n", t);
  }
  std::size_t kept = 0;
  for (const auto& line : h.facts.downstream.helo_commands) {
    kept += line.size();
  }
  EXPECT_LE(kept, std::size_t{1} << 20);
  EXPECT_GE(h.facts.downstream.helo_commands.size(), 16U);  // the budget is not stingy
  EXPECT_LT(h.facts.downstream.helo_commands.size(), 40U);
  // Then long addresses and reply lines no longer fit either; the reply code is kept.
  h.client("MAIL FROM:<" + name + "@d>\r\n", t);
  h.server("250 ok\r\n", t);
  h.client("RCPT TO:<" + name + "@d>\r\n", t);
  h.server("250 ok\r\n", t);
  h.client("DATA\r\n", t);
  h.server("354 go\r\n", t);
  h.client("hi\r\n.\r\n", t);
  h.server("250 2.0.0 queued " + name + "\r\n", t);
  ASSERT_EQ(h.facts.messages.size(), 1U);
  const auto& m = h.facts.messages[0];
  EXPECT_TRUE(m.mail_from.empty());
  EXPECT_TRUE(m.rcpt_to.empty());
  ASSERT_TRUE(m.reply.has_value());
  EXPECT_EQ(m.reply->code, 250);
  EXPECT_TRUE(m.reply->lines.empty());
  const auto capped = std::count_if(h.facts.anomalies.begin(), h.facts.anomalies.end(),
                                    [](const auto& a) { return a.kind == "envelope_capped"; });
  EXPECT_EQ(capped, 1);  // said once
}

std::string sha256_of(std::string_view bytes) {
  Sha256 hash;
  hash.update(bytes);
  return hash.finish();
}

// A RSET or the next MAIL may be pipelined behind the final dot (RFC 2920 §3.1): the final
// reply still belongs to the message it ends.
TEST(FactsRecorder, FinalReplyStaysOnItsMessageWhenRsetFollowsTheDot) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", t);
  h.server("250 ok\r\n250 ok\r\n354 go\r\n", t);
  h.client("one\r\n.\r\nRSET\r\n", t);
  h.server("550 5.7.1 rejected by content filter\r\n250 reset\r\n", t);
  ASSERT_EQ(h.facts.messages.size(), 1U);
  ASSERT_TRUE(h.facts.messages[0].reply);
  EXPECT_EQ(h.facts.messages[0].reply->code, 550);
}

TEST(FactsRecorder, PipelinedMessagesKeepTheirOwnFinalReplies) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client(
      "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 3 LAST\r\nabc"
      "MAIL FROM:<c@x>\r\nRCPT TO:<d@x>\r\nBDAT 3 LAST\r\ndef",
      t);
  h.server("250 ok\r\n250 ok\r\n250 queued 1\r\n250 ok\r\n250 ok\r\n250 queued 2\r\n", t);
  h.client("MAIL FROM:<e@x>\r\nRCPT TO:<f@x>\r\nDATA\r\n", t);
  h.server("250 ok\r\n250 ok\r\n354 go\r\n", t);
  h.client("one\r\n.\r\nMAIL FROM:<g@x>\r\nRCPT TO:<h@x>\r\nDATA\r\n", t);
  h.server("250 queued 3\r\n250 ok\r\n250 ok\r\n354 go\r\n", t);
  h.client("two\r\n.\r\n", t);
  h.server("250 queued 4\r\n", t);
  ASSERT_EQ(h.facts.messages.size(), 4U);
  const std::vector<std::string> contents{"abc", "def", "one\r\n", "two\r\n"};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& m = h.facts.messages[i];
    ASSERT_TRUE(m.reply) << i;
    ASSERT_EQ(m.reply->lines.size(), 1U) << i;
    EXPECT_EQ(m.reply->lines[0], "250 queued " + std::to_string(i + 1));
    EXPECT_EQ(m.size, contents[i].size()) << i;
    EXPECT_EQ(m.sha256, sha256_of(contents[i])) << i;
  }
}

// RFC 3030 §2: a refused chunk fails the transaction. Its reply is the message's answer, and
// its bytes are not part of the next message.
TEST(FactsRecorder, AbandonedBdatChunkIsNotPartOfTheNextMessage) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 5\r\nhello", t);
  h.server("250 ok\r\n250 ok\r\n552 5.3.4 Message size exceeds fixed maximum message size\r\n", t);
  h.client("RSET\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 3 LAST\r\nabc", t);
  h.server("250 reset\r\n250 ok\r\n250 ok\r\n250 queued\r\n", t);
  ASSERT_EQ(h.facts.messages.size(), 2U);
  ASSERT_TRUE(h.facts.messages[0].reply);
  EXPECT_EQ(h.facts.messages[0].reply->code, 552);
  EXPECT_EQ(h.facts.messages[1].size, 3U);
  EXPECT_EQ(h.facts.messages[1].sha256, sha256_of("abc"));
  ASSERT_TRUE(h.facts.messages[1].reply);
  EXPECT_EQ(h.facts.messages[1].reply->code, 250);
}

// Each final reply is charged once to the envelope budget: ten 60 kB replies fit in 1 MiB.
TEST(FactsRecorder, FinalReplyIsChargedOnceToTheEnvelopeBudget) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  const std::string reply = "250 " + std::string(60000, 'q') + "\r\n";
  for (int i = 0; i < 10; ++i) {
    h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", t);
    h.server("250 ok\r\n250 ok\r\n354 go\r\n", t);
    h.client("x\r\n.\r\n", t);
    h.server(reply, t);
  }
  ASSERT_EQ(h.facts.messages.size(), 10U);
  for (const auto& m : h.facts.messages) {
    ASSERT_TRUE(m.reply);
    EXPECT_EQ(m.reply->lines.size(), 1U);
  }
  EXPECT_TRUE(std::none_of(h.facts.anomalies.begin(), h.facts.anomalies.end(),
                           [](const AnomalyFacts& a) { return a.kind == "envelope_capped"; }));
}

// Exchange's XEXCH50 blob before DATA is neither message content nor commands.
TEST(FactsRecorder, Xexch50BlobBeforeDataLeavesTheMessageIntact) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n", t);
  h.server("250 ok\r\n250 ok\r\n", t);
  h.client("XEXCH50 8 2\r\n", t);
  h.server("354 Send binary data\r\n", t);
  h.client(std::string("\x01\x02\r\n.\r\n\x08", 8), t);
  EXPECT_EQ(h.recorder.waiting_for(), "the reply after the XEXCH50 blob from upstream");
  h.server("250 XEXCH50 OK\r\n", t);
  h.client("DATA\r\n", t);
  h.server("354 go\r\n", t);
  h.client("body\r\n.\r\n", t);
  h.server("250 2.6.0 queued\r\n", t);
  EXPECT_FALSE(h.recorder.reply_due());
  ASSERT_EQ(h.facts.messages.size(), 1U);
  EXPECT_EQ(h.facts.messages[0].sha256, sha256_of("body\r\n"));
  ASSERT_TRUE(h.facts.messages[0].reply);
  EXPECT_EQ(h.facts.messages[0].reply->code, 250);
}

// An address probe (MAIL, RCPT, RSET) or a transaction whose recipients were all refused
// sends no message: it stays in the transcript, not in messages.
TEST(FactsRecorder, TransactionWithoutDataIsNotAMessage) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRSET\r\n", t);
  h.server("250 ok\r\n550 5.1.10 RESOLVER.ADR.RecipientNotFound\r\n250 ok\r\n", t);
  EXPECT_TRUE(h.facts.messages.empty());
  h.client("MAIL FROM:<c@x>\r\nRCPT TO:<d@x>\r\nDATA\r\n", t);
  h.server("250 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 No valid recipients\r\n", t);
  h.client("MAIL FROM:<e@x>\r\nRCPT TO:<f@x>\r\nQUIT\r\n", t);
  h.server("250 ok\r\n250 ok\r\n221 bye\r\n", t);
  ASSERT_EQ(h.facts.messages.size(), 1U);  // the refused DATA: a message that was tried
  EXPECT_EQ(h.facts.messages[0].mail_from, "c@x");
  ASSERT_TRUE(h.facts.messages[0].reply);
  EXPECT_EQ(h.facts.messages[0].reply->code, 554);
}

// Content the codec could not hold (more than max_pending_bytes before the 354) makes the
// message incomplete: no SHA-256 is claimed for the part that was seen.
TEST(FactsRecorder, IncompleteMessageHasNoSha256) {
  smtp::Limits limits;
  limits.max_pending_bytes = 16;
  Harness h(limits);
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", t);
  h.client("0123456789abcdef0123456789\r\n.\r\n", t);  // before the 354: 16 bytes kept
  h.server("250 ok\r\n250 ok\r\n354 go\r\n", t);
  h.client("\r\n.\r\n", t);
  h.server("250 queued\r\n", t);
  ASSERT_EQ(h.facts.messages.size(), 1U);
  EXPECT_TRUE(h.facts.messages[0].sha256.empty());
  EXPECT_TRUE(std::any_of(h.facts.anomalies.begin(), h.facts.anomalies.end(),
                          [](const AnomalyFacts& a) { return a.kind == "message_incomplete"; }));
}

// While the XEXCH50 blob arrives, the sender owes bytes: its reads set the pace (data_block),
// as within DATA. Only the blob's last byte hands the turn to upstream.
TEST(FactsRecorder, Xexch50BlobInTransitIsTheSendersTurn) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n", t);
  h.server("250 ok\r\n250 ok\r\n", t);
  h.client("XEXCH50 1000 2\r\n", t);
  h.server("354 Send binary data\r\n", t + 1s);
  h.client(std::string(10, 'x'), t + 2s);
  EXPECT_EQ(h.recorder.waiting_for(), "the rest of the XEXCH50 blob from the sender");
  EXPECT_EQ(h.recorder.deadline(), t + 2s + 3s);  // data_block after the last read
  h.client(std::string(990, 'x'), t + 4s);
  EXPECT_EQ(h.recorder.waiting_for(), "the reply after the XEXCH50 blob from upstream");
  EXPECT_EQ(h.recorder.deadline(), t + 4s + 10s);  // command, from the blob's last byte
}

// More than max_pending_bytes of blob before the 354: the bytes beyond are not parsed, but
// they are counted against the blob, so the commands after it are still commands.
TEST(FactsRecorder, Xexch50BlobPartlyDroppedBeforeThe354StillEnds) {
  smtp::Limits limits;
  limits.max_pending_bytes = 64;
  Harness h(limits);
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n", t);
  h.server("250 ok\r\n250 ok\r\n", t);
  h.client("XEXCH50 100 2\r\n", t);
  h.client(std::string(100, 'b'), t);  // before the 354: 36 bytes beyond the hold
  h.server("354 Send binary data\r\n250 XEXCH50 OK\r\n", t);
  h.client("DATA\r\n", t);
  h.server("354 go\r\n", t);
  h.client("body\r\n.\r\n", t);
  h.server("250 queued\r\n", t);
  h.client("QUIT\r\n", t);
  h.server("221 bye\r\n", t);
  ASSERT_EQ(h.facts.messages.size(), 1U);
  EXPECT_EQ(h.facts.messages[0].size, 6U);
  ASSERT_TRUE(h.facts.messages[0].reply);
  EXPECT_EQ(h.facts.messages[0].reply->code, 250);
  EXPECT_TRUE(h.recorder.quit_acknowledged());
}

// Commands nobody answers are awaited up to the codec's own pipelining bound, not beyond:
// what the recorder holds for them does not grow with the number sent.
TEST(FactsRecorder, UnansweredCommandsAreAwaitedUpToABound) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  std::string block;
  for (int i = 0; i < 5000; ++i) {
    block += "NOOP\r\n";
  }
  h.client(block, t);
  h.server("250 ok\r\n", t);  // answers the first NOOP
  EXPECT_TRUE(h.recorder.reply_due());
  // Everything the recorder awaited is answered after at most the bound of replies.
  std::string replies;
  for (std::size_t i = 0; i < smtp::Limits{}.max_pipelined_commands + 1; ++i) {
    replies += "250 ok\r\n";
  }
  h.server(replies, t);
  EXPECT_FALSE(h.recorder.reply_due());
}

std::vector<const AnomalyFacts*> anomalies_of(const SessionFacts& facts, std::string_view kind) {
  std::vector<const AnomalyFacts*> found;
  for (const auto& a : facts.anomalies) {
    if (a.kind == kind) {
      found.push_back(&a);
    }
  }
  return found;
}

// The one message was cut off after `bytes` of content, before `end` ("final dot" or
// "BDAT LAST"): the size seen, no SHA-256, no reply, one message_incomplete saying so.
void expect_cut_off(const SessionFacts& facts, std::size_t bytes, std::string_view end) {
  ASSERT_EQ(facts.messages.size(), 1U);
  const auto& m = facts.messages[0];
  EXPECT_EQ(m.size, bytes);
  EXPECT_TRUE(m.sha256.empty());
  EXPECT_FALSE(m.reply.has_value());
  const auto incomplete = anomalies_of(facts, "message_incomplete");
  ASSERT_EQ(incomplete.size(), 1U);
  EXPECT_EQ(incomplete[0]->dir, "c>s");
  const auto& detail = incomplete[0]->detail;
  EXPECT_NE(detail.find("after " + std::to_string(bytes) + " bytes of content"), std::string::npos)
      << detail;
  EXPECT_NE(detail.find(end), std::string::npos) << detail;
  EXPECT_TRUE(anomalies_of(facts, "final_reply_missing").empty());
}

// The session ends (drain, timeout, upstream or sender gone) in the middle of DATA: the
// message is not an empty one. Its size is the content seen, no SHA-256 is claimed for it,
// and an anomaly says why. Saying the session ended twice says it once.
TEST(FactsRecorder, DataCutOffBeforeTheFinalDotKeepsTheSizeSeenAndSaysSo) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", t);
  h.server("250 ok\r\n250 ok\r\n354 go\r\n", t);
  const std::string sent = "Subject: cut\r\n\r\n..stuffed line\r\nand then the li";
  const std::string content = "Subject: cut\r\n\r\n.stuffed line\r\nand then the li";
  ASSERT_EQ(content.size(), 46U);
  h.client(sent, t);
  h.recorder.session_ended();
  h.recorder.session_ended();
  expect_cut_off(h.facts, content.size(), "final dot");
}

// The 354 came but no content: still a message cut off, of 0 bytes seen.
TEST(FactsRecorder, DataCutOffBeforeAnyContentIsIncompleteToo) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", t);
  h.server("250 ok\r\n250 ok\r\n354 go\r\n", t);
  h.recorder.session_ended();
  expect_cut_off(h.facts, 0, "final dot");
}

// RFC 3030 §2: a BDAT message ends with the BDAT LAST chunk. Chunks seen without it, then the
// end of the session, make an incomplete message of the bytes seen (chunks joined).
TEST(FactsRecorder, BdatCutOffWithoutLastKeepsTheChunksSeenAndSaysSo) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 5\r\nhello", t);
  h.server("250 ok\r\n250 ok\r\n250 2.0.0 chunk ok\r\n", t);
  h.client("BDAT 100\r\nabc", t);  // the second chunk is cut after 3 of its 100 bytes
  h.recorder.session_ended();
  expect_cut_off(h.facts, 8, "BDAT LAST");
  EXPECT_EQ(h.facts.messages[0].transfer, "BDAT");
}

// A BDAT LAST whose chunk is still arriving has not ended the message either.
TEST(FactsRecorder, BdatLastChunkCutOffIsIncompleteNotAwaitingItsReply) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 10 LAST\r\nabc", t);
  h.server("250 ok\r\n250 ok\r\n", t);
  h.recorder.session_ended();
  expect_cut_off(h.facts, 3, "BDAT LAST");
}

// The sender gives up on a BDAT message and says QUIT: the chunks it sent were no message.
TEST(FactsRecorder, BdatChunksFollowedByQuitAreAnIncompleteMessage) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 5\r\nhelloQUIT\r\n", t);
  h.server("250 ok\r\n250 ok\r\n250 chunk ok\r\n221 bye\r\n", t);
  h.recorder.session_ended();
  expect_cut_off(h.facts, 5, "BDAT LAST");
}

// A refused chunk already has its answer (the message's reply), and a RSET discards the
// partial content: neither is reported again as cut off by the end of the session.
TEST(FactsRecorder, RefusedBdatChunkIsNotReportedAgainAtTheEnd) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 5\r\nhello", t);
  h.server("250 ok\r\n250 ok\r\n552 5.3.4 too big\r\n", t);
  h.recorder.session_ended();
  ASSERT_EQ(h.facts.messages.size(), 1U);
  ASSERT_TRUE(h.facts.messages[0].reply);
  EXPECT_EQ(h.facts.messages[0].reply->code, 552);
  EXPECT_TRUE(h.facts.anomalies.empty());

  Harness r;
  r.server("220 mx\r\n", t);
  r.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 5\r\nhello", t);
  r.server("250 ok\r\n250 ok\r\n552 5.3.4 too big\r\n", t);
  r.client("RSET\r\n", t);
  r.server("250 reset\r\n", t);
  r.recorder.session_ended();
  EXPECT_TRUE(r.facts.anomalies.empty());
}

// The final dot was seen and only upstream's reply is missing: the size and SHA-256 are the
// message's, it is not incomplete; what is missing is the answer, and with it whether
// upstream took the message.
TEST(FactsRecorder, CompletedMessageWithoutItsFinalReplyIsNotIncomplete) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", t);
  h.server("250 ok\r\n250 ok\r\n354 go\r\n", t);
  h.client("body\r\n.\r\n", t);
  h.recorder.session_ended();
  ASSERT_EQ(h.facts.messages.size(), 1U);
  const auto& m = h.facts.messages[0];
  EXPECT_EQ(m.size, 6U);
  EXPECT_EQ(m.sha256, sha256_of("body\r\n"));
  EXPECT_FALSE(m.reply.has_value());
  EXPECT_TRUE(anomalies_of(h.facts, "message_incomplete").empty());
  const auto missing = anomalies_of(h.facts, "final_reply_missing");
  ASSERT_EQ(missing.size(), 1U);
  EXPECT_EQ(missing[0]->dir, "s>c");
  EXPECT_NE(missing[0]->detail.find("may or may not have accepted"), std::string::npos)
      << missing[0]->detail;
}

TEST(FactsRecorder, CompletedBdatMessageWithoutItsFinalReplyIsNotIncomplete) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 3 LAST\r\nabc", t);
  h.server("250 ok\r\n250 ok\r\n", t);
  h.recorder.session_ended();
  ASSERT_EQ(h.facts.messages.size(), 1U);
  EXPECT_EQ(h.facts.messages[0].sha256, sha256_of("abc"));
  EXPECT_TRUE(anomalies_of(h.facts, "message_incomplete").empty());
  const auto missing = anomalies_of(h.facts, "final_reply_missing");
  ASSERT_EQ(missing.size(), 1U);
  EXPECT_NE(missing[0]->detail.find("BDAT LAST"), std::string::npos) << missing[0]->detail;
}

// A sender that sends a second BDAT LAST without a new MAIL leaves two replies awaited for
// one message: the missing reply is said once for it.
TEST(FactsRecorder, MissingFinalReplyIsSaidOncePerMessage) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 3 LAST\r\nabcBDAT 2 LAST\r\nde", t);
  h.server("250 ok\r\n250 ok\r\n", t);
  h.recorder.session_ended();
  EXPECT_EQ(anomalies_of(h.facts, "final_reply_missing").size(), 1U);
}

// RFC 2920 §3.1: the next transaction pipelined behind the final dot. Each message is told
// apart: the first ended and awaits its reply, the second never got to its content.
TEST(FactsRecorder, PipelinedMessagesCutOffAreEachToldApart) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", t);
  h.server("250 ok\r\n250 ok\r\n354 go\r\n", t);
  h.client("one\r\n.\r\nMAIL FROM:<c@x>\r\nRCPT TO:<d@x>\r\nDATA\r\n", t);
  h.recorder.session_ended();
  ASSERT_EQ(h.facts.messages.size(), 2U);
  EXPECT_EQ(h.facts.messages[0].sha256, sha256_of("one\r\n"));
  EXPECT_EQ(h.facts.messages[1].size, 0U);
  EXPECT_TRUE(h.facts.messages[1].sha256.empty());
  EXPECT_EQ(anomalies_of(h.facts, "final_reply_missing").size(), 1U);
  EXPECT_EQ(anomalies_of(h.facts, "message_incomplete").size(), 1U);
}

// Messages answered, whether the session ends with QUIT or the sender just goes: nothing to
// say at the end.
TEST(FactsRecorder, AnsweredMessagesRaiseNoAnomalyAtTheEnd) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("EHLO a\r\n", t);
  h.server("250-mx\r\n250-CHUNKING\r\n250 PIPELINING\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", t);
  h.server("250 ok\r\n250 ok\r\n354 go\r\n", t);
  h.client("body\r\n.\r\n", t);
  h.server("250 2.6.0 queued\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 3\r\nabcBDAT 0 LAST\r\n", t);
  h.server("250 ok\r\n250 ok\r\n250 chunk\r\n250 queued\r\n", t);
  h.recorder.session_ended();  // the sender closed without QUIT
  ASSERT_EQ(h.facts.messages.size(), 2U);
  EXPECT_TRUE(h.facts.anomalies.empty());
  h.client("QUIT\r\n", t);
  h.server("221 bye\r\n", t);
  h.recorder.session_ended();
  EXPECT_TRUE(h.facts.anomalies.empty());
  EXPECT_EQ(h.facts.messages[1].size, 3U);
  EXPECT_EQ(h.facts.messages[1].sha256, sha256_of("abc"));
}

// Upstream drops the connection after RCPT (or the session times out, or is drained) before
// DATA was sent: the transaction sent no message, as when it ends with QUIT or RSET. The
// README: a transaction that never reached DATA or BDAT is not in `messages`.
TEST(FactsRecorder, TransactionCutOffBeforeDataIsNotAMessage) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("EHLO a\r\n", t);
  h.server("250 mx\r\n", t);
  h.client("MAIL FROM:<s@example.org>\r\n", t);
  h.server("250 ok\r\n", t);
  h.client("RCPT TO:<a@contoso.com>\r\n", t);  // upstream closes without a reply
  ASSERT_EQ(h.facts.messages.size(), 1U);      // the open transaction, until the end
  h.recorder.session_ended();
  EXPECT_TRUE(h.facts.messages.empty());
  EXPECT_TRUE(h.facts.anomalies.empty());
  EXPECT_EQ(h.facts.transcript.back().line, "RCPT TO:<a@contoso.com>");  // still in the transcript
}

// Only the open transaction goes: the messages before it stay, and so does a pipelined
// transaction whose DATA was sent (that one was cut off, and says so).
TEST(FactsRecorder, SessionEndDropsOnlyTheTransactionThatNeverReachedData) {
  Harness h;
  const auto t = h.start;
  h.server("220 mx\r\n", t);
  h.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", t);
  h.server("250 ok\r\n250 ok\r\n354 go\r\n", t);
  h.client("one\r\n.\r\n", t);
  h.server("250 queued\r\n", t);
  h.client("MAIL FROM:<c@x>\r\nRCPT TO:<d@x>\r\n", t);
  h.server("250 ok\r\n", t);
  h.recorder.session_ended();
  ASSERT_EQ(h.facts.messages.size(), 1U);
  EXPECT_EQ(h.facts.messages[0].mail_from, "a@x");
  EXPECT_TRUE(h.facts.anomalies.empty());

  Harness g;
  g.server("220 mx\r\n", t);
  g.client("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", t);
  g.server("250 ok\r\n250 ok\r\n", t);  // DATA sent, its reply never came
  g.recorder.session_ended();
  expect_cut_off(g.facts, 0, "final dot");
}

// An EHLO reply longer than the codec keeps (its first max_reply_lines lines): STARTTLS on a
// line past the cap is still an offer, on both legs (passthrough relays it verbatim). Without
// it on any line, the offer is known to be absent. The acceptance repro: 200,000 lines, then
// "250 STARTTLS".
TEST(FactsRecorder, StartTlsPastTheReplyLineCapIsStillOffered) {
  for (const bool offered : {true, false}) {
    smtp::Limits limits;
    limits.max_reply_lines = 10;
    Harness h(limits);
    const auto t = h.start;
    h.server("220 mx\r\n", t);
    h.client("EHLO a\r\n", t);
    std::string reply = "250-mx\r\n";
    for (int i = 0; i < 50; ++i) {
      reply += "250-X-CAP-" + std::to_string(i) + " filler\r\n";
    }
    reply += offered ? "250 STARTTLS\r\n" : "250 X-LAST\r\n";
    h.server(reply, t);
    ASSERT_TRUE(h.facts.upstream.ehlo_reply.has_value());
    EXPECT_EQ(h.facts.upstream.ehlo_reply->lines.size(), 10U);
    EXPECT_EQ(anomalies_of(h.facts, "reply_too_long").size(), 1U);
    EXPECT_EQ(h.facts.upstream.starttls.offered, offered);
    EXPECT_EQ(h.facts.downstream.starttls.offered, offered);
  }
}

}  // namespace
}  // namespace hopscope
